"""Heatmaps → image keypoints exactly as WHAM's ViTPose configuration decodes them.

mmpose ``keypoints_from_heatmaps`` with ``use_udp=True``, ``target_type='GaussianHeatmap'``,
``post_process='default'``, ``modulate_kernel=11``:

1. ``p`` = first arg-max (row-major) of each map, ``score`` = its value; ``p = (-1, -1)``
   when ``score <= 0``.
2. DARK refinement on ``L = log(clip(GaussianBlur(map, k x k, sigma from k), 1e-3, 50))``
   (blur border reflect-101, ``L`` edge-padded by one pixel): ``p <- p - (H + 2^-23 I)^-1 g``
   with central differences ``g`` and ``H`` at ``p``. ``L`` is computed only around each
   peak (same values). Bounded, unlike mmpose: the step is taken unless it is degenerate
   (a near-singular Hessian, see :data:`SINGULAR_EIG`; a step longer than the modulation
   kernel; or a result outside ``[-1, W] x [-1, H]``, the samples the step uses), in which
   case ``p`` stays the integer peak (or -1). Keypoints therefore stay within one heatmap
   pixel of the crop.
3. Unbiased (UDP) back-projection: ``xy = p * S / (hm_size - 1) + c - S / 2``, ``S = 200 scale``.

The dtypes follow the reference (heatmap-dtype blur/log/derivatives, float64 Newton step,
float32 keypoints), so decoding the same heatmaps gives the same keypoints bit for bit
wherever the reference's step is not degenerate (every map of the front-end parity fixture,
including its ill-conditioned ones with steps up to 5.8 heatmap px).
"""
from typing import Union

import cv2
import numpy as np

from wham_ros.vitpose.keypoints import COCO17_FLIP_INDEX

ArrayLike = Union[np.ndarray, "torch.Tensor"]  # noqa: F821 (torch is optional here)

#: Pixel size of a unit of ``scale`` (mmpose's "pixel std").
PIXEL_STD = 200.0
#: A log-heatmap Hessian with an eigenvalue this close to zero is singular (flat maps,
#: plateaus, ridges: the reference adds only 2^-23 I and steps arbitrarily far): no step.
SINGULAR_EIG = 1e-6
_FLIP_INDEX = np.asarray(COCO17_FLIP_INDEX, dtype=np.intp)
_EYE2 = np.eye(2)
_NEIGHBOURS = np.array([-1, 0, 1])
#: The reference's ``2^-23 I`` added to every Hessian (float64).
_HESS_REGULARISER = np.finfo(np.float32).eps * _EYE2
# Pixels per row that OpenCV's vectorised filters handle without a scalar tail (AVX-512 x 4).
_SIMD_WIDTH = 64


def _as_numpy(x: ArrayLike) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def merge_flipped_heatmaps(heatmaps: np.ndarray, heatmaps_flipped: np.ndarray) -> np.ndarray:
    """Flip-test merge (``shift_heatmap=False``): ``(h + flip_back(h_flipped)) * 0.5``.

    Args:
        heatmaps (np.ndarray): (B, 17, H, W) heatmaps of the crops.
        heatmaps_flipped (np.ndarray): (B, 17, H, W) heatmaps of the mirrored crops.

    Returns:
        np.ndarray: (B, 17, H, W), same dtype.
    """
    merged = np.take(heatmaps_flipped, _FLIP_INDEX, axis=1)  # B x 17 x H x W, left/right swapped
    rows = merged.reshape(-1, merged.shape[-1])  # B*17*H x W
    if rows.size:
        cv2.flip(rows, 1, dst=rows)  # un-mirror the width, in place
    merged += heatmaps  # the same sums as heatmaps + back (addition commutes exactly)
    merged *= heatmaps.dtype.type(0.5)
    return merged


def _argmax_points(heatmaps: np.ndarray):
    """(N, K, H, W) → points (N, K, 2) float32 [x, y] in heatmap px, scores (N, K)."""
    n, k, _, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    idx = flat.argmax(axis=2)
    scores = flat.max(axis=2)
    points = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    points = np.where(scores[..., None] > 0.0, points, np.float32(-1.0))
    return points, scores


