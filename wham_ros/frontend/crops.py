"""Image crops and normalisation for the front-end networks (numpy + OpenCV 4.x).

Both functions are batched over people and reproduce WHAM's preprocessing bit for bit
with OpenCV 4.x (OpenCV 5.0 changed ``warpAffine`` rounding: up to 3 grey levels on 5-7 %
of the ViTPose crop values; ``resize`` is unchanged).

* ViTPose (mmpose top-down, UDP): box xyxy → (center, scale) with aspect 192:256 and
  padding 1.25, affine warp to 256×192 with the unbiased (UDP) matrix, ImageNet normalisation.
* HMR2.0 (WHAM ``process_image``): square box (cx, cy, s) with side 200 s, integer crop
  window, zero padding, resize to 256×256, ImageNet normalisation.

Images are ``(H, W, 3)`` uint8 **RGB**; pixel coordinates have their origin at the centre of
the top-left pixel (OpenCV convention).
"""
import threading
from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

#: ImageNet normalisation (RGB), as float32 like torchvision and WHAM.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

#: mmpose "pixel std": ``scale`` = box size / 200 px.
PIXEL_STD = 200.0
VITPOSE_INPUT_HW = (256, 192)
VITPOSE_BOX_PADDING = 1.25
HMR2_INPUT_HW = (256, 256)
#: HMR2.0 crop windows up to this many pixels (16 x the output: a 1024 px box) go through a
#: float canvas + ``cv2.resize`` (WHAM's exact arithmetic); larger ones are sampled directly.
MAX_CANVAS_PX = 16 * HMR2_INPUT_HW[0] * HMR2_INPUT_HW[1]
#: Box coordinates (centre +- side) beyond this many pixels are refused (int64-safe windows).
MAX_BOX_PX = 1e12


@dataclass
class VitPoseCrops:
    """ViTPose network input for N boxes.

    Attributes:
        input_tensor: (N, 3, 256, 192) float32, normalised RGB, CHW (2N with the mirrored
            crops after the N crops, when asked for).
        center: (N, 2) float32 box centres [cx, cy], image px.
        scale: (N, 2) float32 padded box size [w, h] / 200.
        warp: (N, 2, 3) float32 image → crop affine matrices.
        crops: (N, 256, 192, 3) uint8 RGB crops.
    """

    input_tensor: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    warp: np.ndarray
    crops: np.ndarray


def _check_image(image_rgb: np.ndarray) -> None:
    if not isinstance(image_rgb, np.ndarray) or image_rgb.ndim != 3 or image_rgb.shape[2] != 3 \
            or image_rgb.dtype != np.uint8:
        got = (f"{image_rgb.dtype} array of shape {image_rgb.shape}"
               if isinstance(image_rgb, np.ndarray) else type(image_rgb).__name__)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {got}")


# Normalised value of each uint8 level per channel, computed as :func:`normalise_float` does
# (``(v / 255 - mean) / std`` in float32), so the look-up gives the same bits: one 256-entry
# float32 table per channel (R, G, B).
_LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)
_CHANNEL_LEVELS = tuple(np.ascontiguousarray((_LEVELS - IMAGENET_MEAN[c]) / IMAGENET_STD[c])
                        for c in range(3))


