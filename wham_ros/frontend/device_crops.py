"""Front-end crops on the device: affine warps, resizes, flips and normalisation as tensor ops.

The same crops as :mod:`wham_ros.frontend.crops` (OpenCV on the host), computed in torch
from the uint8 image and per-crop geometry, so they run on the GPU, inside the torch
runners, and inside ONNX graphs (:class:`VitPoseWithCrops`, :class:`HMR2WithCrops`,
exported by ``wham-ros export --device-crops``). One network call then takes the whole
image plus the geometry of all people and their mirrored crops.

Exactness (tested against OpenCV 4.x on random images):

* ViTPose (``cv2.warpAffine``, INTER_LINEAR, BORDER_CONSTANT 0, uint8): OpenCV's
  fixed-point arithmetic is replayed — the inverse matrix in float64 as OpenCV inverts it,
  source coordinates rounded to 1/1024 px per term and snapped to its 1/32 px grid, the
  exact 1/1024 bilinear weights, round half up to uint8 — so the crops are equal.
* HMR2.0 (integer window, zero canvas, ``cv2.resize`` INTER_LINEAR on float32): OpenCV's
  source positions and edge clamping, horizontal then vertical pass in float32; OpenCV may
  fuse a multiply-add where this rounds twice, so values agree within 1e-3 grey levels.
* Mirrored crops use the crop's own sample positions, column ``w - 1 - x``, so they equal
  ``crop[..., ::-1]`` exactly.

Images are ``(H, W, 3)`` uint8 RGB; pixel coordinates have their origin at the centre of
the top-left pixel (OpenCV convention).
"""
from typing import Any, Callable, Optional, Tuple

import numpy as np
import torch
from torch import nn

from wham_ros.frontend.crops import (
    HMR2_INPUT_HW,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VITPOSE_INPUT_HW,
    box_to_center_scale,
    hmr2_crop_windows,
    udp_warp_matrix,
)

#: OpenCV warpAffine fixed point: coordinates in 1/1024 px, sampled on a 1/32 px grid.
_AB_SCALE = 1024.0
_INTER_TAB_SIZE = 32.0
#: ONNX tensor names of the graphs with crops inside.
IMAGE_INPUT = "image"
VITPOSE_GEOMETRY_INPUT = "crop_to_image"
HMR2_GEOMETRY_INPUT = "crop_window"
MIRROR_INPUT = "mirror"


# --- host side: per-crop geometry (numpy, tiny) --------------------------------------------

def cv2_inverse_affine(warp: np.ndarray) -> np.ndarray:
    """Image → crop matrices to crop → image, in float64 exactly as ``cv2.warpAffine`` does.

    Args:
        warp (np.ndarray): (N, 2, 3) image → crop matrices (as passed to ``cv2.warpAffine``).

    Returns:
        np.ndarray: (N, 2, 3) float64 crop px → image px.
    """
    m = np.asarray(warp, dtype=np.float64).reshape(-1, 2, 3)
    d = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    d = np.where(d != 0, 1.0 / np.where(d != 0, d, 1.0), 0.0)
    out = np.empty_like(m)
    out[:, 0, 0] = m[:, 1, 1] * d
    out[:, 1, 1] = m[:, 0, 0] * d
    out[:, 0, 1] = m[:, 0, 1] * -d
    out[:, 1, 0] = m[:, 1, 0] * -d
    out[:, 0, 2] = -out[:, 0, 0] * m[:, 0, 2] - out[:, 0, 1] * m[:, 1, 2]
    out[:, 1, 2] = -out[:, 1, 0] * m[:, 0, 2] - out[:, 1, 1] * m[:, 1, 2]
    return out


