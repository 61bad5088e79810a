"""A simulated camera rig with an IMU over minutes: rests, slow pans, free motion.

Ground truth is analytic, so minutes of simulated time cost little. The camera orientation
(camera optical frame -> REP-103 z-up world) is

    C(t) = Rz(yaw(t)) @ R_ZUP_YDOWN @ Rx(-pitch(t)) @ Rz(roll(t))

(heading about the world's vertical, pitch down about the optical x axis, roll about the
optical z axis). Each angle is the integral of a smooth rate profile (pans with 0.5 s cosine
ramps, windowed sinusoids for free motion), integrated on a 1 ms grid. The body rate in the
optical frame follows from ``w_C = Y^T w_X + w_Y`` for ``C = X Y``::

    w_cam = (R_ZUP_YDOWN Rx(-p) Rz(r))^T (yaw' e_z) + Rz(r)^T (-pitch' e_x) + roll' e_z

The IMU is mounted with ``R_cam_imu`` (camera optical <- IMU) and measures
``w_imu = R_cam_imu^T w_cam + bias(t) + white noise`` with a random-walk bias, and the specific
force ``a_imu = R_world_imu^T [0, 0, g] + noise`` (pure rotation, no lever arm).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, List, Tuple

import numpy as np

from wham_ros.geometry.frames import R_ZUP_YDOWN
from wham_ros.geometry.so3 import exp_so3
from wham_ros.types import ImuSample

G = 9.80665
NS = 1_000_000_000
GRID_S = 1e-3
RAMP_S = 0.5

# A mounting with all three axes mixed (about 135 deg): camera optical <- IMU.
R_CAM_IMU = exp_so3(np.array([0.9, -1.4, 1.7]))


@dataclass(frozen=True)
class Segment:
    """One piece of the motion.

    Attributes:
        kind: ``rest``, ``pan`` (constant rates with ramps) or ``move`` (sinusoids).
        duration_s: length.
        rates: (yaw, pitch, roll) rad/s: the constant rates of a pan, the amplitudes of a move.
    """

    kind: str
    duration_s: float
    rates: Tuple[float, float, float] = (0.0, 0.0, 0.0)


def five_minute_profile() -> List[Segment]:
    """5 min: rest first, then slow pans (0.01-0.1 rad/s), free motion and rests between."""
    return [
        Segment("rest", 6.0),
        Segment("pan", 30.0, (0.02, 0.0, 0.0)),   # slow heading pan: 0.6 rad in 30 s
        Segment("rest", 5.0),
        Segment("move", 20.0, (0.6, 0.4, 0.3)),
        Segment("rest", 4.0),
        Segment("pan", 30.0, (0.01, 0.0, 0.0)),   # the slowest pan: 0.3 rad in 30 s
        Segment("pan", 20.0, (-0.1, 0.0, 0.0)),
        Segment("rest", 5.0),
        Segment("pan", 15.0, (0.0, 0.02, 0.0)),   # a tilt pan: gravity turns in the IMU frame
        Segment("move", 30.0, (0.8, 0.3, 0.2)),
        Segment("rest", 4.0),
        Segment("pan", 40.0, (-0.05, 0.0, 0.01)),
        Segment("rest", 5.0),
        Segment("move", 40.0, (0.5, 0.3, 0.3)),
        Segment("rest", 6.0),
        Segment("pan", 30.0, (0.03, -0.01, 0.0)),
        Segment("rest", 10.0),
    ]


def _profile_rates(segments: List[Segment], t: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll rates (rad/s) at times ``t`` (N,)."""
    out = np.zeros((len(t), 3))
    start = 0.0
    freqs = np.array([0.35, 0.5, 0.7])
    for seg in segments:
        tau = t - start
        inside = (tau >= 0) & (tau < seg.duration_s)
        tau = tau[inside]
        rates = np.asarray(seg.rates, dtype=np.float64)
        # Cosine ramps at both ends: rates and their derivatives are continuous.
        edge = np.clip(np.minimum(tau, seg.duration_s - tau) / RAMP_S, 0.0, 1.0)
        env = 0.5 - 0.5 * np.cos(np.pi * edge)
        if seg.kind == "pan":
            out[inside] = env[:, None] * rates
        elif seg.kind == "move":
            out[inside] = env[:, None] * rates * np.sin(2 * np.pi * freqs * tau[:, None])
        start += seg.duration_s
    return out


