"""Heading of a body in a z-up world and its rate (planner-ready motion, ROS-free).

The heading is the yaw of the body's forward axis (SMPL +z, out of the chest) projected on
the world's horizontal plane: ``atan2(f_y, f_x)`` with ``f = R_world_body[:, 2]``, radians,
counter-clockwise about world +z (REP-103).
"""
from __future__ import annotations

import numpy as np


def heading(R_world_body: np.ndarray) -> np.ndarray:
    """Yaw of the SMPL forward axis (+z) about world z.

    Args:
        R_world_body (np.ndarray): (..., 3, 3) SMPL root orientation in the z-up world.

    Returns:
        np.ndarray: (...,) heading in (-pi, pi], rad.
    """
    forward = np.asarray(R_world_body)[..., :, 2]  # ... x 3
    return np.arctan2(forward[..., 1], forward[..., 0])


def heading_rate(R_prev: np.ndarray, R_now: np.ndarray, rate_hz: float) -> float:
    """Heading change between two consecutive steps times the step rate, rad/s.

    The difference is wrapped to (-pi, pi] (shortest turn).

    Args:
        R_prev (np.ndarray): (3, 3) world root orientation at the previous step.
        R_now (np.ndarray): (3, 3) world root orientation at this step.
        rate_hz: steps per second (WHAM: 30).
    """
    d = heading(R_now) - heading(R_prev)
    return float((d + np.pi) % (2.0 * np.pi) - np.pi) * float(rate_hz)
