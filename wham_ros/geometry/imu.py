"""Gyro buffer and integrator: ``sensor_msgs/Imu`` samples -> camera rotation between two stamps.

Frames and units:
    * Samples are in the IMU frame (``ImuSample.frame_id``): angular velocity in rad/s,
      linear acceleration (specific force, +g upwards at rest) in m/s^2, stamps in ns.
    * ``R_cam_imu`` (3, 3) maps IMU-frame vectors into the camera optical frame
      (x right, y down, z forward): ``w_cam = R_cam_imu @ w_imu``. It is the rotation part of
      TF ``lookup_transform(target=camera_optical_frame, source=imu_frame)``.
    * :meth:`ImuIntegrator.relative_rotation` returns ``dR = C(t0)^T C(t1)`` where ``C`` is the
      camera -> world orientation. With R = world -> camera (WHAM's convention) this is
      ``R(t0) R(t1)^T``, the quantity WHAM turns into ``cam_angvel``.

Integration: the gyro is a body rate, ``dC/dt = C hat(w)``, so
``dR = prod_k exp(w_k dt_k)`` in time order. Between samples the (bias-corrected) rate is
taken linear in time; each sub-interval uses its midpoint rate (second order). The
boundaries t0, t1 are interpolated between the bracketing samples; before the first / after
the last sample the nearest rate is held, at most ``max_extrapolation_ns``.

Rejected input (never stored, counted in :attr:`ImuIntegrator.rejected`, one warning per
cause, repeated at 10, 100, 1000, ... occurrences): non-numeric or wrongly shaped fields
(``bad_shape``, includes zero-length arrays), NaN/inf rates (``non_finite``), |w| above
``max_rate_rad_s`` (``spike``), an exact duplicate stamp (``duplicate``), a stamp older than
the buffer (``late``), a non-integer or negative stamp (``bad_stamp``). Other out-of-order
samples are inserted in time order (results already returned are not changed). If
``clock_reset_samples`` late samples arrive in a row, the IMU clock is taken to have jumped
back (e.g. a looping bag): the buffer is cleared with a warning and filled again.
Invalid accelerations / orientations (NaN, spikes, zero quaternion) are dropped from the sample
(``bad_accel`` / ``bad_orientation``) while its valid gyro reading is kept.
"""
from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from wham_ros.geometry.so3 import exp_so3, is_rotation
from wham_ros.types import ImuSample

LOGGER = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000


class ImuError(ValueError):
    """Invalid IMU configuration (e.g. an extrinsic that is not a rotation)."""


@dataclass(frozen=True)
class ImuConfig:
    """Parameters of :class:`ImuIntegrator` (units in the names).

    Attributes:
        R_cam_imu: (3, 3) rotation IMU frame -> camera optical frame (TF or parameter).
        time_offset_ns: added to a camera stamp to get the IMU clock time (t_imu = t_cam + offset).
        max_rate_rad_s: |w| above this is a spike and the sample is rejected (default 2000 deg/s).
        max_accel_m_s2: |a| above this drops the acceleration of the sample (default 16 g).
        max_gap_ns: sample spacing above this inside an integrated interval -> result invalid.
        max_extrapolation_ns: longest hold of the first / last rate beyond the data.
        buffer_ns: samples older than newest - buffer_ns are discarded.
        clock_reset_samples: this many consecutive ``late`` samples clear the buffer.
        fixed_bias_rad_s: (3,) gyro bias in the IMU frame; when set, the estimator is not used.
        estimate_bias: estimate the bias while at rest (ignored when fixed_bias_rad_s is set).
        rest_window_ns: window of the at-rest test.
        rest_gyro_std_rad_s: max per-axis gyro std over the window to count as at rest.
        rest_accel_std_m_s2: max std of |a| over the window to count as at rest (if accel given).
        rest_max_rate_rad_s: max |mean w| at rest (a bias larger than this is not believed).
        rest_min_samples: fewest samples in a window to judge rest.
        bias_memory_samples: at-rest samples the bias average remembers (older ones fade).
    """

    R_cam_imu: np.ndarray = field(default_factory=lambda: np.eye(3))
    time_offset_ns: int = 0
    max_rate_rad_s: float = 35.0
    max_accel_m_s2: float = 160.0
    max_gap_ns: int = 50_000_000
    max_extrapolation_ns: int = 20_000_000
    buffer_ns: int = 10 * NS_PER_S
    clock_reset_samples: int = 50
    fixed_bias_rad_s: Optional[np.ndarray] = None
    estimate_bias: bool = True
    rest_window_ns: int = NS_PER_S
    rest_gyro_std_rad_s: float = 0.02
    rest_accel_std_m_s2: float = 0.2
    rest_max_rate_rad_s: float = 0.1
    rest_min_samples: int = 20
    bias_memory_samples: int = 4000


