"""The offline runner (``wham-ros run``): a rosbag2 or a video through the pipeline into an
MCAP bag with the node's messages; no ROS installation needed."""
