"""A robust depth of each person's body from an aligned depth image (no ROS).

Pixels are taken on the body only, never from the whole box (which holds background and
other people): the box's torso core (the middle :data:`CORE_WIDTH` of its width, the rows
:data:`CORE_ROWS` of its height, where an upright person's chest and belly are) and small
patches around the confident keypoints that lie inside the box. Keypoints are not trusted
blindly: those outside the box are ignored, and every sample must agree with the others.

The valid readings (inside ``[min_m, max_m]``; 0 and NaN are none) are split into depth
clusters (gaps over :data:`CLUSTER_GAP_M`). Clusters with at least :data:`MIN_SUPPORT` of
the readings are candidates: the one nearest the track's previous body depth (if recent),
else the nearest to the camera, as a person stands in front of the wall behind them. Its
median is the visible surface; the pelvis lies :data:`BODY_HALF_THICKNESS_M` behind it.
A result that jumps further than a person can move since the track's last one is
refused (the frame runs monocular) until it persists for :data:`RELOCK_FRAMES` frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

#: Hip centre behind the visible body surface (half a torso's front-to-back depth), m.
BODY_HALF_THICKNESS_M = 0.10
#: Torso core of a box: middle fraction of its width, and rows (fractions of its height).
CORE_WIDTH = 0.4
CORE_ROWS = (0.2, 0.6)
#: At most this many core samples per side (a grid), and a patch of this radius per keypoint.
CORE_GRID = 24
PATCH_RADIUS_PX = 2
#: Keypoints used: confidence at least this, inside the box shrunk by this fraction per side.
KEYPOINT_MIN_CONFIDENCE = 0.5
KEYPOINT_BOX_MARGIN = 0.1
#: Readings a body depth needs, and the share of them a depth cluster needs.
MIN_READINGS = 12
MIN_SUPPORT = 0.2
CLUSTER_GAP_M = 0.15
#: Jump gate against the track's previous body depth: allowed change = base + speed * dt.
GATE_BASE_M = 0.5
GATE_SPEED_M_S = 3.0
PRIOR_MAX_AGE_S = 1.0
RELOCK_FRAMES = 5

# Unit torso-core grid (fractions of the core's width / height) and keypoint patch offsets, px.
_GRID = np.linspace(0.0, 1.0, CORE_GRID)
_CORE_U, _CORE_V = (g.reshape(-1) for g in np.meshgrid(_GRID, _GRID))  # CORE_GRID^2 each
_PATCH = np.arange(-PATCH_RADIUS_PX, PATCH_RADIUS_PX + 1, dtype=np.float64)
_PATCH_U, _PATCH_V = (g.reshape(1, -1) for g in np.meshgrid(_PATCH, _PATCH))  # 1 x P^2 each


@dataclass(frozen=True)
class BodyDepthConfig:
    """Valid depth range of the camera, m (readings outside it are none)."""

    min_m: float = 0.3
    max_m: float = 10.0


def body_pixels(box_xyxy: np.ndarray, keypoints: np.ndarray, size: Tuple[int, int]
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Pixels on a person's body: the box's torso core and patches at in-box keypoints.

    Args:
        box_xyxy: (4,) detector box, px.
        keypoints: (17, 3) COCO-17 ``[u, v, confidence]``.
        size: (W, H) of the image.

    Returns:
        (rows (N,), cols (N,)) integer pixel indices inside the image (N may be 0).
    """
    W, H = size
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    w, h = x1 - x0, y1 - y0
    if not (np.isfinite([x0, y0, x1, y1]).all() and w > 0 and h > 0):
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    us = [x0 + 0.5 * (1 - CORE_WIDTH) * w + _CORE_U * (CORE_WIDTH * w)]
    vs = [y0 + CORE_ROWS[0] * h + _CORE_V * ((CORE_ROWS[1] - CORE_ROWS[0]) * h)]
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    mu, mv = KEYPOINT_BOX_MARGIN * w, KEYPOINT_BOX_MARGIN * h
    use = ((kp[:, 2] >= KEYPOINT_MIN_CONFIDENCE)
           & (kp[:, 0] >= x0 + mu) & (kp[:, 0] <= x1 - mu)
           & (kp[:, 1] >= y0 + mv) & (kp[:, 1] <= y1 - mv))
    if use.any():  # K x P^2 patch pixels
        us.append((kp[use, 0, None] + _PATCH_U).reshape(-1))
        vs.append((kp[use, 1, None] + _PATCH_V).reshape(-1))
    u, v = np.concatenate(us), np.concatenate(vs)
    inside = np.isfinite(u) & np.isfinite(v) & (u >= 0) & (v >= 0) & (u < W) & (v < H)
    return v[inside].astype(np.intp), u[inside].astype(np.intp)