def vitpose_geometry(boxes_xyxy: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ViTPose crop geometry of N detector boxes (mmpose top-down UDP, as the host path).

    Args:
        boxes_xyxy (np.ndarray): (N, 4) [x1, y1, x2, y2] image px.

    Returns:
        (center (N, 2) float32 px, scale (N, 2) float32 in units of 200 px,
        crop_to_image (N, 2, 3) float64).

    Raises:
        ValueError: boxes not (N, 4).
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes_xyxy must be (N, 4) [x1, y1, x2, y2], got shape {boxes.shape}")
    center, scale = box_to_center_scale(boxes)
    return center, scale, cv2_inverse_affine(udp_warp_matrix(center, scale))


def hmr2_geometry(bboxes_cxcys: np.ndarray) -> np.ndarray:
    """HMR2.0 crop windows of N square boxes (WHAM ``process_image``, as the host path).

    Args:
        bboxes_cxcys (np.ndarray): (N, 3) [cx, cy, s] px, side = 200 s.

    Returns:
        np.ndarray: (N, 4) float64 integer windows [x0, y0, x1, y1], x1/y1 exclusive.

    Raises:
        ValueError: boxes not (N, 3), non-finite, s <= 0, or an empty window.
    """
    boxes = np.asarray(bboxes_cxcys, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 3:
        raise ValueError(f"bboxes_cxcys must be (N, 3) [cx, cy, s], got shape {boxes.shape}")
    if not np.all(np.isfinite(boxes)) or np.any(boxes[:, 2] <= 0):
        raise ValueError(f"bboxes_cxcys must be finite with s > 0, got {boxes.tolist()}")
    ul, br = hmr2_crop_windows(boxes)
    empty = np.any(br <= ul, axis=1)
    if np.any(empty):
        raise ValueError(f"box {boxes[np.argmax(empty)].tolist()} gives an empty crop window")
    return np.concatenate([ul, br], axis=1).astype(np.float64)


def with_mirrored(geometry: np.ndarray, mirror: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Geometry of N crops, followed by the same N mirrored when ``mirror``.

    Returns:
        (geometry (B, ...) with B = N or 2N, mirror flags (B,) bool).
    """
    n = len(geometry)
    if not mirror:
        return geometry, np.zeros(n, dtype=bool)
    return np.concatenate([geometry, geometry]), np.repeat([False, True], n)


# --- device side: torch ops (also traced into ONNX) ----------------------------------------

def _columns(mirror: torch.Tensor, width: int, dtype: torch.dtype) -> torch.Tensor:
    """Crop column sampled by output column x: x, or w - 1 - x for mirrored crops. (B, w)."""
    xs = torch.arange(width, dtype=dtype, device=mirror.device)
    return torch.where(mirror[:, None], (width - 1) - xs, xs)


def _gather(image: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Pixels at integer (ys, xs) of broadcastable shapes, 0 outside the image.

    Args:
        image (torch.Tensor): (H, W, 3) uint8.
        ys, xs (torch.Tensor): int64 rows / columns, broadcastable to S.

    Returns:
        torch.Tensor: S x 3 float32.
    """
    height, width = image.shape[0], image.shape[1]
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    index = ys.clamp(0, height - 1) * width + xs.clamp(0, width - 1)
    values = image.reshape(-1, 3)[index.reshape(-1)].to(torch.float32)
    values = values.reshape(index.shape + (3,))
    return values * inside.unsqueeze(-1).to(torch.float32)


def warp_affine_crops(image: torch.Tensor, crop_to_image: torch.Tensor, mirror: torch.Tensor,
                      output_hw: Tuple[int, int] = VITPOSE_INPUT_HW) -> torch.Tensor:
    """``cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0)`` of B crops, OpenCV's fixed point.

    Args:
        image (torch.Tensor): (H, W, 3) uint8 RGB.
        crop_to_image (torch.Tensor): (B, 2, 3) float64 crop px → image px
            (:func:`cv2_inverse_affine` of the image → crop matrices).
        mirror (torch.Tensor): (B,) bool, crop b is mirrored left-right.
        output_hw: crop (height, width).

    Returns:
        torch.Tensor: (B, 3, h, w) float32 integer values 0..255 (the uint8 crops).
    """
    out_h, out_w = output_hw
    a = crop_to_image.to(torch.float64)
    ys = torch.arange(out_h, dtype=torch.float64, device=a.device)
    xs = _columns(mirror, out_w, torch.float64)  # B x w
    # Per row y: round(1024 (a01 y + a02)) + 16, per column x: round(1024 a00 x); the sum
    # floor-divided by 32 is the source position in 1/32 px (OpenCV's round_delta = 16).
    half = _AB_SCALE / _INTER_TAB_SIZE / 2
    row_x = torch.round((a[:, 0, 1, None] * ys + a[:, 0, 2, None]) * _AB_SCALE) + half  # B x h
    row_y = torch.round((a[:, 1, 1, None] * ys + a[:, 1, 2, None]) * _AB_SCALE) + half
    col_x = torch.round(a[:, 0, 0, None] * xs * _AB_SCALE)  # B x w
    col_y = torch.round(a[:, 1, 0, None] * xs * _AB_SCALE)
    step = _AB_SCALE / _INTER_TAB_SIZE
    qx = torch.floor((row_x[:, :, None] + col_x[:, None, :]) / step)  # B x h x w, 1/32 px
    qy = torch.floor((row_y[:, :, None] + col_y[:, None, :]) / step)
    x0, y0 = torch.floor(qx / _INTER_TAB_SIZE), torch.floor(qy / _INTER_TAB_SIZE)
    fx = ((qx - x0 * _INTER_TAB_SIZE) / _INTER_TAB_SIZE).to(torch.float32)[..., None]
    fy = ((qy - y0 * _INTER_TAB_SIZE) / _INTER_TAB_SIZE).to(torch.float32)[..., None]
    x0, y0 = x0.to(torch.int64), y0.to(torch.int64)
    # Weights are multiples of 1/1024 and pixels integers: the float32 sum is exact, so
    # rounding half up gives OpenCV's (sum + 2^14) >> 15.
    value = (_gather(image, y0, x0) * ((1 - fx) * (1 - fy)) + _gather(image, y0, x0 + 1) * (fx * (1 - fy))
             + _gather(image, y0 + 1, x0) * ((1 - fx) * fy) + _gather(image, y0 + 1, x0 + 1) * (fx * fy))
    return torch.floor(value + 0.5).permute(0, 3, 1, 2)


def _resize_positions(start: torch.Tensor, size: torch.Tensor, out_size: int,
                      index: torch.Tensor):
    """``cv2.resize`` INTER_LINEAR source taps of output positions ``index`` along one axis.

    Args:
        start, size (torch.Tensor): (B,) float64 window origin and length, image px.
        out_size: output length.
        index (torch.Tensor): (B, n) or (1, n) float64 output positions.

    Returns:
        (first tap (B, n) int64 image px, second tap (B, n) int64, weight of the second
        (B, n) float32).
    """
    scale = 1.0 / (out_size / size)  # OpenCV: scale = 1 / inv_scale, inv_scale = dst / src
    pos = ((index + 0.5) * scale[:, None] - 0.5).to(torch.float32)
    tap = torch.floor(pos)
    frac = pos - tap
    last = (size - 1)[:, None].to(torch.float32)
    frac = torch.where((tap < 0) | (tap >= last), torch.zeros_like(frac), frac)
    tap = torch.minimum(torch.clamp(tap, min=0.0), last)
    second = torch.minimum(tap + 1, last)
    origin = start[:, None].to(torch.int64)
    return tap.to(torch.int64) + origin, second.to(torch.int64) + origin, frac


def resize_window_crops(image: torch.Tensor, crop_window: torch.Tensor, mirror: torch.Tensor,
                        output_hw: Tuple[int, int] = HMR2_INPUT_HW) -> torch.Tensor:
    """Zero-padded integer windows resized with ``cv2.resize`` INTER_LINEAR semantics.

    Args:
        image (torch.Tensor): (H, W, 3) uint8 RGB.
        crop_window (torch.Tensor): (B, 4) float64 integer [x0, y0, x1, y1] (exclusive end),
            pixels outside the image are 0 (:func:`hmr2_geometry`).
        mirror (torch.Tensor): (B,) bool, crop b is mirrored left-right.
        output_hw: crop (height, width).

    Returns:
        torch.Tensor: (B, 3, h, w) float32 RGB 0..255.
    """
    out_h, out_w = output_hw
    win = crop_window.to(torch.float64)
    rows = torch.arange(out_h, dtype=torch.float64, device=win.device)[None]  # 1 x h
    cols = _columns(mirror, out_w, torch.float64)
    x0, x1, fx = _resize_positions(win[:, 0], win[:, 2] - win[:, 0], out_w, cols)
    y0, y1, fy = _resize_positions(win[:, 1], win[:, 3] - win[:, 1], out_h, rows)
    x0, x1, fx = x0[:, None, :], x1[:, None, :], fx[:, None, :, None]
    y0, y1, fy = y0[:, :, None], y1[:, :, None], fy[:, :, None, None]
    top = _gather(image, y0, x0) * (1 - fx) + _gather(image, y0, x1) * fx  # B x h x w x 3
    bottom = _gather(image, y1, x0) * (1 - fx) + _gather(image, y1, x1) * fx
    return (top * (1 - fy) + bottom * fy).permute(0, 3, 1, 2)


def normalise_crops(crops: torch.Tensor, mean: Optional[torch.Tensor] = None,
                    std: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(B, 3, h, w) float32 RGB 0..255 → ImageNet-normalised float32 (host path's formula).

    ``mean``/``std`` (3,) float32 default to the ImageNet constants (modules pass buffers).
    """
    mean = torch.as_tensor(IMAGENET_MEAN, device=crops.device) if mean is None else mean
    std = torch.as_tensor(IMAGENET_STD, device=crops.device) if std is None else std
    return (crops / 255.0 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


class _WithCrops(nn.Module):
    """A network behind device crops; ImageNet constants as (non-persistent) buffers."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.from_numpy(IMAGENET_MEAN.copy()), persistent=False)
        self.register_buffer("std", torch.from_numpy(IMAGENET_STD.copy()), persistent=False)

    def _network_input(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) crops 0..255 → normalised, in the network's dtype."""
        dtype = next(self.model.parameters()).dtype
        return normalise_crops(crops, self.mean, self.std).to(dtype)


class VitPoseWithCrops(_WithCrops):
    """ViTPose with its crops inside: uint8 image + per-crop matrices → heatmaps.

    Args:
        model: a :class:`wham_ros.vitpose.ViTPose`; the crops are cast to its dtype.
    """

    def forward(self, image: torch.Tensor, crop_to_image: torch.Tensor,
                mirror: torch.Tensor) -> torch.Tensor:
        """(H, W, 3) uint8, (B, 2, 3) float64, (B,) bool → (B, 17, 64, 48) heatmaps."""
        return self.model(self._network_input(warp_affine_crops(image, crop_to_image, mirror)),
                          flip_test=False)


class HMR2WithCrops(_WithCrops):
    """HMR2.0 encoder with its crops inside: uint8 image + per-crop windows → outputs.

    Args:
        model: a :class:`wham_ros.hmr2.HMR2Encoder`; the crops are cast to its dtype.
        output_names: order of the returned tuple (ONNX needs positions).
    """

    def __init__(self, model: nn.Module, output_names: Optional[Tuple[str, ...]] = None):
        super().__init__(model)
        self.output_names = output_names

    def forward(self, image: torch.Tensor, crop_window: torch.Tensor, mirror: torch.Tensor):
        """(H, W, 3) uint8, (B, 4) float64, (B,) bool → dict (or tuple) of HMR2.0 outputs."""
        out = self.model(self._network_input(resize_window_crops(image, crop_window, mirror)))
        return out if self.output_names is None else tuple(out[n] for n in self.output_names)


class FrameUpload:
    """Uploads each frame's image to the device once for every runner sharing this object.

    The last image is kept and recognised by identity: callers pass a new array per frame
    and never modify one after passing it (the pipeline, the node and the runner decode
    every frame into a new array).

    Args:
        convert: host (H, W, 3) uint8 array → device value (torch tensor or ``OrtValue``).
    """

    def __init__(self, convert: Callable[[np.ndarray], Any]):
        self._convert = convert
        self._image: Optional[np.ndarray] = None
        self._value: Any = None
        self.uploads = 0  # number of host → device copies so far

    def __call__(self, image: np.ndarray) -> Any:
        """The device copy of ``image`` (uploaded on the first call for this array)."""
        if image is not self._image:
            self._value = self._convert(np.ascontiguousarray(image))
            self._image = image
            self.uploads += 1
        return self._value