@dataclass
class RelativeRotation:
    """Camera rotation between two stamps.

    Attributes:
        delta_R: (3, 3) ``C(t0)^T C(t1)`` = ``R(t0) R(t1)^T`` (R world -> camera), optical frame.
        valid: False when the interval had a gap, too little data or bad stamps; ``delta_R`` is
            then a best effort (held rates across the gap, identity without data).
        reason: empty when valid, else why not.
        n_samples: IMU samples strictly inside (t0, t1).
    """

    delta_R: np.ndarray
    valid: bool
    reason: str = ""
    n_samples: int = 0


class RejectCounter:
    """Counts rejected inputs by cause and logs a warning on the 1st, 10th, 100th, ... one."""

    def __init__(self, logger: logging.Logger, what: str):
        """Create an empty counter.

        Args:
            logger: where the warnings go.
            what: name of the input stream, used in the messages.
        """
        self._logger = logger
        self._what = what
        self.counts: Dict[str, int] = {}

    def reject(self, cause: str, detail: str) -> None:
        """Count one rejection and warn when the count is a power of ten.

        Args:
            cause: short key (e.g. ``spike``).
            detail: what was received and what was expected.
        """
        n = self.counts.get(cause, 0) + 1
        self.counts[cause] = n
        if n in (1, 10, 100, 1000) or n % 10000 == 0:
            self._logger.warning("%s rejected (%s, %d so far): %s", self._what, cause, n, detail)


