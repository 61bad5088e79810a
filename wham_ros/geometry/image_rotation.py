"""Camera rotation between two images from the background: a gyro-bias observation.

The newest image is turned grey, downscaled (at most ``max_width_px`` wide) and smoothed;
corners of the key image (the previous one, or an earlier one while the camera moved less than
``min_motion_px``: sub-pixel tracking is biased towards whole pixels) are found once
(Shi-Tomasi, people's boxes masked out), tracked into it with pyramidal Lucas-Kanade, and a
rotation-only model is fitted with RANSAC.

Model: a background point far away (or a camera that only turns) seen along the unit bearing
``b0 = normalize(K^-1 [u0, v0, 1])`` in the first image and ``b1`` in the second satisfies
``b0 = dR @ b1`` with ``dR = C(t0)^T C(t1)`` (C = camera -> world, optical frame): the same
rotation :meth:`wham_ros.geometry.imu.ImuIntegrator.relative_rotation` integrates from the gyro,
i.e. the homography ``x1 ~ K dR^T K^-1 x0``. RANSAC draws two correspondences (the minimal set),
fits ``dR`` by the SVD solution of Wahba's problem, and counts the points that reproject within
``ransac_threshold_px`` (pixels of the small image); the best set is refitted.

The fit is refused, with the reason, when the scene cannot carry it: too little texture
(fewer than ``min_points`` tracked corners), too many outliers (people walking, parallax of
near objects: inlier ratio below ``min_inlier_ratio``) or an inlier residual above
``max_residual_px`` (motion blur, wrong intrinsics, strong parallax). An accepted fit comes
with the 1-sigma rotation uncertainty its inliers give (rad, largest axis), from the
residual and the geometry of the bearings: ``cov = s^2 (sum_i (I - b_i b_i^T))^-1``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageRotationConfig:
    """Parameters of :class:`ImageRotationEstimator` (pixels are those of the small image).

    Attributes:
        max_width_px: the grey image is downscaled to at most this width.
        smooth_sigma_px: Gaussian smoothing of the small image (sub-pixel tracking of a sharp
            image is biased towards whole pixels: 9 % of a 0.2 px motion without it).
        max_corners: corners tracked per image pair.
        min_points: fewest tracked background corners for a fit (fewer: too little texture).
        corner_quality: Shi-Tomasi quality level (relative to the strongest corner).
        min_corner_distance_px: spacing of the corners.
        min_corner_strength: smallest accepted corner eigenvalue, absolute (grey levels^2 per
            pixel^2, window-averaged): a flat image has no corners at all.
        lk_window_px: Lucas-Kanade window side.
        lk_levels: pyramid levels above the base.
        box_margin: people's boxes grow by this fraction of their size on each side, plus half
            a Lucas-Kanade window (a tracked window must not touch a person).
        ransac_iterations: RANSAC hypotheses (two correspondences each).
        ransac_threshold_px: reprojection error of an inlier.
        min_inlier_ratio: smallest inlier fraction of the tracked corners.
        max_residual_px: largest RMS reprojection error of the inliers.
        min_sigma_px: floor of the per-point error used for the uncertainty.
        sigma_inflation: the uncertainty is multiplied by this (tracking errors of
            neighbouring corners are not independent).
        max_interval_ns: image pairs further apart are not compared.
        min_interval_ns: images newer than the key image by less than this are not looked at
            (reason ``wait``): the bias is a slow quantity, a pair every ~0.1 s measures it as
            well as one per frame (a longer pair turns further, so it is measured better) at a
            third of the cost at 30 fps.
        min_motion_px: a pair moving less (median, small-image pixels) waits for a later image
            (sub-pixel tracking is biased: a small motion is measured too short).
        key_interval_ns: ... at most this long.
        seed: RANSAC random seed (reproducible).
    """

    max_width_px: int = 160
    smooth_sigma_px: float = 1.0
    max_corners: int = 80
    min_points: int = 25
    corner_quality: float = 0.02
    min_corner_distance_px: float = 5.0
    min_corner_strength: float = 0.3
    lk_window_px: int = 9
    lk_levels: int = 2
    box_margin: float = 0.1
    ransac_iterations: int = 48
    ransac_threshold_px: float = 0.6
    min_inlier_ratio: float = 0.6
    max_residual_px: float = 0.35
    min_sigma_px: float = 0.05
    sigma_inflation: float = 3.0
    max_interval_ns: int = 500_000_000
    min_interval_ns: int = 90_000_000
    min_motion_px: float = 1.5
    key_interval_ns: int = 400_000_000
    seed: int = 0


@dataclass
class ImageRotation:
    """Outcome of one image pair.

    Attributes:
        t0_ns: stamp of the earlier image (camera clock).
        t1_ns: stamp of the newer image.
        delta_R: (3, 3) ``C(t0)^T C(t1)`` in the camera optical frame (identity when refused).
        std_rad: 1-sigma rotation uncertainty (largest axis), rad; inf when refused.
        valid: the fit was accepted.
        reason: empty when valid, else why it was refused (``no_previous``, ``low_texture``,
            ``outliers``, ``residual``, ``interval``, ``size``), or ``short`` (too little motion
            yet) or ``wait`` (sooner than ``min_interval_ns``): not refusals.
        points: tracked background corners.
        inlier_ratio: RANSAC inliers / points.
        residual_px: RMS reprojection error of the inliers (small-image pixels).
    """

    t0_ns: int
    t1_ns: int
    delta_R: np.ndarray
    std_rad: float
    valid: bool
    reason: str = ""
    points: int = 0
    inlier_ratio: float = 0.0
    residual_px: float = 0.0


def grey_small(image: np.ndarray, max_width_px: int) -> tuple:
    """Grey, downscaled copy of an image.

    Args:
        image (np.ndarray): (H, W, 3) uint8 RGB or (H, W) uint8 grey.
        max_width_px: largest width of the result.

    Returns:
        tuple: ``(grey (h, w) uint8, scale)`` with ``scale = w / W`` (<= 1).
    """
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    W = grey.shape[1]
    scale = min(1.0, max_width_px / float(W))
    if scale < 1.0:
        size = (max(int(round(W * scale)), 1), max(int(round(grey.shape[0] * scale)), 1))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        scale = size[0] / float(W)
    return grey, scale


def wahba(b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """Rotations R minimising ``sum_i |b0_i - R b1_i|^2`` (SVD solution, proper rotations).

    Args:
        b0 (np.ndarray): (..., N, 3) unit bearings.
        b1 (np.ndarray): (..., N, 3) unit bearings.

    Returns:
        np.ndarray: (..., 3, 3).
    """
    B = np.swapaxes(b0, -1, -2) @ b1  # ... x 3 x 3, sum_i b0_i b1_i^T
    U, _, Vt = np.linalg.svd(B)
    d = np.sign(np.linalg.det(U @ Vt))  # ...
    D = np.ones(U.shape[:-2] + (3,))
    D[..., 2] = d
    return (U * D[..., None, :]) @ Vt


class ImageRotationEstimator:
    """Keeps the previous small grey image; :meth:`estimate` compares the next one with it."""

    def __init__(self, config: Optional[ImageRotationConfig] = None):
        """Create an estimator without a previous image.

        Args:
            config: parameters.
        """
        self.config = config or ImageRotationConfig()
        self._rng = np.random.default_rng(self.config.seed)
        self._key = None  # [stamp_ns, grey, scale, mask, corners]: the image compared with
        self._pyr_args = dict(winSize=(self.config.lk_window_px,) * 2, maxLevel=self.config.lk_levels,
                              criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.001))

    def reset(self) -> None:
        """Forget the key image (the next one starts a new pair)."""
        self._key = None

    def estimate(self, stamp_ns: int, image: np.ndarray, K: np.ndarray,
                 boxes_xyxy: Sequence[Sequence[float]] = ()) -> ImageRotation:
        """Rotation from the key image to this one.

        The key image is the previous one unless the camera moved less than ``min_motion_px``
        since it (and for less than ``key_interval_ns``): then this image is only compared
        (reason ``short``, not a refusal) and the key image is kept for the next one.

        Args:
            stamp_ns: this image's stamp (camera clock).
            image (np.ndarray): (H, W, 3) uint8 RGB or (H, W) uint8 grey.
            K (np.ndarray): (3, 3) intrinsics of the full-size image, pixels.
            boxes_xyxy: people's boxes in this image, (M, 4) full-size pixels; masked out.

        Returns:
            ImageRotation: valid or refused with a reason.
        """
        cfg = self.config
        refused = dict(delta_R=np.eye(3), std_rad=math.inf, valid=False)
        if self._key is not None and 0 < stamp_ns - self._key[0] < cfg.min_interval_ns:
            return ImageRotation(self._key[0], int(stamp_ns), reason="wait", **refused)
        grey, scale = grey_small(image, cfg.max_width_px)
        if cfg.smooth_sigma_px > 0:
            grey = cv2.GaussianBlur(grey, (0, 0), cfg.smooth_sigma_px)
        mask = self._mask(grey.shape, boxes_xyxy, scale)
        key, current = self._key, [int(stamp_ns), grey, scale, mask, None]
        if key is None:
            self._key = current
            return ImageRotation(int(stamp_ns), int(stamp_ns), reason="no_previous", **refused)
        t0, grey0, scale0, mask0, p0 = key
        if grey0.shape != grey.shape or scale0 != scale:
            self._key = current
            return ImageRotation(t0, int(stamp_ns), reason="size", **refused)
        if not 0 < stamp_ns - t0 <= cfg.max_interval_ns:
            self._key = current
            return ImageRotation(t0, int(stamp_ns), reason="interval", **refused)
        if p0 is None:  # the key image's corners, found once
            p0, quality = cv2.goodFeaturesToTrackWithQuality(grey0, cfg.max_corners, cfg.corner_quality,
                                                             cfg.min_corner_distance_px, mask0, blockSize=5)
            if p0 is not None:  # drop weak corners: sensor noise on a flat wall is no texture
                p0 = p0[quality.reshape(-1) >= cfg.min_corner_strength / 255.0]
            key[4] = p0 = np.zeros((0, 1, 2), np.float32) if p0 is None else p0
        if len(p0) < cfg.min_points:
            self._key = current
            return ImageRotation(t0, int(stamp_ns), reason="low_texture", points=len(p0), **refused)
        p1, st, _ = cv2.calcOpticalFlowPyrLK(grey0, grey, p0, None, **self._pyr_args)
        p0, p1 = p0[:, 0].astype(np.float64), p1[:, 0].astype(np.float64)  # N x 2 each
        h, w = grey.shape
        ok = (st[:, 0] == 1) & np.all((p1 >= 0) & (p1 <= [w - 1, h - 1]), axis=1)
        ok &= mask[np.clip(p1[:, 1].astype(int), 0, h - 1), np.clip(p1[:, 0].astype(int), 0, w - 1)] > 0
        p0, p1 = p0[ok], p1[ok]
        if len(p0) < cfg.min_points:
            self._key = current
            return ImageRotation(t0, int(stamp_ns), reason="low_texture", points=len(p0), **refused)
        if stamp_ns - t0 < cfg.key_interval_ns and \
                float(np.median(np.linalg.norm(p1 - p0, axis=1))) < cfg.min_motion_px:
            # Too little motion to measure well yet: keep the key image, compare the next one.
            return ImageRotation(t0, int(stamp_ns), reason="short", points=len(p0), **refused)
        self._key = current
        return self._fit(t0, int(stamp_ns), p0, p1, np.asarray(K, dtype=np.float64), scale)

    def _mask(self, shape, boxes_xyxy, scale: float) -> np.ndarray:
        """(h, w) uint8 mask of the small image: 0 inside the (grown) people's boxes."""
        mask = np.full(shape, 255, np.uint8)
        pad = self.config.lk_window_px // 2 + 1  # small-image pixels
        for box in np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4):
            if not np.all(np.isfinite(box)):
                continue
            mx, my = (box[2] - box[0]) * self.config.box_margin, (box[3] - box[1]) * self.config.box_margin
            x0, y0 = int(max((box[0] - mx) * scale - pad, 0)), int(max((box[1] - my) * scale - pad, 0))
            x1, y1 = int(math.ceil((box[2] + mx) * scale + pad)), int(math.ceil((box[3] + my) * scale + pad))
            mask[y0:max(y1, y0), x0:max(x1, x0)] = 0
        return mask

    def _fit(self, t0: int, t1: int, p0: np.ndarray, p1: np.ndarray, K: np.ndarray, scale: float) -> ImageRotation:
        """RANSAC rotation from small-image points ``p0``, ``p1`` (N, 2)."""
        cfg = self.config
        Ks = K.copy()
        Ks[:2] *= scale  # intrinsics of the small image (pixel centres as in cv2.resize)
        Ks[:2, 2] += 0.5 * scale - 0.5
        Kinv = np.linalg.inv(Ks)
        b0, b1 = _bearings(Kinv, p0), _bearings(Kinv, p1)  # N x 3
        n = len(b0)
        first = self._rng.integers(0, n, cfg.ransac_iterations)  # I
        second = (first + self._rng.integers(1, n, cfg.ransac_iterations)) % n  # I, != first
        R = two_point_rotation(b0[first], b0[second], b1[first], b1[second])  # I x 3 x 3
        err = _reprojection_error(Ks, R, b0, p1)  # I x N
        inliers = err < cfg.ransac_threshold_px
        i_best = int(np.argmax(inliers.sum(axis=1)))
        R_fit, err_fit, best = R[i_best], err[i_best], inliers[i_best]
        for _ in range(2):  # refit on the inliers, then re-select them
            if best.sum() < 2:
                break
            R_fit = wahba(b0[best], b1[best])
            err_fit = _reprojection_error(Ks, R_fit[None], b0, p1)[0]
            best = err_fit < cfg.ransac_threshold_px
        ratio = float(best.sum()) / n
        residual = float(np.sqrt(np.mean(err_fit[best] ** 2))) if best.sum() else math.inf
        common = dict(points=n, inlier_ratio=ratio, residual_px=residual)
        if best.sum() < cfg.min_points or ratio < cfg.min_inlier_ratio:
            return ImageRotation(t0, t1, np.eye(3), math.inf, False, "outliers", **common)
        if residual > cfg.max_residual_px:
            return ImageRotation(t0, t1, np.eye(3), math.inf, False, "residual", **common)
        # Bearing noise (rad) from the residual, and the information of the inlier bearings.
        sigma = max(residual, cfg.min_sigma_px) / Ks[0, 0] * cfg.sigma_inflation
        bi = b1[best]
        info = len(bi) * np.eye(3) - bi.T @ bi  # sum_i (I - b_i b_i^T)
        std = sigma * math.sqrt(float(np.linalg.eigvalsh(info).min()) ** -1)
        return ImageRotation(t0, t1, R_fit, std, True, **common)