@dataclass
class LongRig:
    """Camera rig following a list of segments from a tilted start.

    Attributes:
        segments: the motion profile (see :func:`five_minute_profile`).
        start_angles: (yaw, pitch down, roll) at t = 0, rad.
    """

    segments: List[Segment] = field(default_factory=five_minute_profile)
    start_angles: Tuple[float, float, float] = (0.4, np.deg2rad(25.0), np.deg2rad(10.0))

    def __post_init__(self) -> None:
        self.duration_s = float(sum(s.duration_s for s in self.segments))
        self._grid = np.arange(0.0, self.duration_s + 2 * GRID_S, GRID_S)  # G
        rates = _profile_rates(self.segments, self._grid)  # G x 3
        steps = 0.5 * (rates[1:] + rates[:-1]) * GRID_S
        self._angles = np.asarray(self.start_angles) + np.concatenate([np.zeros((1, 3)), np.cumsum(steps, 0)])

    def segment_times(self, kind: str) -> List[Tuple[float, float, Segment]]:
        """(start_s, end_s, segment) of every segment of ``kind``."""
        out, start = [], 0.0
        for seg in self.segments:
            if seg.kind == kind:
                out.append((start, start + seg.duration_s, seg))
            start += seg.duration_s
        return out

    def angles(self, t: np.ndarray) -> np.ndarray:
        """(N, 3) yaw, pitch down, roll at times ``t`` (N,) s."""
        t = np.asarray(t, dtype=np.float64)
        return np.stack([np.interp(t, self._grid, self._angles[:, k]) for k in range(3)], -1)

    def orientations(self, t: np.ndarray) -> np.ndarray:
        """(N, 3, 3) ``C(t)`` = R_world_cam."""
        a = self.angles(t)
        return _rz(a[:, 0]) @ R_ZUP_YDOWN @ _rx(-a[:, 1]) @ _rz(a[:, 2])

    def body_rates(self, t: np.ndarray) -> np.ndarray:
        """(N, 3) angular velocity in the camera optical frame, rad/s."""
        t = np.asarray(t, dtype=np.float64)
        a, d = self.angles(t), _profile_rates(self.segments, t)  # N x 3 each
        Rr = _rz(a[:, 2])  # N x 3 x 3
        Y = R_ZUP_YDOWN @ _rx(-a[:, 1]) @ Rr  # N x 3 x 3
        # Y^T (yaw' e_z) = yaw' * (row 2 of Y); Rr^T (-pitch' e_x) = -pitch' * (row 0 of Rr)
        return d[:, :1] * Y[:, 2, :] - d[:, 1:2] * Rr[:, 0, :] + d[:, 2:3] * np.array([0.0, 0.0, 1.0])