def _reflect101(index: np.ndarray, size) -> np.ndarray:
    """OpenCV BORDER_REFLECT_101 of integer positions (``-1 -> 1``, ``size -> size - 2``).

    ``size`` is an int or an integer array broadcasting against ``index`` (one size per axis);
    a size of 1 maps every position to 0.
    """
    size = np.asarray(size)
    period = np.maximum(2 * (size - 1), 1)
    index = np.abs(index) % period
    return np.where(index >= size, period - index, index)


def _log_blur_around(points: np.ndarray, heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """``log(clip(GaussianBlur(map), 1e-3, 50))`` on the 3 x 3 edge-padded neighbourhood of p.

    Blurs only a (k + 2) x (k + 2) patch around each peak instead of whole maps: the patch
    rows/columns are the map's reflect-101 extension around p (what GaussianBlur's border
    sees), so the blurred values at p and its neighbours are those of the full-map blur, and
    neighbours beyond the map edge repeat the edge value (the edge padding of ``L``).

    Args:
        points (np.ndarray): (N, K, 2) float32 integer peaks [x, y] in the map (or -1).
        heatmaps (np.ndarray): (N, K, H, W) float32/float64.
        kernel: odd Gaussian kernel size.

    Returns:
        np.ndarray: (N, K, 3, 3) of the heatmaps' dtype, ``[..., 1 + dy, 1 + dx]`` = L at
        (x + dx, y + dy).
    """
    n, k, h, w = heatmaps.shape
    m = n * k
    r = kernel // 2 + 1  # patch radius: blur window + one neighbour
    side = 2 * r + 1
    last = np.array([[w - 1], [h - 1]])  # 2 x 1, per axis [x, y]
    peak = np.minimum(np.maximum(points.reshape(m, 2, 1).astype(np.intp), 0), last)  # M x 2 x 1
    near_patch = _reflect101(peak + np.arange(-r, r + 1), last + 1)  # M x 2 x side [cols, rows]
    # Linear indices of each patch pixel in the flat maps, laid out as the strip below
    # (side rows, then the M patches side by side): side x M x side.
    offset = np.arange(0, m * h * w, h * w)  # M
    lin = (near_patch[:, 1].T[:, :, None] * w + near_patch[:, 0][None]) + offset[None, :, None]
    # Side by side in one image: every used output pixel's window stays inside its own patch.
    # The width is padded to a multiple of 64 so OpenCV computes every pixel in its SIMD loop
    # (as for a 48-wide map), not in a scalar tail that may round differently.
    width = -(-m * side // _SIMD_WIDTH) * _SIMD_WIDTH
    strip = np.zeros((side, width), dtype=heatmaps.dtype)
    strip[:, :m * side] = heatmaps.reshape(-1)[lin.reshape(side, m * side)]
    blurred = cv2.GaussianBlur(strip, (kernel, kernel), 0)  # side x width
    # Neighbour positions clipped to the map (edge padding of L), relative to the patch, and
    # their columns in the strip: M x 2 x 3 [x, y].
    nb = np.minimum(np.maximum(peak + _NEIGHBOURS, 0), last) - peak + r
    nb[:, 0] += np.arange(0, m * side, side)[:, None]
    near = blurred[nb[:, 1, :, None], nb[:, 0, None, :]]  # M x 3 x 3
    np.maximum(near, 0.001, out=near)  # clip to [1e-3, 50] (NaN stays NaN, as with np.clip)
    np.minimum(near, 50, out=near)
    np.log(near, out=near)
    return near.reshape(n, k, 3, 3)


def _dark_udp(points: np.ndarray, heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """One bounded Newton step on the log of the blurred heatmaps (mmpose ``post_dark_udp``).

    The step is the reference's unless it is degenerate: an eigenvalue of the log-heatmap
    Hessian within :data:`SINGULAR_EIG` of zero (flat, zero, plateau, ridge maps), a
    non-finite step, a step longer than ``kernel`` heatmap px (beyond the blur's support,
    where the Taylor model of ``L`` says nothing), or a result outside the map plus its
    one-pixel edge padding. A degenerate step keeps the integer peak, so keypoints stay
    within one heatmap pixel of the crop. Peaks of maps with ``score <= 0`` stay at -1.

    Args:
        points (np.ndarray): (N, K, 2) float32 integer arg-max positions (or -1).
        heatmaps (np.ndarray): (N, K, H, W) float32/float64; not modified.
        kernel: odd Gaussian kernel size (sigma = 0.3 ((k - 1) / 2 - 1) + 0.8).

    Returns:
        np.ndarray: (N, K, 2) float32 refined positions in heatmap pixels, in [-1, W] x [-1, H].
    """
    _, _, h, w = heatmaps.shape
    L = _log_blur_around(points, heatmaps, kernel).reshape(-1, 9)  # M x 9, [3 (1 + dy) + 1 + dx]
    c = L[:, 4]
    plus, minus = L[:, [5, 7]], L[:, [3, 1]]  # M x 2: L at (x+1, y), (x, y+1); (x-1, y), (x, y-1)
    half = L.dtype.type(0.5)
    grad = half * (plus - minus)  # M x 2 [dx, dy]
    second = plus - 2 * c[:, None] + minus  # M x 2 [dxx, dyy]
    dxy = half * (L[:, 8] - L[:, 5] - L[:, 7] + c + c - L[:, 3] - L[:, 1] + L[:, 0])
    hess = np.stack([second[:, 0], dxy, dxy, second[:, 1]], axis=-1).reshape(-1, 2, 2)
    hess = hess + _HESS_REGULARISER  # M x 2 x 2 float64
    a, b, d = hess[:, 0, 0], hess[:, 0, 1], hess[:, 1, 1]
    mean, radius = 0.5 * (a + d), np.sqrt(0.25 * (a - d) ** 2 + b * b)  # eigenvalues mean ± radius
    regular = np.isfinite(radius) & (np.minimum(np.abs(mean - radius), np.abs(mean + radius))
                                     >= SINGULAR_EIG)
    # The reference's inverse where regular, identity elsewhere (its step is discarded there).
    hess_inv = np.linalg.inv(np.where(regular[:, None, None], hess, _EYE2))
    step = np.einsum("imn,in->im", hess_inv, grad)  # M x 2, float64
    flat_points = points.reshape(-1, 2)
    moved = flat_points - step  # float64, as the reference's update (NaN fails the bounds)
    ok = (regular & (np.hypot(step[:, 0], step[:, 1]) <= kernel) & (flat_points[:, 0] >= 0)
          & ((moved >= -1) & (moved <= np.array([w, h]))).all(-1))
    refined = flat_points.copy()  # float32
    np.subtract(refined, step, out=refined, where=ok[:, None], casting="same_kind")
    return refined.reshape(points.shape)


def keypoints_from_heatmaps(heatmaps: ArrayLike, center: ArrayLike, scale: ArrayLike,
                            kernel: int = 11) -> np.ndarray:
    """Decode heatmaps to image keypoints (WHAM's ViTPose settings, see module docstring).

    Args:
        heatmaps: (N, 17, H, W) heatmaps (numpy or torch; float32 as WHAM, float64 allowed).
        center: (N, 2) box centres [cx, cy] in image pixels
            (:func:`wham_ros.frontend.crops.box_to_center_scale`).
        scale: (N, 2) box sizes [w, h] in units of 200 px (padding 1.25 included).
        kernel: odd Gaussian modulation kernel size (11 = ViTPose-H COCO config).

    Returns:
        np.ndarray: (N, 17, 3) float32 ``[x_px, y_px, score]`` in original-image pixels.

    Raises:
        ValueError: on inconsistent shapes or an even kernel.
    """
    hm = _as_numpy(heatmaps)
    hm = np.ascontiguousarray(hm, dtype=hm.dtype if hm.dtype in (np.float32, np.float64)
                              else np.float32)
    center = _as_numpy(center).astype(np.float32)
    scale = _as_numpy(scale).astype(np.float32)
    if hm.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {hm.shape}")
    n, _, h, w = hm.shape
    if center.shape != (n, 2) or scale.shape != (n, 2):
        raise ValueError(f"center and scale must be ({n}, 2) for {n} heatmap sets, got "
                         f"{center.shape} and {scale.shape}")
    if kernel % 2 != 1 or kernel < 1:
        raise ValueError(f"kernel must be a positive odd size, got {kernel}")
    points, scores = _argmax_points(hm)
    points = _dark_udp(points, hm, kernel)
    size = scale * np.float32(PIXEL_STD)  # N x 2, box side in px
    step = size / np.array([w - 1, h - 1], dtype=np.float32)  # image px per heatmap px
    xy = points * step[:, None] + center[:, None] - size[:, None] * np.float32(0.5)
    out = np.empty(points.shape[:2] + (3,), dtype=np.float32)
    out[..., :2] = xy
    out[..., 2] = scores
    return out