def surface_depth(readings: np.ndarray, prior_m: Optional[float] = None) -> Optional[float]:
    """The body's visible surface depth from its readings, or None (too few, no cluster).

    Args:
        readings: (N,) valid depths, m.
        prior_m: the track's recent surface depth, m (picks among the clusters), or None.
    """
    if readings.size < MIN_READINGS:
        return None
    z = np.sort(readings)
    cuts = np.flatnonzero(np.diff(z) > CLUSTER_GAP_M) + 1
    clusters = [c for c in np.split(z, cuts) if c.size >= max(MIN_SUPPORT * z.size, MIN_READINGS)]
    if not clusters:
        return None
    medians = [float(np.median(c)) for c in clusters]
    if prior_m is None:
        return medians[0]  # nearest: the person stands in front of what is behind them
    return min(medians, key=lambda m: abs(m - prior_m))


class BodyDepthEstimator:
    """Per-track robust hip-centre depth (z, camera optical frame) from aligned depth images.

    Args:
        config: the camera's valid range.
    """

    def __init__(self, config: Optional[BodyDepthConfig] = None) -> None:
        self.config = config or BodyDepthConfig()
        # track id -> (last accepted surface depth m, its stamp ns, refused frames since)
        self._tracks: Dict[int, Tuple[float, int, int]] = {}

    def estimate(self, track_id: int, stamp_ns: int, depth_m: np.ndarray, box_xyxy: np.ndarray,
                 keypoints: np.ndarray) -> Optional[float]:
        """Hip-centre depth of one person, m (z in the camera optical frame), or None.

        Args:
            track_id: tracker id (for the jump gate).
            stamp_ns: the frame's stamp.
            depth_m: (H, W) float32 metres aligned to the colour image, NaN = none.
            box_xyxy: (4,) detector box, px.
            keypoints: (17, 3) COCO-17 ``[u, v, confidence]``.
        """
        H, W = depth_m.shape
        rows, cols = body_pixels(box_xyxy, keypoints, (W, H))
        z = depth_m[rows, cols]
        z = z[(z >= self.config.min_m) & (z <= self.config.max_m)]  # NaN compares False
        last = self._tracks.get(track_id)
        recent = last is not None and 0 <= stamp_ns - last[1] <= PRIOR_MAX_AGE_S * 1e9
        surface = surface_depth(z, last[0] if recent else None)
        if surface is None:
            return None
        if recent:
            allowed = GATE_BASE_M + GATE_SPEED_M_S * (stamp_ns - last[1]) * 1e-9
            if abs(surface - last[0]) > allowed and last[2] + 1 < RELOCK_FRAMES:
                self._tracks[track_id] = (last[0], last[1], last[2] + 1)
                return None
        self._tracks[track_id] = (surface, stamp_ns, 0)
        return surface + BODY_HALF_THICKNESS_M

    def end_track(self, track_id: int) -> None:
        """Forget a track."""
        self._tracks.pop(track_id, None)

    def reset(self) -> None:
        """Forget every track."""
        self._tracks.clear()
