"""Per-track data and animation export (ROS-free): ``track_<id>.npz`` and ``track_<id>.bvh``."""