def two_point_rotation(a1: np.ndarray, a2: np.ndarray, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Rotations R with ``a1 = R b1`` exactly and ``a2 ~ R b2`` (TRIAD), batched.

    Args:
        a1, a2, b1, b2 (np.ndarray): (I, 3) unit bearings.

    Returns:
        np.ndarray: (I, 3, 3).
    """
    def frame(x, y):  # I x 3 x 3, columns x, n, x cross n
        n = np.cross(x, y)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        return np.stack([x, n, np.cross(x, n)], axis=-1)

    return frame(a1, a2) @ np.swapaxes(frame(b1, b2), -1, -2)


def _bearings(Kinv: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(N, 3) unit bearings of pixels ``p`` (N, 2)."""
    rays = np.concatenate([p, np.ones((len(p), 1))], axis=1) @ Kinv.T
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def _reprojection_error(K: np.ndarray, R: np.ndarray, b0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """(I, N) pixel distance between ``p1`` (N, 2) and ``b0`` (N, 3) moved by ``R^T`` (I, 3, 3)."""
    rays = b0 @ R  # I x N x 3: rows (R^T b0)^T, b1 predicted
    z = np.maximum(rays[..., 2], 1e-9)
    u = K[0, 0] * rays[..., 0] / z + K[0, 1] * rays[..., 1] / z + K[0, 2]
    v = K[1, 1] * rays[..., 1] / z + K[1, 2]
    return np.hypot(u - p1[:, 0], v - p1[:, 1])
