"""rosbag2 reading and writing without a ROS installation (via ``rosbags``)."""
