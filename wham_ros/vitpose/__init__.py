"""ViTPose-H 2D keypoints (COCO-17): model, official-checkpoint loader and WHAM's decode."""
from wham_ros.vitpose.decode import keypoints_from_heatmaps, merge_flipped_heatmaps
from wham_ros.vitpose.keypoints import COCO17_FLIP_INDEX, COCO17_NAMES
from wham_ros.vitpose.model import ViTPose, load_vitpose

__all__ = ["ViTPose", "load_vitpose", "keypoints_from_heatmaps", "merge_flipped_heatmaps",
           "COCO17_NAMES", "COCO17_FLIP_INDEX"]
