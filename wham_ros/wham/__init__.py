"""WHAM network, checkpoint loading and the streaming engine (ROS-free)."""
from wham_ros.wham.checkpoint import CheckpointError, load_network
from wham_ros.wham.network import WHAMNetwork, WHAMState
from wham_ros.wham.streaming import FlippedFrame, StreamingWHAM, WHAMFrame, outputs_to_host
from wham_ros.wham.track_init import make_track_init

__all__ = ["CheckpointError", "load_network", "WHAMNetwork", "WHAMState", "StreamingWHAM",
           "WHAMFrame", "FlippedFrame", "make_track_init", "outputs_to_host"]
