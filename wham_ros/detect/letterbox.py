"""Letterbox pre-processing for YOLO-family detectors and its inverse on boxes.

The image is resized keeping its aspect ratio so it fits the network input, centred, and
padded with grey 114 (the value YOLOv8/YOLOX were trained with). The network tensor is
RGB, NCHW, float32 in [0, 1].
"""
from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """Geometry of one letterbox transform: ``net_xy = image_xy * scale + (pad_x, pad_y)``.

    Attributes:
        scale: resize factor (network pixels per image pixel).
        pad_x: left padding in network pixels.
        pad_y: top padding in network pixels.
        image_hw: (H, W) of the original image.
        input_hw: (h, w) of the network input.
    """

    scale: float
    pad_x: int
    pad_y: int
    image_hw: Tuple[int, int]
    input_hw: Tuple[int, int]


# float32(v) / 255 for every uint8 level v: the same bits as dividing the converted image.
_UNIT_LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)


def letterbox(image_rgb: np.ndarray, input_hw: Tuple[int, int]) -> Tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect, pad with 114 and build the network input tensor.

    Args:
        image_rgb: (H, W, 3) uint8 RGB image.
        input_hw: network input (height, width) in pixels.

    Returns:
        (tensor (1, 3, h, w) float32 RGB in [0, 1], the transform).
    """
    h, w = image_rgb.shape[:2]
    net_h, net_w = int(input_hw[0]), int(input_hw[1])
    scale = min(net_h / h, net_w / w)
    new_w, new_h = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    pad_x, pad_y = (net_w - new_w) // 2, (net_h - new_h) // 2
    canvas = np.full((net_h, net_w, 3), PAD_VALUE, dtype=np.uint8)
    resized = image_rgb if (new_w, new_h) == (w, h) else cv2.resize(
        image_rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized
    tensor = np.empty((1, 3, net_h, net_w), dtype=np.float32)  # 1 x 3 x h x w
    for c, plane in enumerate(cv2.split(canvas)):  # uint8 level -> level / 255 (float32)
        cv2.LUT(plane, _UNIT_LEVELS, dst=tensor[0, c])
    return tensor, Letterbox(scale, pad_x, pad_y, (h, w), (net_h, net_w))


def unletterbox_boxes(boxes_xyxy: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Map network-pixel boxes back to image pixels and clip them to the image.

    Args:
        boxes_xyxy: (N, 4) xyxy boxes in network input pixels.
        lb: the transform used to make the input.

    Returns:
        (N, 4) float32 xyxy boxes in image pixels, inside [0, W] x [0, H].
    """
    out = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4).copy()
    out[:, [0, 2]] = (out[:, [0, 2]] - lb.pad_x) / lb.scale
    out[:, [1, 3]] = (out[:, [1, 3]] - lb.pad_y) / lb.scale
    h, w = lb.image_hw
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out.astype(np.float32)
