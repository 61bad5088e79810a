"""Gravity direction and the gravity-aligned ``init_root`` for WHAM.

WHAM's world frame is the frame in which ``init_root`` (the root orientation at the track's
first frame) is expressed. The demo passes the camera-frame root, so its world is the first
camera frame: tilted whenever the camera is. Here the root is instead expressed in the
**level camera frame** L of the track's first frame: y along gravity (down), z = the camera's
forward axis projected on the horizontal plane (same heading), x = y x z (right). Same axes
naming as the optical frame, so a level camera has L = camera.

``R_gc`` (3, 3) maps camera optical vectors to L (``v_L = R_gc @ v_cam``), and

    init_root_world = R_gc @ R_root_cam        (6D = first two rows)

makes WHAM's world = L at the track start: gravity-aligned, y-down, heading of the camera,
which is also how WHAM's training worlds look (y-down, gravity along +y).

Gravity sources, in order: the IMU orientation (if the driver fills it; reference frame
z-up ENU as in REP-103/REP-145, or NED), else the accelerometer averaged while quasi-static
(|a| close to g, small spread, small rotation rate). Without any (no IMU, or moving the
whole time) the fallback is WHAM's own behaviour: ``R_gc = I``, i.e. the world is the first
camera frame, level only if the camera is.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from wham_ros.geometry.so3 import matrix_to_6d, quat_xyzw_to_matrix

LOGGER = logging.getLogger(__name__)

STANDARD_GRAVITY = 9.80665
ORIENTATION_REFERENCES = ("enu", "ned")


@dataclass
class GravityEstimate:
    """Unit gravity ("down") direction in some frame.

    Attributes:
        down: (3,) unit vector pointing down (direction of gravity).
        source: ``orientation``, ``accelerometer`` or ``world_frame``.
    """

    down: np.ndarray
    source: str


def gravity_from_orientation(q_xyzw: Optional[np.ndarray], reference: str = "enu") -> Optional[np.ndarray]:
    """Down direction in the IMU frame from ``sensor_msgs/Imu.orientation``.

    Args:
        q_xyzw (np.ndarray | None): (4,) orientation of the IMU in its reference frame,
            ``(x, y, z, w)``; None, non-finite or far from unit norm (e.g. the all-zero quaternion
            drivers send when there is no orientation) -> None.
        reference: ``enu`` (reference z up, REP-103) or ``ned`` (reference z down).

    Returns:
        np.ndarray | None: (3,) unit down vector in the IMU frame.

    Raises:
        ValueError: unknown reference.
    """
    if reference not in ORIENTATION_REFERENCES:
        raise ValueError(f"Unknown orientation reference {reference!r}; expected one of {ORIENTATION_REFERENCES}")
    if q_xyzw is None:
        return None
    q = np.asarray(q_xyzw, dtype=np.float64)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or abs(np.linalg.norm(q) - 1.0) > 0.1:
        return None
    R_ref_imu = quat_xyzw_to_matrix(q)
    down_ref = np.array([0.0, 0.0, -1.0 if reference == "enu" else 1.0])
    return R_ref_imu.T @ down_ref


def gravity_from_accelerometer(accel: np.ndarray, gyro: Optional[np.ndarray] = None,
                               max_norm_error_m_s2: float = 0.5, max_std_m_s2: float = 0.3,
                               max_rate_rad_s: float = 0.2, min_samples: int = 10) -> Optional[np.ndarray]:
    """Down direction from accelerometer samples taken while quasi-static.

    At rest an accelerometer measures the specific force ``-g`` (pointing up), so
    ``down = -mean(a) / |mean(a)|``.

    Args:
        accel (np.ndarray): (N, 3) m/s^2, one frame (the IMU's).
        gyro (np.ndarray | None): (M, 3) rad/s over the same window, to reject rotating windows.
        max_norm_error_m_s2: max | |mean a| - g |.
        max_std_m_s2: max per-axis standard deviation of a.
        max_rate_rad_s: max mean |w|.
        min_samples: fewest accelerometer samples.

    Returns:
        np.ndarray | None: (3,) unit down vector, or None if not quasi-static / too few samples.
    """
    a = np.asarray(accel, dtype=np.float64).reshape(-1, 3)
    a = a[np.all(np.isfinite(a), axis=1)]
    if len(a) < min_samples:
        return None
    mean = a.mean(axis=0)
    if abs(np.linalg.norm(mean) - STANDARD_GRAVITY) > max_norm_error_m_s2 or a.std(axis=0).max() > max_std_m_s2:
        return None
    if gyro is not None and len(gyro) and np.linalg.norm(np.asarray(gyro), axis=1).mean() > max_rate_rad_s:
        return None
    return -mean / np.linalg.norm(mean)


def estimate_gravity(accel: np.ndarray, gyro: Optional[np.ndarray], orientation_xyzw: Optional[np.ndarray],
                     R_cam_imu: np.ndarray, reference: str = "enu",
                     **quasi_static) -> Optional[GravityEstimate]:
    """Down direction in the camera optical frame from the best available IMU source.

    Args:
        accel (np.ndarray): (N, 3) recent accelerations, IMU frame (see ``ImuIntegrator.recent``).
        gyro (np.ndarray | None): (M, 3) recent rates, IMU frame.
        orientation_xyzw (np.ndarray | None): (4,) newest valid IMU orientation.
        R_cam_imu (np.ndarray): (3, 3) IMU -> camera optical rotation.
        reference: reference frame of the orientation field (``enu`` or ``ned``).
        **quasi_static: limits passed to :func:`gravity_from_accelerometer`.

    Returns:
        GravityEstimate | None: down in the camera optical frame; None when neither source is usable.
    """
    down = gravity_from_orientation(orientation_xyzw, reference)
    source = "orientation"
    if down is None:
        down, source = gravity_from_accelerometer(accel, gyro, **quasi_static), "accelerometer"
    if down is None:
        return None
    return GravityEstimate(R_cam_imu @ down, source)


def level_rotation(down_cam: Optional[np.ndarray]) -> np.ndarray:
    """``R_gc``: camera optical frame -> level camera frame (y down along gravity, same heading).

    The rows of ``R_gc`` are the level axes in camera coordinates: ``y_L = down``,
    ``z_L`` = camera forward (0, 0, 1) minus its gravity component, normalised,
    ``x_L = y_L x z_L``. When the camera looks within ~6 deg of straight down (up), the image
    "up" (-y) (image "down" (+y)) axis takes the place of forward.

    Args:
        down_cam (np.ndarray | None): (3,) gravity direction in the camera optical frame
            (any positive length); None -> identity (WHAM's default world = camera frame).

    Returns:
        np.ndarray: (3, 3) proper rotation.

    Raises:
        ValueError: zero-length or non-finite direction.
    """
    if down_cam is None:
        return np.eye(3)
    d = np.asarray(down_cam, dtype=np.float64)
    n = np.linalg.norm(d)
    if d.shape != (3,) or not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"down_cam must be a finite non-zero 3-vector, got {down_cam!r}")
    y = d / n
    fwd = np.array([0.0, 0.0, 1.0])
    if abs(fwd @ y) > 0.995:
        fwd = np.array([0.0, -1.0, 0.0]) if fwd @ y > 0 else np.array([0.0, 1.0, 0.0])
    z = fwd - (fwd @ y) * y
    z /= np.linalg.norm(z)
    x = np.cross(y, z)
    return np.stack([x, y, z])


def init_root_6d(root_cam: np.ndarray, R_gc: Optional[np.ndarray] = None) -> np.ndarray:
    """WHAM ``init_root`` (6D, first two rows) of a track from its camera-frame root.

    Args:
        root_cam (np.ndarray): (3, 3) SMPL root orientation in the camera optical frame (HMR2.0
            ``global_orient`` as a matrix, first frame of the track).
        R_gc (np.ndarray | None): (3, 3) from :func:`level_rotation` at that frame; None keeps
            WHAM's demo behaviour (world = camera frame).

    Returns:
        np.ndarray: (6,) ``6D(R_gc @ root_cam)``.
    """
    R = np.asarray(root_cam, dtype=np.float64)
    if R_gc is not None:
        R = np.asarray(R_gc, dtype=np.float64) @ R
    return matrix_to_6d(R)
