"""RGB-D: depth images aligned to the colour camera, paired by stamp, turned into per-person
body depths that place WHAM's people where the depth camera sees them (no ROS)."""
