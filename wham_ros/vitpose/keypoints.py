"""COCO-17 keypoint names and the left/right flip map used by ViTPose's flip test."""
from typing import List, Tuple

COCO17_NAMES: Tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)


def _mirror(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[len("left_"):]
    if name.startswith("right_"):
        return "left_" + name[len("right_"):]
    return name


#: Channel ``i`` of a horizontally flipped image's heatmaps holds joint ``COCO17_FLIP_INDEX[i]``
#: (mmpose ``flip_pairs`` (1,2), (3,4), ..., (15,16)).
COCO17_FLIP_INDEX: List[int] = [COCO17_NAMES.index(_mirror(n)) for n in COCO17_NAMES]
