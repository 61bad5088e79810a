"""Synthetic ground truth for the geometry tests: a rotating, tilted camera rig with an IMU.

World: REP-103 z-up. Camera orientation ``C(t)`` = R_world_cam (optical frame -> world).
The camera's body rate ``w_cam(t)`` (optical frame, rad/s) is a smooth sum of sinusoids,
zero during an initial rest period. Ground truth ``C(t)`` is integrated on a 0.25 ms grid
(midpoint rule on the analytic rate; error ~1e-8 rad over seconds).

The IMU sits on the same rigid body with a non-trivial mounting ``R_cam_imu``; it measures
``w_imu = R_cam_imu^T w_cam + bias + noise`` and the specific force
``a_imu = R_world_imu^T [0, 0, g] + noise`` (pure rotation, no lever arm).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from wham_ros.geometry.frames import R_ZUP_YDOWN
from wham_ros.geometry.so3 import exp_so3, rot_x, rot_z
from wham_ros.types import ImuSample

G = 9.80665
NS = 1_000_000_000

# A mounting with all three axes mixed (about 135 deg): camera optical <- IMU.
R_CAM_IMU = exp_so3(np.array([0.9, -1.4, 1.7]))


def tilted_start(yaw: float = 0.4, pitch_down: float = np.deg2rad(25.0), roll: float = np.deg2rad(10.0)) -> np.ndarray:
    """R_world_cam of a camera with heading ``yaw``, pitched down and rolled.

    The level optical frame (x right, y down, z forward) maps to world by R_ZUP_YDOWN; pitch
    down = rotation about the optical x axis by -pitch_down (forward tips towards +y = down);
    roll = rotation about the optical z axis.
    """
    return rot_z(yaw) @ R_ZUP_YDOWN @ rot_x(-pitch_down) @ rot_z(roll)


@dataclass
class Rig:
    """Camera rig motion: rate profile and start orientation."""

    C0: np.ndarray = field(default_factory=tilted_start)
    rest_s: float = 0.0
    amp: np.ndarray = field(default_factory=lambda: np.array([0.8, 1.2, 0.5]))
    freq: np.ndarray = field(default_factory=lambda: np.array([0.7, 0.45, 1.3]))
    phase: np.ndarray = field(default_factory=lambda: np.array([0.3, 1.1, 2.0]))

    def rate(self, t: np.ndarray) -> np.ndarray:
        """w_cam(t) (..., 3) rad/s in the optical frame; zero during the rest period."""
        t = np.asarray(t, dtype=np.float64)[..., None]
        tau = np.maximum(t - self.rest_s, 0.0)
        ramp = np.clip(tau / 0.2, 0.0, 1.0)  # smooth-ish start after rest
        return ramp * self.amp * np.sin(2 * np.pi * self.freq * tau + self.phase)

    def orientations(self, times_s: Sequence[float], substep_s: float = 2.5e-4) -> np.ndarray:
        """Ground-truth C(t) (N, 3, 3) at sorted ``times_s`` (seconds, >= 0)."""
        times = np.asarray(times_s, dtype=np.float64)
        out = np.empty((len(times), 3, 3))
        C, t = self.C0.copy(), 0.0
        for i, target in enumerate(times):
            n = int(np.ceil((target - t) / substep_s))
            if n > 0:
                edges = np.linspace(t, target, n + 1)
                mids = 0.5 * (edges[:-1] + edges[1:])
                steps = exp_so3(self.rate(mids) * np.diff(edges)[:, None])
                for S in steps:
                    C = C @ S
            t = target
            out[i] = C
        return out


@dataclass
class ImuModel:
    """IMU sampling and error model."""

    rate_hz: float = 400.0
    jitter_frac: float = 0.3
    gyro_noise_rad_s: float = 0.005
    bias_rad_s: np.ndarray = field(default_factory=lambda: np.array([0.012, -0.02, 0.008]))
    accel_noise_m_s2: float = 0.03
    R_cam_imu: np.ndarray = field(default_factory=lambda: R_CAM_IMU.copy())
    gaps_s: List[tuple] = field(default_factory=list)
    seed: int = 0

    def samples(self, rig: Rig, duration_s: float) -> List[ImuSample]:
        """Simulated samples over [0, duration_s] with jittered stamps and gaps removed."""
        rng = np.random.default_rng(self.seed)
        n = int(duration_s * self.rate_hz) + 1
        t = np.arange(n) / self.rate_hz + rng.uniform(-self.jitter_frac, self.jitter_frac, n) / self.rate_hz
        t = np.clip(t, 0.0, None)
        keep = np.ones(n, bool)
        for a, b in self.gaps_s:
            keep &= ~((t > a) & (t < b))
        t = np.sort(t[keep])
        C = rig.orientations(t)
        w_imu = rig.rate(t) @ self.R_cam_imu  # rows: R_cam_imu^T w_cam
        w_imu = w_imu + self.bias_rad_s + rng.normal(0.0, self.gyro_noise_rad_s, w_imu.shape)
        R_world_imu = C @ self.R_cam_imu
        a = np.einsum("nji,j->ni", R_world_imu, np.array([0.0, 0.0, G]))  # R_world_imu^T g_up
        a = a + rng.normal(0.0, self.accel_noise_m_s2, a.shape)
        return [ImuSample(stamp_ns=int(round(ti * NS)), angular_velocity=wi, linear_acceleration=ai,
                          orientation_xyzw=None, frame_id="imu_link")
                for ti, wi, ai in zip(t, w_imu, a)]


def frame_stamps_ns(duration_s: float, fps: float = 30.0, start_s: float = 0.05,
                    jitter_s: float = 0.0, seed: int = 1) -> np.ndarray:
    """Camera frame stamps (ns) at ``fps`` with optional uniform jitter."""
    rng = np.random.default_rng(seed)
    t = np.arange(start_s, duration_s, 1.0 / fps)
    t = t + rng.uniform(-jitter_s, jitter_s, len(t))
    return np.round(t * NS).astype(np.int64)


def true_relative_rotations(rig: Rig, stamps_ns: np.ndarray) -> np.ndarray:
    """(N-1, 3, 3) ``C_{k-1}^T C_k`` between consecutive stamps."""
    C = rig.orientations(np.asarray(stamps_ns) / NS)
    return np.swapaxes(C[:-1], -1, -2) @ C[1:]


def feed(integrator, samples: Sequence[ImuSample], order: Optional[np.ndarray] = None) -> int:
    """Add samples (optionally in a given order); return how many were accepted."""
    idx = range(len(samples)) if order is None else order
    return sum(bool(integrator.add(samples[i])) for i in idx)
