"""Frames: WHAM's y-down worlds, the shared z-up REP-103 world, camera poses, track anchors.

Frames (``R_a_b`` maps frame-b coordinates to frame-a coordinates; metres)::

    parent (optional, e.g. odom) --static T_parent_world--> wham_world (z-up, REP-103)
    wham_world --T_world_cam(t)--> camera optical frame (x right, y down, z forward)
    wham_world --R_world_wham(track), origin(track)--> WHAM world of one track
        (y-down level frame at the track start: x right, y down = gravity, z = heading)

* **wham_world** (name configurable): REP-103 x forward, y left, z up, origin at the camera
  optical centre at pipeline start, x along the camera's heading then. Gravity-aligned when
  the start-up gravity was known, else z is the start camera's up (-y) axis.
* A y-down level frame maps to wham_world by ``R_ZUP_YDOWN`` (x_zup = z_ydown,
  y_zup = -x_ydown, z_zup = -y_ydown); the same matrix maps an optical frame to a REP-103
  body frame (``camera_link``).
* WHAM's demo y-up output is ``X_yup = M^T X_ydown`` with M = rotation of pi about x
  (``R_YUP_YDOWN`` = M^T = diag(1, -1, -1)); provided for parity with the reference.

Each track's WHAM world starts at the origin; :class:`TrackAnchor` places it in the shared
world: its hip at the track's first frame sits at the camera-observed position
``p0 = p_world_cam(t_s) + R_world_cam(t_s) @ trans_cam(t_s)`` and its axes are the level
frame at t_s (camera heading at t_s, tracked by integrating the camera rotation since t0).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from wham_ros.geometry.gravity import init_root_6d, level_rotation
from wham_ros.geometry.so3 import is_rotation, orthonormalize

LOGGER = logging.getLogger(__name__)

R_ZUP_YDOWN = np.array([[0.0, 0.0, 1.0],
                        [-1.0, 0.0, 0.0],
                        [0.0, -1.0, 0.0]])
"""(3, 3) y-down frame (x right, y down, z forward) -> REP-103 z-up (x forward, y left, z up)."""

R_YUP_YDOWN = np.diag([1.0, -1.0, -1.0])
"""(3, 3) WHAM y-down world -> WHAM demo y-up world (``M^T``, M = axis_angle_to_matrix([pi, 0, 0]))."""

DOWN_ZUP = np.array([0.0, 0.0, -1.0])


class FrameError(ValueError):
    """Invalid pose input (not a rotation, wrong shape, anchor used before placement)."""


def transform_points(R: np.ndarray, t: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``R @ p + t`` for every point.

    Args:
        R (np.ndarray): (3, 3).
        t (np.ndarray): (3,).
        points (np.ndarray): (..., 3).

    Returns:
        np.ndarray: (..., 3).
    """
    return np.asarray(points, dtype=np.float64) @ np.asarray(R).T + np.asarray(t)


