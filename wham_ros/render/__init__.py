"""Pictures of the humans (ROS-free, OpenCV/numpy rasterisation): camera overlay and world view."""