class ImuIntegrator:
    """Buffers gyro samples, estimates the bias at rest and integrates camera rotations."""

    def __init__(self, config: Optional[ImuConfig] = None):
        """Create an empty buffer.

        Args:
            config: parameters; defaults to :class:`ImuConfig` ().

        Raises:
            ImuError: if ``config.R_cam_imu`` is not a rotation or the fixed bias is not (3,).
        """
        self.config = config or ImuConfig()
        self._R_cam_imu = np.eye(3)
        self.set_extrinsic(self.config.R_cam_imu)
        self._fixed_bias = None
        if self.config.fixed_bias_rad_s is not None:
            bias = np.asarray(self.config.fixed_bias_rad_s, dtype=np.float64)
            if bias.shape != (3,) or not np.all(np.isfinite(bias)):
                raise ImuError(f"fixed_bias_rad_s must be 3 finite numbers (rad/s), got {bias!r}")
            self._fixed_bias = bias
        self._stamps: List[int] = []
        self._gyro: List[np.ndarray] = []
        self._accel: List[Optional[np.ndarray]] = []
        self._orient: List[Optional[np.ndarray]] = []
        self._late_in_row = 0
        self._bias_sum = np.zeros(3)
        self._bias_count = 0.0
        self._bias_until_ns = -1
        self._last_rest_eval_ns: Optional[int] = None
        self.at_rest = False
        self.rejected = RejectCounter(LOGGER, "IMU sample")

    # ------------------------------------------------------------------ configuration
    def set_extrinsic(self, R_cam_imu: np.ndarray) -> None:
        """Set the camera <- IMU rotation (e.g. when TF becomes available).

        Args:
            R_cam_imu (np.ndarray): (3, 3) maps IMU vectors to camera optical vectors.

        Raises:
            ImuError: if it is not a proper rotation (tolerance 1e-4).
        """
        R = np.asarray(R_cam_imu, dtype=np.float64)
        if not is_rotation(R, tol=1e-4):
            raise ImuError(f"R_cam_imu must be a 3x3 proper rotation, got {R!r}")
        self._R_cam_imu = R

    @property
    def R_cam_imu(self) -> np.ndarray:
        """(3, 3) current camera <- IMU rotation."""
        return self._R_cam_imu.copy()

    @property
    def bias(self) -> np.ndarray:
        """(3,) gyro bias in the IMU frame (rad/s) subtracted before integration."""
        if self._fixed_bias is not None:
            return self._fixed_bias.copy()
        return self._bias_sum / self._bias_count if self._bias_count else np.zeros(3)

    @property
    def bias_estimated(self) -> bool:
        """True once a fixed bias is set or at-rest samples were averaged."""
        return self._fixed_bias is not None or self._bias_count > 0

    @property
    def newest_stamp_ns(self) -> Optional[int]:
        """Stamp (IMU clock) of the newest stored sample, or None."""
        return self._stamps[-1] if self._stamps else None

    def __len__(self) -> int:
        """Number of stored samples."""
        return len(self._stamps)

    # ------------------------------------------------------------------ input
    def add(self, sample: ImuSample) -> bool:
        """Validate and store one sample.

        Args:
            sample (ImuSample): one reading in the IMU frame.

        Returns:
            bool: True if the gyro reading was stored, False if the sample was rejected.
        """
        stamp = sample.stamp_ns
        if isinstance(stamp, (bool, np.bool_)) or not isinstance(stamp, (int, np.integer)) or stamp < 0:
            self.rejected.reject("bad_stamp", f"stamp_ns={stamp!r}; expected a non-negative int (ns)")
            return False
        stamp = int(stamp)
        w = self._vector3(sample.angular_velocity, "angular_velocity")
        if w is None:
            return False
        rate = float(np.linalg.norm(w))
        if rate > self.config.max_rate_rad_s:
            self.rejected.reject("spike", f"|angular_velocity|={rate:.3g} rad/s at {stamp} ns; "
                                          f"expected <= max_rate_rad_s={self.config.max_rate_rad_s}")
            return False
        if self._stamps:
            floor = self._stamps[-1] - self.config.buffer_ns
            if stamp <= floor:
                self.rejected.reject("late", f"stamp {stamp} ns is older than the buffer (starts {floor} ns)")
                self._late_in_row += 1
                if self._late_in_row >= self.config.clock_reset_samples:
                    LOGGER.warning("IMU clock jumped back (%d late samples in a row, newest %d ns): "
                                   "clearing the buffer", self._late_in_row, stamp)
                    self.reset()
                return False
            i = bisect.bisect_left(self._stamps, stamp)
            if i < len(self._stamps) and self._stamps[i] == stamp:
                self.rejected.reject("duplicate", f"stamp {stamp} ns already stored")
                return False
        else:
            i = 0
        self._late_in_row = 0
        accel = self._optional_accel(sample.linear_acceleration, stamp)
        orient = self._optional_orientation(sample.orientation_xyzw, stamp)
        self._stamps.insert(i, stamp)
        self._gyro.insert(i, w)
        self._accel.insert(i, accel)
        self._orient.insert(i, orient)
        self._prune()
        if i == len(self._stamps) - 1:
            if np.linalg.norm(w - self.bias) > self.config.rest_max_rate_rad_s:
                self.at_rest = False  # motion ends "at rest" at once; rest needs a full quiet window
            self._update_rest(stamp)
        return True

    def reset(self) -> None:
        """Forget all samples (bias estimate, extrinsic and reject counts are kept)."""
        self._stamps, self._gyro, self._accel, self._orient = [], [], [], []
        self._late_in_row = 0
        self._last_rest_eval_ns = None
        self.at_rest = False

    def _vector3(self, value, name: str) -> Optional[np.ndarray]:
        try:
            v = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            self.rejected.reject("bad_shape", f"{name}={value!r}; expected 3 numbers")
            return None
        if v.shape != (3,):
            self.rejected.reject("bad_shape", f"{name} has shape {v.shape}; expected (3,)")
            return None
        if not np.all(np.isfinite(v)):
            self.rejected.reject("non_finite", f"{name}={v.tolist()}; expected finite values")
            return None
        return v

    def _optional_accel(self, value, stamp: int) -> Optional[np.ndarray]:
        if value is None:
            return None
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            a = np.full(1, np.nan)
        if a.shape != (3,) or not np.all(np.isfinite(a)) or np.linalg.norm(a) > self.config.max_accel_m_s2:
            self.rejected.reject("bad_accel", f"linear_acceleration={value!r} at {stamp} ns; expected 3 "
                                              f"finite values with norm <= {self.config.max_accel_m_s2} "
                                              "m/s^2 (gyro kept)")
            return None
        return a

    def _optional_orientation(self, value, stamp: int) -> Optional[np.ndarray]:
        if value is None:
            return None
        try:
            q = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            q = np.full(1, np.nan)
        if q.shape != (4,) or not np.all(np.isfinite(q)) or abs(np.linalg.norm(q) - 1.0) > 0.1:
            self.rejected.reject("bad_orientation", f"orientation_xyzw={value!r} at {stamp} ns; expected "
                                                    "a unit quaternion (x, y, z, w) (gyro kept)")
            return None
        return q / np.linalg.norm(q)

    def _prune(self) -> None:
        cutoff = self._stamps[-1] - self.config.buffer_ns
        n = bisect.bisect_left(self._stamps, cutoff)
        if n > 0:
            del self._stamps[:n], self._gyro[:n], self._accel[:n], self._orient[:n]

    # ------------------------------------------------------------------ bias
    def _update_rest(self, stamp: int) -> None:
        cfg = self.config
        if self._last_rest_eval_ns is not None and stamp - self._last_rest_eval_ns < cfg.rest_window_ns // 4:
            return
        lo = bisect.bisect_left(self._stamps, stamp - cfg.rest_window_ns)
        if len(self._stamps) - lo < cfg.rest_min_samples or stamp - self._stamps[0] < cfg.rest_window_ns * 0.9:
            return
        self._last_rest_eval_ns = stamp
        gyro = np.asarray(self._gyro[lo:])  # N x 3
        accels = [a for a in self._accel[lo:] if a is not None]
        rest = bool(gyro.std(axis=0).max() < cfg.rest_gyro_std_rad_s
                    and np.linalg.norm(gyro.mean(axis=0)) < cfg.rest_max_rate_rad_s)
        if rest and len(accels) >= cfg.rest_min_samples:
            rest = float(np.linalg.norm(np.asarray(accels), axis=1).std()) < cfg.rest_accel_std_m_s2
        self.at_rest = rest
        if rest and cfg.estimate_bias and self._fixed_bias is None:
            # Average every at-rest sample once. Only the older half of a rest window is used:
            # motion that starts at the end of a window, still below the thresholds, then does
            # not leak into the estimate. The memory is capped so a drifting bias is followed.
            half = lo + max((len(self._stamps) - lo) // 2, 1)
            first = bisect.bisect_right(self._stamps, self._bias_until_ns, lo, half)
            if first < half:
                if self._bias_count > cfg.bias_memory_samples:
                    self._bias_sum *= cfg.bias_memory_samples / self._bias_count
                    self._bias_count = float(cfg.bias_memory_samples)
                self._bias_sum += np.sum(self._gyro[first:half], axis=0)
                self._bias_count += half - first
                self._bias_until_ns = self._stamps[half - 1]

    # ------------------------------------------------------------------ output
    def recent(self, t_ns: int, window_ns: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """Raw samples in ``[t_ns - window_ns, t_ns]`` (IMU clock) for gravity estimation.

        Args:
            t_ns: end of the window (IMU clock).
            window_ns: window length.

        Returns:
            Tuple of ``gyro`` (N, 3) rad/s (not bias-corrected), ``accel`` (M, 3) m/s^2 (only
            samples that had a valid acceleration), ``stamps`` (N,) ns, and the newest valid
            orientation (4,) ``(x, y, z, w)`` in the window or None. All in the IMU frame.
        """
        lo = bisect.bisect_left(self._stamps, t_ns - window_ns)
        hi = bisect.bisect_right(self._stamps, t_ns)
        gyro = np.asarray(self._gyro[lo:hi]).reshape(-1, 3)
        accel = np.asarray([a for a in self._accel[lo:hi] if a is not None]).reshape(-1, 3)
        orient = next((q for q in reversed(self._orient[lo:hi]) if q is not None), None)
        return gyro, accel, np.asarray(self._stamps[lo:hi], dtype=np.int64), orient

    def covers(self, t_ns: int) -> bool:
        """True if the buffer has a sample at or after camera stamp ``t_ns`` (+ time offset).

        A caller can wait for this before :meth:`relative_rotation` to avoid extrapolation.
        """
        return bool(self._stamps) and self._stamps[-1] >= t_ns + self.config.time_offset_ns

    def relative_rotation(self, t0_ns: int, t1_ns: int) -> RelativeRotation:
        """Integrate the bias-corrected gyro between two camera stamps.

        Args:
            t0_ns: previous frame stamp (camera clock).
            t1_ns: current frame stamp (camera clock), ``>= t0_ns``.

        Returns:
            RelativeRotation: ``delta_R`` = ``C(t0)^T C(t1)`` in the camera optical frame.
        """
        off = self.config.time_offset_ns
        a, b = int(t0_ns) + off, int(t1_ns) + off
        if b < a:
            LOGGER.warning("relative_rotation: t1=%d ns is before t0=%d ns; expected t1 >= t0", t1_ns, t0_ns)
            return RelativeRotation(np.eye(3), False, "t1 before t0")
        if not self._stamps:
            return RelativeRotation(np.eye(3), False, "no IMU data")
        if b == a:
            return RelativeRotation(np.eye(3), True)
        # Only the samples bracketing [a, b] matter (linear interpolation between neighbours).
        lo = max(bisect.bisect_right(self._stamps, a) - 1, 0)
        hi = bisect.bisect_left(self._stamps, b) + 1
        stamps = np.asarray(self._stamps[lo:hi], dtype=np.int64)
        gyro = np.asarray(self._gyro[lo:hi]) - self.bias  # N x 3, IMU frame
        inside = (stamps > a) & (stamps < b)
        knots = np.concatenate(([a], stamps[inside], [b]))  # K
        # Rates at the knots: linear between samples, held beyond the data (np.interp clamps).
        rates = np.stack([np.interp(knots, stamps, gyro[:, k]) for k in range(3)], axis=-1)  # K x 3
        dt = np.diff(knots) / NS_PER_S  # K-1
        steps = exp_so3(0.5 * (rates[:-1] + rates[1:]) * dt[:, None])  # K-1 x 3 x 3
        dR = np.eye(3)
        for step in steps:
            dR = dR @ step
        valid, reason = self._check_coverage(stamps, a, b, self._stamps[0], self._stamps[-1])
        R_ci = self._R_cam_imu
        return RelativeRotation(R_ci @ dR @ R_ci.T, valid, reason, int(inside.sum()))

    def _check_coverage(self, stamps: np.ndarray, a: int, b: int, first: int, last: int) -> Tuple[bool, str]:
        """Validity of an interval; ``stamps`` (N,) are the samples bracketing [a, b]."""
        cfg = self.config
        if a < first - cfg.max_extrapolation_ns:
            return False, f"no IMU data before {a} ns (first sample {first} ns)"
        if b > last + cfg.max_extrapolation_ns:
            return False, f"no IMU data after {last} ns (need {b} ns)"
        if len(stamps) > 1:
            gap = int(np.diff(stamps).max())
            if gap > cfg.max_gap_ns:
                return False, f"IMU gap of {gap / 1e6:.1f} ms > max_gap_ns={cfg.max_gap_ns / 1e6:.1f} ms"
        return True, ""
