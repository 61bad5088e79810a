"""COCO-17 keypoint names and the left/right flip map used by ViTPose's flip test."""
from typing import List

from wham_ros.body.joint_names import COCO_JOINT_NAMES as COCO17_NAMES


def _mirror(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[len("left_"):]
    if name.startswith("right_"):
        return "left_" + name[len("right_"):]
    return name


#: Channel ``i`` of a horizontally flipped image's heatmaps holds joint ``COCO17_FLIP_INDEX[i]``
#: (mmpose ``flip_pairs`` (1,2), (3,4), ..., (15,16)).
COCO17_FLIP_INDEX: List[int] = [COCO17_NAMES.index(_mirror(n)) for n in COCO17_NAMES]