def _rx(angle: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations about x by ``angle`` (N,) rad."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros((len(angle), 3, 3))
    R[:, 0, 0] = 1.0
    R[:, 1, 1], R[:, 1, 2], R[:, 2, 1], R[:, 2, 2] = c, -s, s, c
    return R


def _rz(angle: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations about z by ``angle`` (N,) rad."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros((len(angle), 3, 3))
    R[:, 2, 2] = 1.0
    R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1] = c, -s, s, c
    return R


@dataclass
class NoisyImu:
    """IMU error model: white noise, a random-walk bias, jittered stamps.

    Attributes:
        rate_hz: sample rate.
        gyro_noise_density: gyro white noise, rad/s/sqrt(Hz) (per-sample std = this x
            sqrt(rate_hz); 2.5e-4 is a consumer MEMS gyro such as the BMI088).
        bias0_rad_s: (3,) initial bias, IMU frame.
        bias_walk: bias random walk, rad/s/sqrt(s).
        accel_noise_m_s2: per-sample accelerometer noise std.
        jitter_frac: uniform stamp jitter as a fraction of the period.
        R_cam_imu: camera optical <- IMU rotation.
        seed: random seed.
    """

    rate_hz: float = 400.0
    gyro_noise_density: float = 2.5e-4
    bias0_rad_s: np.ndarray = field(default_factory=lambda: np.array([0.012, -0.02, 0.008]))
    bias_walk: float = 3e-5
    accel_noise_m_s2: float = 0.03
    jitter_frac: float = 0.2
    R_cam_imu: np.ndarray = field(default_factory=lambda: R_CAM_IMU.copy())
    seed: int = 0

    def samples(self, rig: LongRig, start_s: float = 0.0,
                end_s: float = None) -> Tuple[List[ImuSample], np.ndarray]:
        """Samples over [start_s, end_s] and the true bias (N, 3) at each of them."""
        rng = np.random.default_rng(self.seed)
        end_s = rig.duration_s if end_s is None else end_s
        n = int((end_s - start_s) * self.rate_hz)
        t = start_s + (np.arange(n) + rng.uniform(-self.jitter_frac, self.jitter_frac, n)) / self.rate_hz
        t = np.sort(np.clip(t, start_s, end_s))
        dt = np.diff(t, prepend=t[0])
        bias = self.bias0_rad_s + np.cumsum(rng.normal(0.0, 1.0, (n, 3)) * self.bias_walk
                                            * np.sqrt(dt)[:, None], axis=0)
        noise = rng.normal(0.0, self.gyro_noise_density * np.sqrt(self.rate_hz), (n, 3))
        w = rig.body_rates(t) @ self.R_cam_imu + bias + noise  # rows: R_cam_imu^T w_cam + ...
        R_world_imu = rig.orientations(t) @ self.R_cam_imu
        a = R_world_imu[:, 2, :] * G + rng.normal(0.0, self.accel_noise_m_s2, (n, 3))  # R^T [0, 0, g]
        stamps = np.round(t * NS).astype(np.int64)
        return [ImuSample(stamp_ns=int(s), angular_velocity=wi, linear_acceleration=ai, frame_id="imu_link")
                for s, wi, ai in zip(stamps, w, a)], bias


def live_processing(frame_stamps_ns: np.ndarray, latency_ns: int, rng: np.random.Generator,
                    min_ms: float = 10.0, max_ms: float = 70.0) -> List[Tuple[int, int]]:
    """Which frames a latest-frame-only worker processes, and when it starts each.

    Frames arrive ``latency_ns`` after their stamp; the worker takes the newest arrived frame
    when it is free (older waiting ones are dropped), working a uniform random time.

    Returns:
        list of (frame index, start time ns), in processing order.
    """
    arrive = np.asarray(frame_stamps_ns) + latency_ns
    out, free, i = [], int(arrive[0]), 0
    while i < len(arrive):
        if arrive[i] > free:
            free = int(arrive[i])
        newest = int(np.searchsorted(arrive, free, side="right")) - 1
        out.append((newest, free))
        free += int(rng.uniform(min_ms, max_ms) * 1e6)
        i = newest + 1
    return out


def play_live(samples: List[ImuSample], frame_stamps_ns: np.ndarray, add_imu: Callable[[ImuSample], Any],
              process: Callable[[int], Any], seed: int = 3, latency_ns: int = 20_000_000,
              imu_latency_ns: int = 2_000_000) -> List[Tuple[int, Any]]:
    """Play a recording as the live node sees it.

    IMU samples reach ``add_imu`` as they arrive (``imu_latency_ns`` after their stamp); frames
    go through a latest-frame-only worker (:func:`live_processing`) that calls ``process(stamp)``.

    Returns:
        list of (frame stamp ns, what ``process`` returned), in processing order.
    """
    arrival = np.array([s.stamp_ns for s in samples]) + imu_latency_ns
    plan = live_processing(frame_stamps_ns, latency_ns, np.random.default_rng(seed))
    k, out = 0, []
    for i, start_ns in plan:
        while k < len(samples) and arrival[k] <= start_ns:
            add_imu(samples[k])
            k += 1
        out.append((int(frame_stamps_ns[i]), process(int(frame_stamps_ns[i]))))
    return out