def normalise_uint8(crops: np.ndarray, mirrored: bool = False) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB → (N, 3, H, W) float32 ImageNet-normalised, by table look-up.

    Same bits as ``((crops / 255 - mean) / std)`` in float32 (:func:`normalise_float`). Each
    crop is split into its uint8 channel planes, and each plane is looked up straight into
    its CHW plane of the output (no HWC float intermediate, no transposed copy).

    Args:
        crops (np.ndarray): (N, H, W, 3) uint8 RGB.
        mirrored: also the horizontally mirrored crops: (2N, 3, H, W), the N crops then
            their N mirror images (``x[..., ::-1]``), each plane copied mirrored from the
            looked-up plane.
    """
    n, h, w, _ = crops.shape
    out = np.empty(((2 if mirrored else 1) * n, 3, h, w), dtype=np.float32)
    for i in range(n):
        for c, plane in enumerate(cv2.split(crops[i])):  # H x W uint8 each
            cv2.LUT(plane, _CHANNEL_LEVELS[c], dst=out[i, c])  # contiguous H x W float32
            if mirrored:
                cv2.flip(out[i, c], 1, dst=out[n + i, c])
    return out


def normalise_float(crops: np.ndarray, mirrored: bool = False) -> np.ndarray:
    """(N, H, W, 3) float32 pixel values 0..255 → (N, 3, H, W) float32 normalised.

    ``(x / 255 - mean) / std`` per element in float32, one channel plane at a time: the
    division writes the CHW plane from the HWC crop, the rest is done in place while the
    plane is in cache.

    Args:
        crops (np.ndarray): (N, H, W, 3) pixel values (cast to float32 first).
        mirrored: also the horizontally mirrored crops: (2N, 3, H, W), the N crops then
            their N mirror images (``x[..., ::-1]``), each plane copied mirrored.
    """
    crops = np.asarray(crops, dtype=np.float32)
    n, h, w, _ = crops.shape
    x = np.empty(((2 if mirrored else 1) * n, 3, h, w), dtype=np.float32)
    for i in range(n):
        for c in range(3):
            plane = x[i, c]  # H x W
            np.divide(crops[i, :, :, c], np.float32(255.0), out=plane)
            plane -= IMAGENET_MEAN[c]
            plane /= IMAGENET_STD[c]
            if mirrored:
                cv2.flip(plane, 1, dst=x[n + i, c])
    return x


def box_to_center_scale(boxes_xyxy: np.ndarray, input_hw: Tuple[int, int] = VITPOSE_INPUT_HW,
                        padding: float = VITPOSE_BOX_PADDING) -> Tuple[np.ndarray, np.ndarray]:
    """mmpose top-down box → (center, scale).

    xyxy → xywh with ``w = x2 - x1 + 1``, ``h = y2 - y1 + 1`` (float32, as mmpose), centre
    ``(x + w/2, y + h/2)``; the box is widened or heightened to the input aspect ratio, then
    ``scale = (w, h) / 200 * padding``. Intermediates are float64 like numpy 1.x's scalar
    promotion in the reference, results float32.

    Args:
        boxes_xyxy (np.ndarray): (N, 4) [x1, y1, x2, y2] image px.
        input_hw: network input (height, width).
        padding: box enlargement factor.

    Returns:
        (center (N, 2) float32 px, scale (N, 2) float32 in units of 200 px).
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    w32 = boxes[:, 2] - boxes[:, 0] + np.float32(1)
    h32 = boxes[:, 3] - boxes[:, 1] + np.float32(1)
    x, y = boxes[:, 0].astype(np.float64), boxes[:, 1].astype(np.float64)
    w, h = w32.astype(np.float64), h32.astype(np.float64)
    center = np.stack([x + w * 0.5, y + h * 0.5], axis=1).astype(np.float32)
    aspect = input_hw[1] / input_hw[0]
    wider = w > aspect * h
    taller = w < aspect * h
    h = np.where(wider, w * 1.0 / aspect, h)
    w = np.where(taller, h * aspect, w)
    scale = np.stack([w / PIXEL_STD, h / PIXEL_STD], axis=1).astype(np.float32)
    return center, scale * np.float32(padding)


def udp_warp_matrix(center: np.ndarray, scale: np.ndarray,
                    output_hw: Tuple[int, int] = VITPOSE_INPUT_HW) -> np.ndarray:
    """Unbiased (UDP) image → crop affine matrices, rotation 0 (mmpose ``get_warp_matrix``).

    ``T = [[sx, 0, sx (S_x/2 - c_x)], [0, sy, sy (S_y/2 - c_y)]]`` with ``S = 200 scale`` and
    ``s = (output_size - 1) / S``; float64 math, float32 result.

    Args:
        center (np.ndarray): (N, 2) float32 [cx, cy] px.
        scale (np.ndarray): (N, 2) float32 [w, h] / 200.
        output_hw: crop (height, width).

    Returns:
        np.ndarray: (N, 2, 3) float32.
    """
    center = np.asarray(center, dtype=np.float32).reshape(-1, 2)
    size = np.asarray(scale, dtype=np.float32).reshape(-1, 2) * np.float32(PIXEL_STD)
    dst = np.array([output_hw[1] - 1.0, output_hw[0] - 1.0])
    s = dst / size.astype(np.float64)  # N x 2 crop px per image px
    half_in = center.astype(np.float64) * 2.0 * 0.5
    warp = np.zeros((len(center), 2, 3), dtype=np.float32)
    warp[:, 0, 0] = s[:, 0]
    warp[:, 1, 1] = s[:, 1]
    warp[:, :, 2] = s * (-half_in + 0.5 * size)
    return warp


