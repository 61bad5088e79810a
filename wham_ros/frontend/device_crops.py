"""Front-end crops on the device: sampling, flips and normalisation as tensor ops.

The same crops as :mod:`wham_ros.frontend.crops` (OpenCV on the host), made on the device
from the uint8 image, so they run on the GPU, inside the torch runners, and inside ONNX
graphs (:class:`VitPoseWithCrops`, :class:`HMR2WithCrops`, exported by ``wham-ros export
--device-crops``). One network call then takes the whole image plus the taps of all people
and their mirrored crops.

Where each part runs: the crop geometry (OpenCV's source positions, its fixed-point
rounding, edge clamping, mirroring) is computed on the host in float64
(:func:`warp_affine_taps`, :func:`resize_taps`) and reduces to integer taps and float32
weights per crop row and column (:class:`CropTaps`, a few KB per crop). The device only
gathers and weights pixels (:func:`sample_crops`): no float64 and no large coordinate
products in the graph, which TensorRT (no float64; fp16 with ``trt_fp16``) could not hold,
and the uint8 image goes straight into a Cast.

Exactness (tested against OpenCV 4.x on random images):

* ViTPose (``cv2.warpAffine``, INTER_LINEAR, BORDER_CONSTANT 0, uint8): OpenCV's
  fixed-point arithmetic is replayed — the inverse matrix in float64 as OpenCV inverts it,
  source coordinates rounded to 1/1024 px per term and snapped to its 1/32 px grid, the
  exact 1/1024 bilinear weights, round half up to uint8 — so the crops are equal (in float32
  every product and sum is exact).
* HMR2.0 (integer window, zero canvas, ``cv2.resize`` INTER_LINEAR on float32): OpenCV's
  source positions and edge clamping, horizontal then vertical pass in float32; OpenCV may
  fuse a multiply-add where this rounds twice, so values agree within 1e-3 grey levels.
* Mirrored crops use the crop's own sample positions, column ``w - 1 - x``, so they equal
  ``crop[..., ::-1]`` exactly.

Images are ``(H, W, 3)`` uint8 RGB; pixel coordinates have their origin at the centre of
the top-left pixel (OpenCV convention).
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

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
from wham_ros.ort_session import ModelFileError, TrtProfile

#: OpenCV warpAffine fixed point: coordinates in 1/1024 px, sampled on a 1/32 px grid.
_AB_SCALE = 1024.0
_INTER_TAB_SIZE = 32.0
#: ONNX tensor names of the graphs with crops inside.
IMAGE_INPUT = "image"
#: Per-crop taps (:class:`CropTaps`), the same four inputs for ViTPose and HMR2.0.
TAP_INPUTS = ("crop_rows", "crop_row_weights", "crop_cols", "crop_col_weights")
#: Image (H, W) the TensorRT profile of a graph with crops inside covers: min, opt, max
#: (4096 x 4096 takes 4K UHD either way up; larger images are refused by the runners).
TRT_IMAGE_HW = ((1, 1), (1080, 1920), (4096, 4096))


def crop_profile(max_batch: int, output_hw: Tuple[int, int]) -> TrtProfile:
    """TensorRT optimisation profile of a graph with crops inside: the image, and taps of 1
    to ``max_batch`` crops of ``output_hw`` (opt: ``max_batch``)."""
    h, w = output_hw
    shapes = {IMAGE_INPUT: tuple(hw + (3,) for hw in TRT_IMAGE_HW)}
    for name, n in zip(TAP_INPUTS, (h, h, w, w)):
        shapes[name] = ((1, n, 2), (max_batch, n, 2), (max_batch, n, 2))
    return TrtProfile(shapes)


def graph_inputs(crop_backend: str, crops_input: str) -> List[str]:
    """Input names of a front-end network exported for ``crop_backend``: its crops input
    ('opencv'), or the image and the taps ('device', ``--device-crops``)."""
    return [crops_input] if crop_backend == "opencv" else [IMAGE_INPUT, *TAP_INPUTS]


def graph_profile(crop_backend: str, max_batch: int, input_hw: Tuple[int, int],
                  crops_input: str) -> TrtProfile:
    """TensorRT profile of 1 to ``max_batch`` crops of ``input_hw`` for the graph of
    ``crop_backend`` ('opencv': the (N, 3, h, w) ``crops_input``; 'device': :func:`crop_profile`)."""
    if crop_backend == "device":
        return crop_profile(max_batch, input_hw)
    shape = (3,) + tuple(input_hw)
    return TrtProfile({crops_input: ((1,) + shape, (max_batch,) + shape, (max_batch,) + shape)})


def check_graph_io(session, network: str, path: str, crop_backend: str, crops_input: str,
                   outputs: Sequence[str]) -> None:
    """ModelFileError unless ``session``'s inputs are those of ``crop_backend``'s export
    (:func:`graph_inputs`) and its outputs include ``outputs``.

    Args:
        session: the network's ``onnxruntime.InferenceSession``.
        network: 'ViTPose' or 'HMR2' (messages; ``wham-ros export`` takes it lower-case).
        path: the model file (messages).
        crop_backend: 'opencv' or 'device'.
        crops_input: the crops input's name in an 'opencv' export.
        outputs: output names the runner reads.
    """
    have_in = [i.name for i in session.get_inputs()]
    have_out = [o.name for o in session.get_outputs()]
    want_in = graph_inputs(crop_backend, crops_input)
    if have_in == want_in and all(n in have_out for n in outputs):
        return
    names = lambda kind, n: f"{kind} '{n[0]}'" if len(n) == 1 else f"{kind}s {list(n)}"  # noqa: E731
    hint = " --device-crops" if crop_backend == "device" else ""
    raise ModelFileError(f"{network}: '{path}' has inputs {have_in} and outputs {have_out}; "
                         f"expected {names('input', want_in)} and {names('output', outputs)} "
                         f"for crop_backend '{crop_backend}' "
                         f"(export it with wham-ros export {network.lower()}{hint})")


def check_image_fits_profile(image: np.ndarray) -> None:
    """ValueError when ``image`` is larger than :data:`TRT_IMAGE_HW` allows."""
    (max_h, max_w) = TRT_IMAGE_HW[2]
    if image.shape[0] > max_h or image.shape[1] > max_w:
        raise ValueError(f"image of {image.shape[1]}x{image.shape[0]} px is larger than the "
                         f"{max_w}x{max_h} px the device-crop graphs are built for; use "
                         "crop_backend: opencv or a smaller image")


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


# --- host side: per-axis taps and weights (what the graph needs; all float64 math here) ---

@dataclass
class CropTaps:
    """Separable bilinear sampling of B crops: two source rows per crop row, two source
    columns per crop column, each with its weight.

    Crop pixel ``(y, x)`` = sum over i, j of ``row_weights[y, i] * col_weights[x, j] *
    image[rows[y, i], cols[x, j]]`` (columns first, then rows). Taps outside the image have
    weight 0 (their index is clamped into the image); mirrored crops have their columns
    reversed. Integers and float32 only, so no float64 reaches the device graph (TensorRT
    has no float64, and ``trt_fp16`` would overflow the 1/1024 px coordinate products).

    Attributes:
        rows (np.ndarray): (B, h, 2) int32 image rows.
        row_weights (np.ndarray): (B, h, 2) float32.
        cols (np.ndarray): (B, w, 2) int32 image columns.
        col_weights (np.ndarray): (B, w, 2) float32.
    """

    rows: np.ndarray
    row_weights: np.ndarray
    cols: np.ndarray
    col_weights: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, index: slice) -> "CropTaps":
        """The taps of crops ``index`` (a batch chunk)."""
        return CropTaps(self.rows[index], self.row_weights[index], self.cols[index],
                        self.col_weights[index])

    def feeds(self) -> Dict[str, np.ndarray]:
        """Graph input name -> array (:data:`TAP_INPUTS`)."""
        return dict(zip(TAP_INPUTS, (self.rows, self.row_weights, self.cols, self.col_weights)))


def _axis_taps(first: np.ndarray, frac: np.ndarray, size: int, second: Optional[np.ndarray] = None):
    """Two taps per position and their weights ``(1 - frac, frac)``, zero outside ``[0, size)``.

    Args:
        first (np.ndarray): (B, n) int64 first tap; second: (B, n) (default first + 1).
        frac (np.ndarray): (B, n) float32 weight of the second tap.

    Returns:
        (taps (B, n, 2) int32 clamped into the image, weights (B, n, 2) float32).
    """
    second = first + 1 if second is None else second
    taps = np.stack([first, second], axis=-1)
    weights = np.stack([np.float32(1) - frac, frac], axis=-1).astype(np.float32)
    weights = np.where((taps >= 0) & (taps < size), weights, np.float32(0))
    return np.clip(taps, 0, size - 1).astype(np.int32), weights.astype(np.float32)


def _mirror_columns(cols: np.ndarray, weights: np.ndarray, mirror: np.ndarray):
    """Reverse the columns of mirrored crops: output column x samples crop column w - 1 - x."""
    mirror = np.asarray(mirror, dtype=bool)
    cols, weights = cols.copy(), weights.copy()
    cols[mirror] = cols[mirror, ::-1]
    weights[mirror] = weights[mirror, ::-1]
    return cols, weights


def warp_affine_taps(crop_to_image: np.ndarray, mirror: np.ndarray, image_hw: Tuple[int, int],
                     output_hw: Tuple[int, int] = VITPOSE_INPUT_HW) -> CropTaps:
    """``cv2.warpAffine`` (INTER_LINEAR, BORDER_CONSTANT 0) sample positions of B axis-aligned
    crops, OpenCV's fixed point replayed in float64 on the host.

    Columns: ``round(1024 a00 x) + round(1024 a02) + 16``, rows: ``round(1024 (a11 y + a12))
    + 16`` (OpenCV's per-column and per-row terms); floor-divided by 32 that is the source
    position in 1/32 px, whose integer part is the first tap and whose fraction (a multiple of
    1/32) the weight: OpenCV's exact 1/1024 bilinear weights as products of row and column
    weights.

    Args:
        crop_to_image (np.ndarray): (B, 2, 3) float64 crop px -> image px
            (:func:`cv2_inverse_affine`), without rotation or shear.
        mirror (np.ndarray): (B,) bool, crop b is mirrored left-right.
        image_hw: (H, W) of the image the taps index.
        output_hw: crop (height, width).

    Returns:
        :class:`CropTaps`.

    Raises:
        ValueError: a matrix with rotation or shear (the front-end's crops have none).
    """
    a = np.asarray(crop_to_image, dtype=np.float64).reshape(-1, 2, 3)
    if np.any(a[:, 0, 1] != 0) or np.any(a[:, 1, 0] != 0):
        raise ValueError("warp_affine_taps needs axis-aligned crops (a01 = a10 = 0)")
    out_h, out_w = output_hw
    step = _AB_SCALE / _INTER_TAB_SIZE  # 1/1024 px units per 1/32 px
    half = step / 2  # OpenCV's round_delta

    def taps(fixed):  # B x n source positions in 1/1024 px -> first tap, its fraction
        q = np.floor(fixed / step)  # in 1/32 px
        first = np.floor(q / _INTER_TAB_SIZE)
        return first.astype(np.int64), ((q - first * _INTER_TAB_SIZE) / _INTER_TAB_SIZE).astype(np.float32)

    xs, ys = np.arange(out_w, dtype=np.float64), np.arange(out_h, dtype=np.float64)
    # OpenCV rounds a00 x per column and (a01 y + a02), (a11 y + a12) per row (a01 = a10 = 0).
    x0, fx = taps(np.round(a[:, 0, 2, None] * _AB_SCALE) + half
                  + np.round(a[:, 0, 0, None] * xs * _AB_SCALE))
    y0, fy = taps(np.round((a[:, 1, 1, None] * ys + a[:, 1, 2, None]) * _AB_SCALE) + half)
    rows, row_weights = _axis_taps(y0, fy, image_hw[0])
    cols, col_weights = _mirror_columns(*_axis_taps(x0, fx, image_hw[1]), mirror)
    return CropTaps(rows, row_weights, cols, col_weights)


def _resize_axis(start: np.ndarray, size: np.ndarray, out_size: int):
    """``cv2.resize`` INTER_LINEAR taps along one axis of B windows (OpenCV's source positions
    and edge clamping; positions in float32 as OpenCV computes them).

    Returns:
        (first tap (B, n) int64 image px, second tap (B, n) int64, weight of the second
        (B, n) float32).
    """
    scale = 1.0 / (out_size / size)  # OpenCV: scale = 1 / inv_scale, inv_scale = dst / src
    index = np.arange(out_size, dtype=np.float64)
    pos = ((index[None] + 0.5) * scale[:, None] - 0.5).astype(np.float32)
    tap = np.floor(pos)
    frac = (pos - tap).astype(np.float32)
    last = (size - 1)[:, None].astype(np.float32)
    frac = np.where((tap < 0) | (tap >= last), np.float32(0), frac).astype(np.float32)
    tap = np.minimum(np.maximum(tap, np.float32(0)), last)
    second = np.minimum(tap + 1, last)
    origin = start[:, None].astype(np.int64)
    return tap.astype(np.int64) + origin, second.astype(np.int64) + origin, frac


def resize_taps(crop_window: np.ndarray, mirror: np.ndarray, image_hw: Tuple[int, int],
                output_hw: Tuple[int, int] = HMR2_INPUT_HW) -> CropTaps:
    """Taps of zero-padded integer windows resized with ``cv2.resize`` INTER_LINEAR semantics.

    Args:
        crop_window (np.ndarray): (B, 4) integer [x0, y0, x1, y1] (exclusive end); pixels
            outside the image are 0 (:func:`hmr2_geometry`).
        mirror (np.ndarray): (B,) bool, crop b is mirrored left-right.
        image_hw: (H, W) of the image the taps index.
        output_hw: crop (height, width).

    Returns:
        :class:`CropTaps`.
    """
    win = np.asarray(crop_window, dtype=np.float64).reshape(-1, 4)
    out_h, out_w = output_hw
    x0, x1, fx = _resize_axis(win[:, 0], win[:, 2] - win[:, 0], out_w)
    y0, y1, fy = _resize_axis(win[:, 1], win[:, 3] - win[:, 1], out_h)
    rows, row_weights = _axis_taps(y0, fy, image_hw[0], y1)
    cols, col_weights = _mirror_columns(*_axis_taps(x0, fx, image_hw[1], x1), mirror)
    return CropTaps(rows, row_weights, cols, col_weights)


# --- device side: torch ops (also traced into ONNX) ----------------------------------------

def sample_crops(image: torch.Tensor, rows: torch.Tensor, row_weights: torch.Tensor,
                 cols: torch.Tensor, col_weights: torch.Tensor) -> torch.Tensor:
    """B crops of ``image`` sampled at host-computed taps (:class:`CropTaps`).

    The uint8 image is cast to float32 first (TensorRT takes uint8 only as a network input
    feeding a Cast), then the four taps of every crop pixel are gathered and weighted,
    columns first, then rows.

    Args:
        image (torch.Tensor): (H, W, 3) uint8 RGB.
        rows, cols (torch.Tensor): (B, h, 2) / (B, w, 2) int32 image rows / columns.
        row_weights, col_weights (torch.Tensor): (B, h, 2) / (B, w, 2) float32.

    Returns:
        torch.Tensor: (B, 3, h, w) float32 RGB 0..255.
    """
    pixels = image.to(torch.float32)  # the only op on the uint8 input
    width = pixels.shape[1]
    flat = pixels.reshape(-1, 3)  # H*W x 3
    offsets = rows.to(torch.int64) * width  # B x h x 2
    index = offsets[:, :, :, None, None] + cols.to(torch.int64)[:, None, None, :, :]  # B x h x 2 x w x 2
    taps = flat[index.reshape(-1)].reshape(index.shape + (3,))  # B x h x 2 x w x 2 x 3
    cw = col_weights[:, None, None, :, :, None]  # B x 1 x 1 x w x 2 x 1
    horizontal = taps[..., 0, :] * cw[..., 0, :] + taps[..., 1, :] * cw[..., 1, :]  # B x h x 2 x w x 3
    rw = row_weights[:, :, :, None, None]  # B x h x 2 x 1 x 1
    value = horizontal[:, :, 0] * rw[:, :, 0] + horizontal[:, :, 1] * rw[:, :, 1]  # B x h x w x 3
    return value.permute(0, 3, 1, 2)


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
    """ViTPose with its crops inside: uint8 image + per-crop taps → heatmaps.

    Args:
        model: a :class:`wham_ros.vitpose.ViTPose`; the crops are cast to its dtype.
    """

    def forward(self, image: torch.Tensor, rows: torch.Tensor, row_weights: torch.Tensor,
                cols: torch.Tensor, col_weights: torch.Tensor) -> torch.Tensor:
        """(H, W, 3) uint8 + :func:`warp_affine_taps` → (B, 17, 64, 48) heatmaps."""
        crops = sample_crops(image, rows, row_weights, cols, col_weights)
        # Weights are multiples of 1/1024 and pixels integers: the float32 sum is exact, so
        # rounding half up gives OpenCV's uint8 (sum + 2^14) >> 15.
        return self.model(self._network_input(torch.floor(crops + 0.5)), flip_test=False)


class HMR2WithCrops(_WithCrops):
    """HMR2.0 encoder with its crops inside: uint8 image + per-crop taps → outputs.

    Args:
        model: a :class:`wham_ros.hmr2.HMR2Encoder`; the crops are cast to its dtype.
        output_names: order of the returned tuple (ONNX needs positions).
    """

    def __init__(self, model: nn.Module, output_names: Optional[Tuple[str, ...]] = None):
        super().__init__(model)
        self.output_names = output_names

    def forward(self, image: torch.Tensor, rows: torch.Tensor, row_weights: torch.Tensor,
                cols: torch.Tensor, col_weights: torch.Tensor):
        """(H, W, 3) uint8 + :func:`resize_taps` → dict (or tuple) of HMR2.0 outputs."""
        crops = sample_crops(image, rows, row_weights, cols, col_weights)
        out = self.model(self._network_input(crops))
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
