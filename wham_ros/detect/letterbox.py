"""Letterbox pre-processing for YOLO-family detectors and its inverse on boxes.

The image is resized keeping its aspect ratio so it fits the network input and padded with
grey 114 (the value YOLOv5/YOLOv8/YOLOX were trained with). Colour order, value range and
where the image sits are properties of the model family (:class:`InputConvention`):

* ultralytics (YOLOv5, YOLOv8, YOLO11; ``LetterBox``): RGB, float in [0, 1], centred.
* YOLOX (``yolox.data.data_augment.preproc``): BGR (as ``cv2.imread`` gives), float
  0-255, image in the top-left corner, padding right and bottom, sizes truncated.

The network tensor is NCHW float32.
"""
import functools
from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class InputConvention:
    """How a detector family builds its input tensor from an image.

    Attributes:
        bgr: channels in B, G, R order (else R, G, B).
        value_divisor: uint8 pixel values are divided by this (255: [0, 1]; 1: 0-255).
        centred: image centred with padding on both sides (else top-left, padded right/bottom).
        truncate_size: resized size is ``int(size * scale)`` (else rounded).
    """

    bgr: bool
    value_divisor: float
    centred: bool
    truncate_size: bool


ULTRALYTICS = InputConvention(bgr=False, value_divisor=255.0, centred=True, truncate_size=False)
YOLOX = InputConvention(bgr=True, value_divisor=1.0, centred=False, truncate_size=True)


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


@functools.lru_cache(maxsize=8)
def _levels(value_divisor: float) -> np.ndarray:
    """float32 value of each uint8 level: ``float32(v) / divisor`` (read-only, 256)."""
    levels = np.arange(256, dtype=np.float32)
    if value_divisor != 1.0:
        levels /= np.float32(value_divisor)
    levels.flags.writeable = False
    return levels


def letterbox(image_rgb: np.ndarray, input_hw: Tuple[int, int],
              convention: InputConvention = ULTRALYTICS) -> Tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect, pad with 114 and build the network input tensor.

    Args:
        image_rgb: (H, W, 3) uint8 RGB image.
        input_hw: network input (height, width) in pixels.
        convention: the model family's colour order, value range and padding side.

    Returns:
        (tensor (1, 3, h, w) float32 in the convention's order and range, the transform).
    """
    h, w = image_rgb.shape[:2]
    net_h, net_w = int(input_hw[0]), int(input_hw[1])
    scale = min(net_h / h, net_w / w)
    size = int if convention.truncate_size else (lambda v: int(round(v)))
    new_w, new_h = max(1, size(w * scale)), max(1, size(h * scale))
    pad_x, pad_y = ((net_w - new_w) // 2, (net_h - new_h) // 2) if convention.centred else (0, 0)
    resized = image_rgb if (new_w, new_h) == (w, h) else cv2.resize(
        image_rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    # Each uint8 level v becomes float32(v) / divisor: one table look-up per channel plane
    # gives the same bits as converting the whole image and dividing it. The padding is
    # written as the level of PAD_VALUE directly (no padded uint8 canvas).
    levels = _levels(convention.value_divisor)
    pad = levels[PAD_VALUE]
    top, bottom, left, right = pad_y, pad_y + new_h, pad_x, pad_x + new_w  # image part
    planes = cv2.split(resized)  # R, G, B
    tensor = np.empty((1, 3, net_h, net_w), dtype=np.float32)  # 1 x 3 x h x w
    for part in (tensor[0, :, :top], tensor[0, :, bottom:],  # the padding, all channels at once
                 tensor[0, :, top:bottom, :left], tensor[0, :, top:bottom, right:]):
        if part.size:
            part.fill(pad)
    for c, plane in enumerate(planes[::-1] if convention.bgr else planes):
        out = tensor[0, c]
        if left == 0 and right == net_w:  # whole rows: look up straight into the tensor
            cv2.LUT(plane, levels, dst=out[top:bottom])
        else:
            out[top:bottom, left:right] = cv2.LUT(plane, levels)
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