def vitpose_crops(image_rgb: np.ndarray, boxes_xyxy: np.ndarray,
                  mirrored: bool = False) -> VitPoseCrops:
    """Crop and normalise N person boxes for ViTPose (WHAM/mmpose top-down UDP pipeline).

    Args:
        image_rgb (np.ndarray): (H, W, 3) uint8 RGB image.
        boxes_xyxy (np.ndarray): (N, 4) [x1, y1, x2, y2] detector boxes, image px.
        mirrored: ``input_tensor`` also holds the mirrored crops (flip test), see
            :func:`normalise_uint8`.

    Returns:
        VitPoseCrops with ``input_tensor`` (N, 3, 256, 192) (``mirrored``: (2N, ...), the N
        crops then the N mirrored) and the box geometry needed by
        :func:`wham_ros.vitpose.keypoints_from_heatmaps`.

    Raises:
        ValueError: the image is not (H, W, 3) uint8 or the boxes are not (N, 4).
    """
    _check_image(image_rgb)
    boxes = np.asarray(boxes_xyxy, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes_xyxy must be (N, 4) [x1, y1, x2, y2], got shape {boxes.shape}")
    center, scale = box_to_center_scale(boxes)
    warp = udp_warp_matrix(center, scale)
    out_h, out_w = VITPOSE_INPUT_HW
    crops = np.empty((len(boxes), out_h, out_w, 3), dtype=np.uint8)
    for i, m in enumerate(warp):  # one OpenCV call per person; writes every pixel (border 0)
        cv2.warpAffine(image_rgb, m, (out_w, out_h), dst=crops[i], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return VitPoseCrops(normalise_uint8(crops, mirrored), center, scale, warp, crops)


def hmr2_crop_windows(bboxes_cxcys: np.ndarray,
                      output_hw: Tuple[int, int] = HMR2_INPUT_HW) -> Tuple[np.ndarray, np.ndarray]:
    """Integer crop windows of WHAM's ``crop()``: upper-left and bottom-right corners.

    The corners are the crop's (0, 0) and (W, H) mapped back to the image through the inverse
    of the 3×3 crop transform, rounded half-to-even (``ul ≈ c - 100 s``, ``br ≈ c + 100 s``).

    Args:
        bboxes_cxcys (np.ndarray): (N, 3) float [cx, cy, s], box side = 200 s px.
        output_hw: crop (height, width).

    Returns:
        (ul (N, 2) int64 [x, y], br (N, 2) int64 [x, y]), br exclusive.
    """
    b = np.asarray(bboxes_cxcys, dtype=np.float64).reshape(-1, 3)
    res_h, res_w = float(output_hw[0]), float(output_hw[1])
    h = PIXEL_STD * b[:, 2]
    w = h / (res_h / res_w)
    t = np.zeros((len(b), 3, 3))
    t[:, 0, 0] = res_w / w
    t[:, 1, 1] = res_h / h
    t[:, 0, 2] = res_w * (-b[:, 0] / w + 0.5)
    t[:, 1, 2] = res_h * (-b[:, 1] / h + 0.5)
    t[:, 2, 2] = 1.0
    t_inv = np.linalg.inv(t)  # N x 3 x 3, crop px -> image px
    ul = np.round(t_inv[:, :2, 2])
    br = np.round(t_inv[:, :2, 0] * res_w + t_inv[:, :2, 1] * res_h + t_inv[:, :2, 2])
    return ul.astype(np.int64), br.astype(np.int64)


def _resize_weights(src: int, dst: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV INTER_LINEAR sampling of ``src`` pixels onto ``dst``: (i0, i1, alpha).

    ``out[j] = (1 - alpha[j]) in[i0[j]] + alpha[j] in[i1[j]]`` with OpenCV's float32
    coordinates ``(j + 0.5) src / dst - 0.5``, clamped to the edge pixels.
    """
    f = ((np.arange(dst) + 0.5) * (1.0 / (dst / src)) - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    alpha = f - i0.astype(np.float32)
    low, high = i0 < 0, i0 >= src - 1
    alpha[low | high] = 0.0
    i0 = np.clip(i0, 0, src - 1)
    return i0, np.minimum(i0 + 1, src - 1), alpha


def _sampled_crop(image_rgb: np.ndarray, ul: np.ndarray, br: np.ndarray,
                  output_hw: Tuple[int, int]) -> np.ndarray:
    """The zero-padded window [ul, br) resized to ``output_hw`` without building the window.

    Reads only the 2 x output-size rows and columns the bilinear samples use, so memory is
    proportional to the output whatever the box. Equal to ``cv2.resize`` of the canvas to
    within float32 rounding (<= 2e-5 of 255).

    Returns:
        (out_h, out_w, 3) float32 RGB 0..255.
    """
    img_h, img_w = image_rgb.shape[:2]
    out_h, out_w = output_hw
    (x0, y0), (x1, y1) = ul, br
    xi0, xi1, ax = _resize_weights(int(x1 - x0), out_w)
    yi0, yi1, ay = _resize_weights(int(y1 - y0), out_h)

    def pick(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        r, c = rows + y0, cols + x0  # image px
        inside = ((r >= 0) & (r < img_h))[:, None, None] & ((c >= 0) & (c < img_w))[None, :, None]
        values = image_rgb[np.clip(r, 0, img_h - 1)[:, None], np.clip(c, 0, img_w - 1)[None, :]]
        return np.where(inside, values.astype(np.float32), np.float32(0.0))  # out_h x out_w x 3

    def across(rows: np.ndarray) -> np.ndarray:
        return pick(rows, xi0) * (1 - ax)[None, :, None] + pick(rows, xi1) * ax[None, :, None]

    return across(yi0) * (1 - ay)[:, None, None] + across(yi1) * ay[:, None, None]


_SCRATCH = threading.local()


def _canvas(h: int, w: int) -> np.ndarray:
    """An (h, w, 3) float32 view of this thread's scratch memory (contents undefined).

    The canvas is at most :data:`MAX_CANVAS_PX` pixels (12 MiB); reusing one buffer per
    thread spares a fresh multi-megabyte allocation (and its page faults) per person and frame.
    """
    buf = getattr(_SCRATCH, "canvas", None)
    if buf is None or buf.size < h * w * 3:
        buf = _SCRATCH.canvas = np.empty(h * w * 3, dtype=np.float32)
    return buf[:h * w * 3].reshape(h, w, 3)


def hmr2_crops(image_rgb: np.ndarray, bboxes_cxcys: np.ndarray,
               mirrored: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Crop and normalise N square boxes for HMR2.0 (WHAM ``process_image``, 256×256).

    Pixels outside the image are zero (black before normalisation). Boxes up to
    :data:`MAX_CANVAS_PX` pixels are cut into a float canvas and resized by OpenCV exactly as
    WHAM does; larger boxes (e.g. from a far-off keypoint) are sampled directly
    (:func:`_sampled_crop`), so memory never grows with the box.

    Args:
        image_rgb (np.ndarray): (H, W, 3) uint8 RGB image.
        bboxes_cxcys (np.ndarray): (N, 3) [cx, cy, s] px, side = 200 s.
        mirrored: ``norm_img`` also holds the mirrored crops (WHAM's flip-eval), see
            :func:`normalise_float`.

    Returns:
        (norm_img (N, 3, 256, 256) float32 network input (``mirrored``: (2N, ...), the N
        crops then the N mirrored), crops (N, 256, 256, 3) float32 RGB 0..255).

    Raises:
        ValueError: bad image, boxes not (N, 3), or a non-positive / non-finite box, or a box
            beyond :data:`MAX_BOX_PX`.
    """
    _check_image(image_rgb)
    boxes = np.asarray(bboxes_cxcys, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 3:
        raise ValueError(f"bboxes_cxcys must be (N, 3) [cx, cy, s], got shape {boxes.shape}")
    if not np.all(np.isfinite(boxes)) or np.any(boxes[:, 2] <= 0):
        raise ValueError(f"bboxes_cxcys must be finite with s > 0, got {boxes.tolist()}")
    if np.any(np.abs(boxes[:, :2]) + PIXEL_STD * boxes[:, 2:] > MAX_BOX_PX):
        raise ValueError(f"bboxes_cxcys {boxes.tolist()} reach beyond {MAX_BOX_PX:.0e} px")
    ul, br = hmr2_crop_windows(boxes)
    img_h, img_w = image_rgb.shape[:2]
    out_h, out_w = HMR2_INPUT_HW
    if np.any(br <= ul):
        bad = boxes[np.any(br <= ul, axis=1)][0]
        raise ValueError(f"box {bad.tolist()} gives an empty crop window")
    crops = np.empty((len(boxes), out_h, out_w, 3), dtype=np.float32)
    for i, ((x0, y0), (x1, y1)) in enumerate(zip(ul, br)):  # canvases differ in size per person
        if (x1 - x0) * (y1 - y0) > MAX_CANVAS_PX:
            crops[i] = _sampled_crop(image_rgb, ul[i], br[i], HMR2_INPUT_HW)
            continue
        # WHAM's float canvas, (y1 - y0) x (x1 - x0) x 3: the image part converted straight
        # into it (one pass, no uint8 window), zeros around it
        canvas = _canvas(y1 - y0, x1 - x0)
        sx0, sx1 = min(max(0, x0), img_w), max(min(img_w, x1), 0)
        sy0, sy1 = min(max(0, y0), img_h), max(min(img_h, y1), 0)
        if sx1 > sx0 and sy1 > sy0:
            top, bottom, left, right = sy0 - y0, sy1 - y0, sx0 - x0, sx1 - x0  # canvas px
            canvas[top:bottom, left:right] = image_rgb[sy0:sy1, sx0:sx1]
            canvas[:top] = 0.0  # the padding strips only
            canvas[bottom:] = 0.0
            canvas[top:bottom, :left] = 0.0
            canvas[top:bottom, right:] = 0.0
        else:
            canvas.fill(0.0)
        cv2.resize(canvas, (out_w, out_h), dst=crops[i], interpolation=cv2.INTER_LINEAR)
    return normalise_float(crops, mirrored), crops