def transform_rotations(R: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """``R @ Q`` for every rotation Q (re-expresses an orientation in another frame).

    Args:
        R (np.ndarray): (3, 3).
        rotations (np.ndarray): (..., 3, 3).

    Returns:
        np.ndarray: (..., 3, 3).
    """
    return np.asarray(R) @ np.asarray(rotations, dtype=np.float64)


def ydown_to_zup(points: np.ndarray) -> np.ndarray:
    """Points/vectors from a y-down level frame to REP-103 z-up axes (same origin).

    Args:
        points (np.ndarray): (..., 3).

    Returns:
        np.ndarray: (..., 3).
    """
    return transform_points(R_ZUP_YDOWN, np.zeros(3), points)


def ydown_to_yup(points: np.ndarray) -> np.ndarray:
    """Points/vectors from WHAM's y-down world to the reference demo's y-up world.

    Args:
        points (np.ndarray): (..., 3).

    Returns:
        np.ndarray: (..., 3).
    """
    return transform_points(R_YUP_YDOWN, np.zeros(3), points)


def make_transform(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(4, 4) homogeneous transform from a rotation (3, 3) and translation (3,)."""
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def invert_transform(T: np.ndarray) -> np.ndarray:
    """Inverse of a (4, 4) rigid transform."""
    R, t = T[:3, :3], T[:3, 3]
    return make_transform(R.T, -R.T @ t)


def _rotation(R, name: str) -> np.ndarray:
    """Validated rotation (tolerance 1e-4), made orthonormal to ~1e-16 (two Newton-Schulz steps)."""
    R = np.asarray(R, dtype=np.float64)
    if not is_rotation(R, tol=1e-4):
        raise FrameError(f"{name} must be a 3x3 proper rotation, got {R!r}")
    return orthonormalize(R, iterations=2)


class WorldFrame:
    """The shared z-up world (``wham_world``) and the camera's pose in it over time.

    Created once at pipeline start. The camera orientation is then tracked either by
    :meth:`apply_relative_rotation` (gyro / camera motion source, per WHAM step) or set from
    TF / odometry by :meth:`set_camera_pose` or :meth:`set_camera_pose_in_parent`.
    """

    def __init__(self, R_gc0: Optional[np.ndarray] = None, frame_id: str = "wham_world",
                 T_parent_cam0: Optional[np.ndarray] = None, parent_frame_id: Optional[str] = None):
        """Fix the world at the current camera pose.

        Args:
            R_gc0 (np.ndarray | None): (3, 3) camera -> level rotation at start
                (:func:`~wham_ros.geometry.gravity.level_rotation`); None = gravity unknown
                (world z = the start camera's up axis).
            frame_id: name of the world frame.
            T_parent_cam0 (np.ndarray | None): (4, 4) pose of the camera optical frame in a fixed
                parent frame (e.g. TF ``odom -> camera_optical``) at start; the world is then
                attached to that parent by :meth:`T_parent_world`.
            parent_frame_id: name of that parent frame.

        Raises:
            FrameError: if R_gc0 or T_parent_cam0 is not a rotation / rigid transform.
        """
        self.frame_id = frame_id
        self.gravity_known = R_gc0 is not None
        R_gc0 = np.eye(3) if R_gc0 is None else _rotation(R_gc0, "R_gc0")
        self._R_wc = R_ZUP_YDOWN @ R_gc0
        self._R_ahead = np.eye(3)  # part of _R_wc not yet measured (see apply_relative_rotation)
        self._p_wc = np.zeros(3)
        self.parent_frame_id = parent_frame_id
        self._T_parent_world = None
        if T_parent_cam0 is not None:
            T = np.asarray(T_parent_cam0, dtype=np.float64)
            if T.shape != (4, 4):
                raise FrameError(f"T_parent_cam0 must be 4x4, got shape {T.shape}")
            _rotation(T[:3, :3], "T_parent_cam0 rotation")
            self._T_parent_world = T @ invert_transform(self.T_world_cam())

    # --------------------------------------------------------------- camera pose
    def camera_pose(self) -> Tuple[np.ndarray, np.ndarray]:
        """Current ``(R_world_cam (3, 3), p_world_cam (3,))`` of the optical frame."""
        return self._R_wc.copy(), self._p_wc.copy()

    def T_world_cam(self) -> np.ndarray:
        """(4, 4) current camera optical frame -> world transform (publish as TF world -> camera)."""
        return make_transform(self._R_wc, self._p_wc)

    def T_parent_world(self) -> Optional[np.ndarray]:
        """(4, 4) static parent -> world transform, or None if not attached to a parent."""
        return None if self._T_parent_world is None else self._T_parent_world.copy()

    def apply_relative_rotation(self, delta_R: np.ndarray, ahead_R: Optional[np.ndarray] = None) -> None:
        """Advance the camera orientation by one step's ``R_{t-1} R_t^T`` (= ``C_{t-1}^T C_t``).

        The orientation has a measured part and an optional part ahead of the measurements
        (e.g. extrapolated past the newest IMU sample): ``delta_R`` continues the measured
        part (the previous call's ``ahead_R`` is dropped), ``ahead_R`` is shown on top of it
        until the next call.

        Args:
            delta_R (np.ndarray): (3, 3) measured rotation since the previous measured time
                (optical frame).
            ahead_R (np.ndarray | None): (3, 3) rotation from there to the current frame;
                None = identity.
        """
        R = self._R_wc
        if not np.array_equal(self._R_ahead, np.eye(3)):
            R = R @ self._R_ahead.T
        # Factors orthonormal to ~1e-16: one Newton-Schulz step keeps the product so (no SVD).
        R = orthonormalize(R @ _rotation(delta_R, "delta_R"))
        self._R_ahead = np.eye(3) if ahead_R is None else _rotation(ahead_R, "ahead_R")
        self._R_wc = R if ahead_R is None else orthonormalize(R @ self._R_ahead)

    def set_camera_pose(self, R_world_cam: np.ndarray, p_world_cam: Optional[np.ndarray] = None) -> None:
        """Set the camera pose directly in world coordinates.

        Args:
            R_world_cam (np.ndarray): (3, 3).
            p_world_cam (np.ndarray | None): (3,) metres; None keeps the position.
        """
        self._R_wc = _rotation(R_world_cam, "R_world_cam")
        self._R_ahead = np.eye(3)
        if p_world_cam is not None:
            self._p_wc = np.asarray(p_world_cam, dtype=np.float64).reshape(3)

    def set_camera_pose_in_parent(self, T_parent_cam: np.ndarray) -> None:
        """Set the camera pose from TF ``parent -> camera_optical`` (needs a parent at start).

        Args:
            T_parent_cam (np.ndarray): (4, 4).

        Raises:
            FrameError: if the world was not attached to a parent.
        """
        if self._T_parent_world is None:
            raise FrameError("set_camera_pose_in_parent needs T_parent_cam0 at WorldFrame construction")
        T = invert_transform(self._T_parent_world) @ np.asarray(T_parent_cam, dtype=np.float64)
        self.set_camera_pose(T[:3, :3], T[:3, 3])

    def correct_tilt(self, down_cam: np.ndarray) -> None:
        """Re-level the camera orientation with a fresh gravity measurement, keeping its heading.

        Removes gyro drift in roll/pitch (heading drift cannot be observed from gravity).

        Args:
            down_cam (np.ndarray): (3,) gravity direction in the camera optical frame.
        """
        R_gc = level_rotation(down_cam)
        # Heading of the current level frame: its forward (z_L) axis in the world, made horizontal.
        fwd = self._R_wc @ level_rotation(self._R_wc.T @ DOWN_ZUP).T @ np.array([0.0, 0.0, 1.0])
        yaw = np.arctan2(fwd[1], fwd[0])
        c, s = np.cos(yaw), np.sin(yaw)
        R_yaw = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        self._R_wc = R_yaw @ R_ZUP_YDOWN @ R_gc
        self.gravity_known = True

    def level_rotation(self) -> np.ndarray:
        """``R_gc`` of the camera now, with gravity = the world's -z (see :func:`level_rotation`)."""
        return level_rotation(self._R_wc.T @ DOWN_ZUP)

    def camera_to_world(self, points_cam: np.ndarray) -> np.ndarray:
        """Points (..., 3) in the current camera optical frame -> world (..., 3)."""
        return transform_points(self._R_wc, self._p_wc, points_cam)


@dataclass
class TrackAnchor:
    """Places one track's WHAM world (y-down, origin at its start) into the shared world.

    Create with :meth:`begin` at the track's first frame (before WHAM runs it), give WHAM
    :meth:`init_root_6d`, then call :meth:`place` with the first WHAM output and the camera
    pose of its frame.

    Attributes:
        R_gc: (3, 3) camera -> the track's WHAM world (level frame at the start).
        R_world_wham: (3, 3) track's WHAM world -> shared world.
        origin_world: (3,) hip centre at the placement frame in the shared world (after
            :meth:`place`).
        trans_wham0: (3,) WHAM ``trans_world`` of the placement frame.
        offset_world: (3,) correction added to every position (``world_anchor: observed``,
            :mod:`wham_ros.geometry.anchoring`); zeros otherwise.
    """

    R_gc: np.ndarray
    R_world_wham: np.ndarray
    origin_world: Optional[np.ndarray] = field(default=None)
    trans_wham0: Optional[np.ndarray] = field(default=None)
    offset_world: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @classmethod
    def begin(cls, world: WorldFrame) -> "TrackAnchor":
        """Anchor a new track at the camera's current pose.

        Args:
            world: the shared world, already advanced to the track's first frame.

        Returns:
            TrackAnchor: not yet placed (no origin).
        """
        R_gc = world.level_rotation()
        return cls(R_gc=R_gc, R_world_wham=world.camera_pose()[0] @ R_gc.T)

    def init_root_6d(self, root_cam: np.ndarray) -> np.ndarray:
        """WHAM ``init_root`` (6,) for HMR2.0's camera-frame root (3, 3) at the first frame."""
        return init_root_6d(root_cam, self.R_gc)

    @property
    def placed(self) -> bool:
        """True once :meth:`place` was called (and no :meth:`rotate` since)."""
        return self.origin_world is not None

    def place(self, R_world_cam: np.ndarray, p_world_cam: np.ndarray, trans_cam: np.ndarray,
              trans_wham: np.ndarray) -> None:
        """(Re-)place the track at a frame where the camera pose is known.

        The hip centre at that frame is put where the camera sees it,
        ``origin_world = p_world_cam + R_world_cam @ trans_cam``, and WHAM's world trajectory
        continues from there (``trans_wham`` is WHAM's ``trans_world`` at the same frame).

        Args:
            R_world_cam (np.ndarray): (3, 3) camera optical frame -> world at that frame.
            p_world_cam (np.ndarray): (3,) camera position in the world, m.
            trans_cam (np.ndarray): (3,) WHAM ``trans_cam`` (hip centre, optical frame), m.
            trans_wham (np.ndarray): (3,) WHAM ``trans_world`` (y-down) at that frame, m.
        """
        self.origin_world = (np.asarray(p_world_cam, dtype=np.float64)
                             + np.asarray(R_world_cam) @ np.asarray(trans_cam, dtype=np.float64))
        self.trans_wham0 = np.asarray(trans_wham, dtype=np.float64).reshape(3)
        self.offset_world = np.zeros(3)

    def rotate(self, R_correction: np.ndarray) -> None:
        """Turn the track's WHAM world by ``R_correction`` (world <- world as it was thought),
        e.g. when TF corrects the camera orientation after a gap or a relocalisation; the
        track then needs :meth:`place` again."""
        self.R_world_wham = _rotation(R_correction, "R_correction") @ self.R_world_wham
        self.origin_world = None

    def position_to_world(self, points_wham: np.ndarray) -> np.ndarray:
        """WHAM-world points (``trans_world``, ``feet``; y-down) -> shared world.

        ``p_world = origin_world + R_world_wham @ (p_wham - trans_wham0) + offset_world``.

        Args:
            points_wham (np.ndarray): (..., 3).

        Returns:
            np.ndarray: (..., 3).

        Raises:
            FrameError: before :meth:`place`.
        """
        if not self.placed:
            raise FrameError("TrackAnchor.place must be called with the first WHAM output first")
        return transform_points(self.R_world_wham, self.origin_world + self.offset_world
                                - self.R_world_wham @ self.trans_wham0, points_wham)

    def rotation_to_world(self, rotations_wham: np.ndarray) -> np.ndarray:
        """WHAM-world orientations (``poses_root_world``, y-down) (..., 3, 3) -> shared world."""
        return transform_rotations(self.R_world_wham, rotations_wham)
