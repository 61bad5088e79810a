"""Heatmaps → image keypoints exactly as WHAM's ViTPose configuration decodes them.

mmpose ``keypoints_from_heatmaps`` with ``use_udp=True``, ``target_type='GaussianHeatmap'``,
``post_process='default'``, ``modulate_kernel=11``:

1. ``p`` = first arg-max (row-major) of each map, ``score`` = its value; ``p = (-1, -1)``
   when ``score <= 0``.
2. DARK refinement on ``L = log(clip(GaussianBlur(map, k x k, sigma from k), 1e-3, 50))``
   (blur border reflect-101, ``L`` edge-padded by one pixel): ``p <- p - (H + 2^-23 I)^-1 g``
   with central differences ``g`` and ``H`` at ``p``.
3. Unbiased (UDP) back-projection: ``xy = p * S / (hm_size - 1) + c - S / 2``, ``S = 200 scale``.

The dtypes follow the reference (heatmap-dtype blur/log/derivatives, float64 Newton step,
float32 keypoints), so decoding the same heatmaps gives the same keypoints bit for bit.
"""
from typing import Union

import cv2
import numpy as np

from wham_ros.vitpose.keypoints import COCO17_FLIP_INDEX

ArrayLike = Union[np.ndarray, "torch.Tensor"]  # noqa: F821 (torch is optional here)

#: Pixel size of a unit of ``scale`` (mmpose's "pixel std").
PIXEL_STD = 200.0


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
    back = heatmaps_flipped[:, COCO17_FLIP_INDEX, :, ::-1]  # swap left/right, un-mirror width
    return (heatmaps + back) * heatmaps.dtype.type(0.5)


def _argmax_points(heatmaps: np.ndarray):
    """(N, K, H, W) → points (N, K, 2) float32 [x, y] in heatmap px, scores (N, K)."""
    n, k, _, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    idx = flat.argmax(axis=2)
    scores = flat.max(axis=2)
    points = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    points = np.where(scores[..., None] > 0.0, points, np.float32(-1.0))
    return points, scores


def _dark_udp(points: np.ndarray, heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """One Newton step on the log of the blurred heatmaps (mmpose ``post_dark_udp``).

    Args:
        points (np.ndarray): (N, K, 2) float32 integer arg-max positions (or -1).
        heatmaps (np.ndarray): (N, K, H, W) float32/float64; not modified.
        kernel: odd Gaussian kernel size (sigma = 0.3 ((k - 1) / 2 - 1) + 0.8).

    Returns:
        np.ndarray: (N, K, 2) float32 refined positions in heatmap pixels.
    """
    n, k, h, w = heatmaps.shape
    logs = np.empty(heatmaps.shape, dtype=heatmaps.dtype)
    for i in range(n):
        for j in range(k):
            cv2.GaussianBlur(heatmaps[i, j], (kernel, kernel), 0, dst=logs[i, j])
    np.clip(logs, 0.001, 50, out=logs)
    np.log(logs, out=logs)
    pad = np.pad(logs, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge").ravel()
    # Flat index of p in the padded stack; neighbours are +-1 (x) and +-(W + 2) (y).
    row = w + 2
    index = points[..., 0] + 1 + (points[..., 1] + 1) * row  # N x K (float32)
    index = index + row * (h + 2) * np.arange(n * k).reshape(n, k)
    index = index.astype(int)
    c = pad[index]
    xp, xm = pad[index + 1], pad[index - 1]
    yp, ym = pad[index + row], pad[index - row]
    xpyp, xmym = pad[index + row + 1], pad[index - row - 1]
    half = logs.dtype.type(0.5)
    dx = half * (xp - xm)
    dy = half * (yp - ym)
    dxx = xp - 2 * c + xm
    dyy = yp - 2 * c + ym
    dxy = half * (xpyp - xp - yp + c + c - xm - ym + xmym)
    grad = np.stack([dx, dy], axis=-1)[..., None]  # N x K x 2 x 1
    hess = np.stack([dxx, dxy, dxy, dyy], axis=-1).reshape(n, k, 2, 2)
    hess_inv = np.linalg.inv(hess + np.finfo(np.float32).eps * np.eye(2))  # float64
    step = np.einsum("ijmn,ijnk->ijmk", hess_inv, grad)[..., 0]  # N x K x 2, float64
    refined = points.copy()
    refined -= step
    return refined


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
