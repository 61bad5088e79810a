"""Placing a person at their depth-measured distance (no ROS).

WHAM's camera-frame root comes from the box scale and the focal length; a depth image
measures the distance. :class:`DepthPlacement` moves the root along its viewing ray to the
measured hip-centre depth, and every ``*_cam`` point of the person with it (a rigid shift:
the body keeps its size). The ray is WHAM's root ray, kept inside the hip region of the
person's detector box (:data:`HIP_REGION`), since a root that projects outside its own
person (poor keypoints move WHAM's box) is not that person's.

World outputs follow: the root is mapped to the world with the current camera pose, and
every ``*_world`` point shifts with it. On frames without a depth reading the camera-frame
outputs stay WHAM's own, and the world outputs keep the track's last depth correction, so
positions in the world do not jump when a depth image is missing. On depth frames the world
velocity is the rate of change of the published, depth-placed positions (their
least-squares slope over :data:`VELOCITY_WINDOW_S`), so velocity and positions agree; with
fewer than two depth positions in that window, and on frames without depth (where the
positions move with WHAM's trajectory), it is WHAM's own.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Deque, Dict, Optional, Tuple

import numpy as np

from wham_ros.types import HumanEstimate

ROOT_SOURCES = ("depth", "monocular")
#: Where a root may project inside its box: (u from, u to), (v from, v to) as box fractions.
HIP_REGION = ((0.35, 0.65), (0.35, 0.7))
VELOCITY_WINDOW_S = 0.3
HISTORY_SIZE = 32  # corrections kept per track (> VELOCITY_WINDOW_S at 30 Hz)


def root_on_ray(root_cam: np.ndarray, depth_m: float, K: np.ndarray,
                box_xyxy: np.ndarray) -> np.ndarray:
    """The hip centre at depth ``depth_m`` on its viewing ray (kept inside the box's hip region).

    Args:
        root_cam: (3,) WHAM hip centre, camera optical frame, m.
        depth_m: measured hip-centre z, m.
        K: (3, 3) intrinsics.
        box_xyxy: (4,) the person's detector box, px.

    Returns:
        (3,) hip centre with z = ``depth_m``, camera optical frame.
    """
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    if root_cam[2] > 0:
        u, v = (K @ (root_cam / root_cam[2]))[:2]
    else:  # behind the camera: no ray, take the box centre
        u, v = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    (a, b), (c, d) = HIP_REGION
    u = float(np.clip(u, x0 + a * (x1 - x0), x0 + b * (x1 - x0)))
    v = float(np.clip(v, y0 + c * (y1 - y0), y0 + d * (y1 - y0)))
    y = (v - K[1, 2]) / K[1, 1]  # K^-1 [u, v, 1] of an upper-triangular K with K[2] = [0, 0, 1]
    x = (u - K[0, 2] - K[0, 1] * y) / K[0, 0]
    return np.array([x, y, 1.0]) * depth_m


def _slope(history: Deque[Tuple[int, np.ndarray, np.ndarray]], now_ns: int) -> Optional[np.ndarray]:
    """Least-squares rate of change (3,) of the world positions of the last window, m/s
    (None: fewer than two)."""
    recent = [(t, p) for t, p, _ in history if now_ns - t <= VELOCITY_WINDOW_S * 1e9]
    if len(recent) < 2:
        return None
    t = np.array([(ti - now_ns) * 1e-9 for ti, _ in recent])
    p = np.stack([pi for _, pi in recent])  # N x 3
    t = t - t.mean()
    return (t @ (p - p.mean(0))) / max(float(t @ t), 1e-12)


class DepthPlacement:
    """Per-track depth placement of WHAM's people (see the module docstring)."""

    def __init__(self) -> None:
        # track id -> (stamp ns, depth-placed world root (3,), its correction of WHAM's (3,))
        self._history: Dict[int, Deque[Tuple[int, np.ndarray, np.ndarray]]] = {}

    def apply(self, human: HumanEstimate, stamp_ns: int, root_depth_m: Optional[float],
              K: np.ndarray,
              camera_to_world: Optional[Callable[[np.ndarray], np.ndarray]]) -> HumanEstimate:
        """Move ``human`` (in place) to its depth root; sets ``root_source``.

        Args:
            human: WHAM's monocular estimate of one person in one frame.
            stamp_ns: the frame's stamp.
            root_depth_m: measured hip-centre z, m, or None (no reading: WHAM's estimate stays).
            K: (3, 3) intrinsics of the frame.
            camera_to_world: camera optical frame points (..., 3) -> world (..., 3), now; None
                when this frame has no world pose (``fixed_frame`` without TF): only the camera
                frame moves, the world fields stay unset and the history untouched.
        """
        history = self._history.setdefault(human.track_id, deque(maxlen=HISTORY_SIZE))
        if root_depth_m is not None:
            root = root_on_ray(human.trans_cam, root_depth_m, K, human.bbox_xyxy)
            shift = root - human.trans_cam
            human.trans_cam = root
            human.smpl_joints_cam = human.smpl_joints_cam + shift
            human.coco_joints_cam = human.coco_joints_cam + shift
            if human.vertices_cam is not None:
                human.vertices_cam = human.vertices_cam + shift
            human.root_source = "depth"
            if camera_to_world is not None:
                world = camera_to_world(root)
                history.append((stamp_ns, world, world - human.trans_world))
        else:
            human.root_source = "monocular"
        if not history or camera_to_world is None:
            return human
        delta = history[-1][2]
        human.trans_world = human.trans_world + delta
        human.smpl_joints_world = human.smpl_joints_world + delta
        human.coco_joints_world = human.coco_joints_world + delta
        human.feet_world = human.feet_world + delta
        rate = _slope(history, stamp_ns) if root_depth_m is not None else None
        if rate is not None:
            human.root_velocity_world = rate
        return human

    def end_track(self, track_id: int) -> None:
        """Forget a track's corrections."""
        self._history.pop(track_id, None)

    def reset(self) -> None:
        """Forget every track."""
        self._history.clear()
