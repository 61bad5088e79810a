"""ViTPose-H 2D keypoints (COCO-17): model, official-checkpoint loader, WHAM's decode, runners.

ONNX Runtime runner: :class:`wham_ros.vitpose.onnx_backend.VitPoseOnnx`.
"""
from wham_ros.vitpose.decode import keypoints_from_heatmaps, merge_flipped_heatmaps
from wham_ros.vitpose.estimator import VitPoseEstimator, VitPoseTorch
from wham_ros.vitpose.keypoints import COCO17_FLIP_INDEX, COCO17_NAMES
from wham_ros.vitpose.model import ViTPose, load_vitpose

__all__ = ["ViTPose", "load_vitpose", "keypoints_from_heatmaps", "merge_flipped_heatmaps",
           "VitPoseEstimator", "VitPoseTorch", "COCO17_NAMES", "COCO17_FLIP_INDEX"]
