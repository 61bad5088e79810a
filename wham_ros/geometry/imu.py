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
Memory is bounded: samples older than ``buffer_ns`` before the newest, and beyond
``max_samples``, are dropped.

Rest and bias (see :meth:`ImuIntegrator._update_rest`): every quarter window, the newest
``rest_window_ns`` of samples is tested. The camera is at rest when the gyro spread is at the
noise level, the gyro means of the window's two halves agree within ``rest_rate_sigmas``
standard errors (a motion fading out does not), the accelerometer's magnitude is steady and its
direction does not turn between the two halves, and the mean rate is the bias: once a bias is
known, the window mean minus the bias must be within ``rest_rate_sigmas`` standard errors
(sample noise / sqrt(N) and the bias uncertainty; not for a fixed bias) on every axis, and the
angle it integrates to over the window within ``rest_max_angle_rad``; a steady pan of 0.01 rad/s
fails both. Before
any bias is known, the mean must be below ``max_bias_rad_s``. While the stream is younger than
``rest_window_ns``, the window is everything since its first sample, once that spans
``start_rest_window_ns``: a short start rest, or one whose first samples were lost, is used.
The bias is a Kalman estimate of a random walk (``bias_random_walk``), updated by samples of
confirmed rest (the older half of each rest window except the first of a rest that does not
begin with the stream, each sample once; with ``bias_from_rest``) and by rotation observations
of other sensors (:meth:`ImuIntegrator.observe_rotation`: images, TF), each gated like a rest,
so each update moves it by at most a few standard errors, and its norm stays below
``max_bias_rad_s``.
:meth:`ImuIntegrator.status` reports the bias, its uncertainty and the orientation uncertainty
the gyro has accumulated since the last rest.
"""
from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from wham_ros.geometry.so3 import exp_so3, exp_so3_product, is_rotation, log_so3
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
        buffer_ns: samples older than newest - buffer_ns are discarded (the history window).
        max_samples: at most this many samples are kept (the oldest go first).
        clock_reset_samples: this many consecutive ``late`` samples clear the buffer.
        fixed_bias_rad_s: (3,) gyro bias in the IMU frame; when set, the estimator is not used.
        estimate_bias: estimate the bias (ignored when fixed_bias_rad_s is set).
        bias_from_rest: confirmed rests update the bias (the ``rest`` bias source).
        rest_window_ns: window of the at-rest test.
        rest_gyro_std_rad_s: max per-axis gyro std over the window to count as at rest; a sample
            more than 3x this from the last quiet window's mean ends a rest at once.
        rest_accel_std_m_s2: max std of |a| over the window to count as at rest (if accel given).
        rest_max_tilt_rad: max angle between the mean accelerations of the window's two halves.
        rest_rate_sigmas: max |window mean - bias| per axis, in standard errors.
        rest_max_angle_rad: max angle the bias-corrected gyro integrates to over the window.
        rest_min_samples: fewest samples in a window to judge rest.
        max_bias_rad_s: largest believable bias norm (a larger window mean is motion).
        bias_random_walk: rate random walk of the bias, rad/s/sqrt(s) (Kalman process noise).
        gyro_noise_density: prior white-noise density, rad/s/sqrt(Hz), until a rest measures it.
        start_rest_window_ns: shortest rest judged at the start of the stream (the first samples
            of a new publisher can be lost, and a start rest may be short): while the stream
            is younger than ``rest_window_ns``, a window from its first sample of at least
            this length is tested, and its older half is used (nothing moved before it).
        observed_bias_floor_rad_s: rotation observations (images, TF) never make the bias
            uncertainty smaller than this (they are not as clean as a rest).
    """

    R_cam_imu: np.ndarray = field(default_factory=lambda: np.eye(3))
    time_offset_ns: int = 0
    max_rate_rad_s: float = 35.0
    max_accel_m_s2: float = 160.0
    max_gap_ns: int = 50_000_000
    max_extrapolation_ns: int = 20_000_000
    buffer_ns: int = 10 * NS_PER_S
    max_samples: int = 20_000
    clock_reset_samples: int = 50
    fixed_bias_rad_s: Optional[np.ndarray] = None
    estimate_bias: bool = True
    bias_from_rest: bool = True
    rest_window_ns: int = NS_PER_S
    rest_gyro_std_rad_s: float = 0.02
    rest_accel_std_m_s2: float = 0.2
    rest_max_tilt_rad: float = 0.003
    rest_rate_sigmas: float = 5.0
    rest_max_angle_rad: float = 0.005
    rest_min_samples: int = 20
    max_bias_rad_s: float = 0.1
    bias_random_walk: float = 5e-5
    gyro_noise_density: float = 3e-4
    start_rest_window_ns: int = 500_000_000
    observed_bias_floor_rad_s: float = 1e-4


@dataclass
class ImuStatus:
    """What the gyro model knows (for diagnostics); rad, rad/s, s.

    Attributes:
        bias_rad_s: (3,) current bias (IMU frame).
        bias_source: ``fixed``, ``estimated`` or ``unknown`` (no rest or rotation observation yet).
        bias_std_rad_s: 1-sigma uncertainty of each bias component now.
        at_rest: the last window test confirmed rest (and no sample moved since).
        time_since_rest_s: IMU time since the last confirmed rest (or the first sample).
        drift_since_rest_rad: 1-sigma orientation error per axis the gyro integrated since the
            last confirmed rest (bias uncertainty x time, white-noise random walk, bias walk).
        heading_drift_rad: the same accumulated since :meth:`mark_heading_reference` (heading
            is not re-levelled by gravity, so its error adds up over the segments).
        noise_density: gyro white-noise density used, rad/s/sqrt(Hz).
        samples: samples in the history window.
        bias_sources: where the current bias came from, oldest first: ``rest``, ``image``,
            ``tf`` (``fixed`` for a fixed bias; empty while unknown).
        unknown_for_s: IMU time since the first sample while no bias is known, else 0.
    """

    bias_rad_s: np.ndarray
    bias_source: str
    bias_std_rad_s: float
    at_rest: bool
    time_since_rest_s: float
    drift_since_rest_rad: float
    heading_drift_rad: float
    noise_density: float
    samples: int
    bias_sources: Tuple[str, ...] = ()
    unknown_for_s: float = 0.0


@dataclass
class BiasObservation:
    """Outcome of :meth:`ImuIntegrator.observe_rotation`.

    Attributes:
        accepted: the observation updated the bias.
        reason: empty when accepted, else why not (``fixed``, ``gyro``, ``gate``, ``max_bias``).
        innovation_rad_s: (3,) observed bias minus the bias before, IMU frame.
        std_rad_s: 1-sigma uncertainty of the observed bias (per axis).
        gyro_delta_R: (3, 3) the gyro's rotation over the interval (bias before the update).
    """

    accepted: bool
    reason: str = ""
    innovation_rad_s: np.ndarray = field(default_factory=lambda: np.zeros(3))
    std_rad_s: float = math.inf
    gyro_delta_R: np.ndarray = field(default_factory=lambda: np.eye(3))


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


def _rate_at(t: int, stamps: Sequence[int], rates: Sequence[Sequence[float]]) -> List[float]:
    """Rate (3,) at ``t`` ns: linear between the samples ``stamps`` (sorted) and ``rates``,
    the first / last rate held outside them."""
    if t <= stamps[0]:
        return list(rates[0])
    if t >= stamps[-1]:
        return list(rates[-1])
    j = bisect.bisect_right(stamps, t) - 1
    if t == stamps[j]:
        return list(rates[j])
    w = (t - stamps[j]) / (stamps[j + 1] - stamps[j])
    return [p + w * (q - p) for p, q in zip(rates[j], rates[j + 1])]


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
        # Bias: Kalman estimate (isotropic variance) of a random walk, updated at rest only.
        self._bias = np.zeros(3)
        self._bias_var = self.config.max_bias_rad_s ** 2  # prior: anything up to max_bias
        self._bias_var_ns: Optional[int] = None  # IMU time of _bias_var
        self._bias_count = 0
        self._bias_sources: List[str] = []  # sources that updated the bias, in first-use order
        self._bias_until_ns = -1
        self._stream_start_ns: Optional[int] = None  # first sample of the current clock
        self._last_rest_ns: Optional[int] = None  # last confirmed rest (or the first sample)
        self._rest_accel: Optional[Tuple[np.ndarray, int]] = None  # (mean accel (3,), stamp) at rest
        self._noise_density = self.config.gyro_noise_density
        self._last_rest_eval_ns: Optional[int] = None
        self._rest_mean = np.zeros(3)  # gyro mean of the last quiet window
        # Orientation uncertainty: segment since the last confirmed rest, and the sum of the
        # finished segments' variances (heading).
        self._segment_start_ns: Optional[int] = None
        self._segment_bias_var = self._bias_var_at(0)
        self._drift_base_std = 0.0  # orientation 1-sigma of the segment before its last bias update
        self._heading_var = 0.0
        self._heading_ref_var = 0.0  # heading variance when the world was fixed
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
        return self._bias.copy()

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
        rate = math.sqrt(w @ w)
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
        newest = i == len(self._stamps)  # decided before pruning shifts the indices
        self._stamps.insert(i, stamp)
        self._gyro.insert(i, w)
        self._accel.insert(i, accel)
        self._orient.insert(i, orient)
        self._prune()
        if self._segment_start_ns is None:  # first sample (of this clock)
            self._segment_start_ns = self._stream_start_ns = self._last_rest_ns = stamp
            self._segment_bias_var = self._bias_var_at(stamp)
            if self._bias_count:
                self._bias_var_ns = stamp
        if newest:
            if self.at_rest and np.linalg.norm(w - self._rest_mean) > 3.0 * self.config.rest_gyro_std_rad_s:
                self.at_rest = False  # motion ends "at rest" at once; rest needs a full quiet window
            self._update_rest(stamp)
        return True

    def reset(self) -> None:
        """Forget all samples (bias estimate, extrinsic and reject counts are kept)."""
        if self._stamps:  # carry the uncertainties over to the new clock
            last = self._stamps[-1]
            self._heading_var += self._segment_var(last)
            self._bias_var = self._bias_var_at(last)
        self._bias_var_ns = self._segment_start_ns = self._stream_start_ns = self._last_rest_ns = None
        self._drift_base_std = 0.0
        self._bias_until_ns = -1
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
        if not np.isfinite(v).all():
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
        if a.shape != (3,) or not np.isfinite(a).all() or math.sqrt(a @ a) > self.config.max_accel_m_s2:
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
        n = max(bisect.bisect_left(self._stamps, cutoff), len(self._stamps) - self.config.max_samples)
        if n > 0:
            del self._stamps[:n], self._gyro[:n], self._accel[:n], self._orient[:n]

    # ------------------------------------------------------------------ bias
    def _bias_var_at(self, t_ns: int) -> float:
        """Bias variance (per axis, (rad/s)^2) propagated to ``t_ns`` by the random walk."""
        if self._fixed_bias is not None:
            return 0.0
        if self._bias_var_ns is None:
            return self._bias_var
        dt = max(t_ns - self._bias_var_ns, 0) / NS_PER_S
        return self._bias_var + self.config.bias_random_walk ** 2 * dt

    def _update_rest(self, stamp: int) -> None:
        """Window test at the newest sample ``stamp``; updates the bias at confirmed rest."""
        cfg = self.config
        start = self._stream_start_ns if self._stream_start_ns is not None else stamp
        young = stamp - start < cfg.rest_window_ns  # a start rest may be shorter than the window
        window = min(max(stamp - start, cfg.start_rest_window_ns), cfg.rest_window_ns) if young \
            else cfg.rest_window_ns
        if self._last_rest_eval_ns is not None and stamp - self._last_rest_eval_ns < window // 4:
            return
        lo = bisect.bisect_left(self._stamps, stamp - window)
        if len(self._stamps) - lo < cfg.rest_min_samples or stamp - self._stamps[lo] < window * 0.9:
            return
        self._last_rest_eval_ns = stamp
        stamps = np.asarray(self._stamps[lo:], dtype=np.int64)  # N
        gyro = np.asarray(self._gyro[lo:])  # N x 3
        accels = [a for a in self._accel[lo:] if a is not None]
        rest = self._window_at_rest(stamps, gyro, accels)
        first_of_rest = rest and not self.at_rest
        self.at_rest = rest
        if not rest:
            return
        self._rest_mean = gyro.mean(axis=0)
        if len(accels) >= cfg.rest_min_samples:
            self._rest_accel = (np.mean(accels, axis=0), stamp)
        # The older half of the first quiet window may hold the motion's tail, unless the window
        # begins with the stream (nothing was seen moving before it).
        if first_of_rest and self._stamps[lo] - start > cfg.rest_window_ns // 4:
            self._bias_until_ns = max(self._bias_until_ns, int(stamps[len(stamps) // 2]))
        std = gyro.std(axis=0)  # 3, the white noise at rest
        self._noise_density = float(np.sqrt(np.mean(std ** 2) * np.mean(np.diff(stamps)) / NS_PER_S))
        if cfg.estimate_bias and cfg.bias_from_rest and self._fixed_bias is None:
            # Only the older half of the window: motion starting at its end, still below the
            # thresholds, then does not leak into the estimate. Each sample is used once.
            half = lo + max((len(self._stamps) - lo) // 2, 1)
            first = bisect.bisect_right(self._stamps, self._bias_until_ns, lo, half)
            if first < half:
                self._kalman_update(np.asarray(self._gyro[first:half]), self._stamps[half - 1],
                                    float(np.mean(std ** 2)))
                self._add_source("rest")
                self._bias_until_ns = self._stamps[half - 1]
        self._end_segment(stamp)

    def _window_at_rest(self, stamps: np.ndarray, gyro: np.ndarray, accels: List[np.ndarray]) -> bool:
        """The rest test of one window: ``stamps`` (N,) ns, ``gyro`` (N, 3), valid accelerations."""
        cfg = self.config
        std = gyro.std(axis=0)  # 3
        if std.max() >= cfg.rest_gyro_std_rad_s:
            return False
        mean = gyro.mean(axis=0)  # 3
        # Steady: both halves have the same mean (a motion fading in or out does not).
        h = len(gyro) // 2
        se_halves = std * math.sqrt(1.0 / h + 1.0 / (len(gyro) - h))  # 3
        if np.any(np.abs(gyro[:h].mean(axis=0) - gyro[h:].mean(axis=0)) > cfg.rest_rate_sigmas * se_halves):
            return False
        if self.bias_estimated:
            # An estimated bias is as good as its variance says; a fixed one may be off by
            # more than a standard error, so it only gets the integrated-angle test.
            se = np.sqrt(std ** 2 / len(gyro) + self._bias_var_at(int(stamps[-1])))  # 3
            if self._fixed_bias is None and np.any(np.abs(mean - self.bias) > cfg.rest_rate_sigmas * se):
                return False
            rates = gyro - self.bias  # N x 3
            angle = np.sum(0.5 * (rates[1:] + rates[:-1]) * (np.diff(stamps)[:, None] / NS_PER_S), axis=0)
            if np.linalg.norm(angle) > cfg.rest_max_angle_rad:
                return False
        elif np.linalg.norm(mean) > cfg.max_bias_rad_s:
            return False
        if len(accels) >= cfg.rest_min_samples:
            a = np.asarray(accels)  # M x 3
            if float(np.linalg.norm(a, axis=1).std()) >= cfg.rest_accel_std_m_s2:
                return False
            m0, m1 = a[: len(a) // 2].mean(axis=0), a[len(a) // 2:].mean(axis=0)
            cos = m0 @ m1 / max(np.linalg.norm(m0) * np.linalg.norm(m1), 1e-12)
            if math.acos(min(max(cos, -1.0), 1.0)) > cfg.rest_max_tilt_rad:
                return False
        return True

    def _kalman_update(self, gyro: np.ndarray, t_ns: int, noise_var: float) -> None:
        """Fold ``gyro`` (n, 3) rest samples ending at ``t_ns`` into the bias (noise variance per axis)."""
        var = self._bias_var_at(t_ns)
        meas_var = noise_var / len(gyro)
        gain = var / (var + meas_var)
        bias = self._bias + gain * (gyro.mean(axis=0) - self._bias)
        norm = np.linalg.norm(bias)
        if norm > self.config.max_bias_rad_s:
            bias *= self.config.max_bias_rad_s / norm
        self._bias = bias
        self._bias_var = (1.0 - gain) * var
        self._bias_var_ns = t_ns
        self._bias_count += len(gyro)

    def _segment_var(self, t_ns: int) -> float:
        """Per-axis orientation variance (rad^2) integrated since the segment start."""
        if self._segment_start_ns is None:
            return 0.0
        dt = max(t_ns - self._segment_start_ns, 0) / NS_PER_S
        # The bias error is nearly constant over a segment: its angle adds up linearly, also on
        # top of the part before the last bias update (errors of one estimate are correlated).
        return ((self._drift_base_std + math.sqrt(self._segment_bias_var) * dt) ** 2
                + self._noise_density ** 2 * dt + self.config.bias_random_walk ** 2 * dt ** 3 / 3.0)

    def _end_segment(self, t_ns: int) -> None:
        """A confirmed rest: the drift so far goes to the heading sum, a new segment starts."""
        self._heading_var += self._segment_var(t_ns)
        self._drift_base_std = 0.0
        self._segment_start_ns = self._last_rest_ns = t_ns
        self._segment_bias_var = self._bias_var_at(t_ns)

    def _restart_segment(self, t_ns: int) -> None:
        """The bias was updated while moving: the drift so far stays, it grows slower from now on."""
        if self._segment_start_ns is None:
            return
        t_ns = max(t_ns, self._segment_start_ns)
        self._drift_base_std = math.sqrt(self._segment_var(t_ns))
        self._segment_start_ns = t_ns
        self._segment_bias_var = self._bias_var_at(t_ns)

    def _add_source(self, source: str) -> None:
        if source not in self._bias_sources:
            self._bias_sources.append(source)

    def observe_rotation(self, t0_ns: int, t1_ns: int, delta_R: np.ndarray, std_rad: float,
                         source: str) -> BiasObservation:
        """Use a camera rotation measured by another sensor (images, TF) as a bias observation.

        The gyro integrated over the same interval with the current bias ``b`` differs from the
        measured rotation by the bias error ``d``: ``R_meas^T R_gyro ~ exp(R_cam_imu d dt)``, so
        ``b + d`` is an observation of the bias with variance ``(std_rad / dt)^2`` plus the gyro's
        white noise over the interval, ``N^2 / dt``. It is rejected when ``d`` is more than
        ``rest_rate_sigmas`` standard errors (its own and the bias') on an axis, the same gate a
        rest passes, or when the bias it implies exceeds ``max_bias_rad_s``.

        Args:
            t0_ns: start of the interval (camera clock).
            t1_ns: end of the interval (camera clock), > t0_ns.
            delta_R (np.ndarray): (3, 3) measured ``C(t0)^T C(t1)``, camera optical frame.
            std_rad: 1-sigma uncertainty of ``delta_R`` (rad, per axis).
            source: name reported in :attr:`ImuStatus.bias_sources` (``image``, ``tf``).

        Returns:
            BiasObservation: whether and why (not) the bias was updated.
        """
        cfg = self.config
        if self._fixed_bias is not None or not cfg.estimate_bias:
            return BiasObservation(False, "fixed")
        dt = (int(t1_ns) - int(t0_ns)) / NS_PER_S
        R = np.asarray(delta_R, dtype=np.float64)
        if dt <= 0.0 or not math.isfinite(std_rad) or std_rad <= 0.0 or not is_rotation(R, tol=1e-4):
            return BiasObservation(False, "input")
        gyro = self.relative_rotation(t0_ns, t1_ns)
        if not gyro.valid:
            return BiasObservation(False, "gyro", gyro_delta_R=gyro.delta_R)
        d = self._R_cam_imu.T @ log_so3(R.T @ gyro.delta_R) / dt  # 3, IMU frame
        meas_var = (std_rad / dt) ** 2 + self._noise_density ** 2 / dt
        t_imu = int(t1_ns) + cfg.time_offset_ns
        var = self._bias_var_at(max(t_imu, self._bias_var_ns or t_imu))
        out = BiasObservation(False, "", d, math.sqrt(meas_var), gyro.delta_R)
        if np.any(np.abs(d) > cfg.rest_rate_sigmas * math.sqrt(var + meas_var)):
            out.reason = "gate"
            return out
        if np.linalg.norm(self._bias + d) > cfg.max_bias_rad_s:
            out.reason = "max_bias"
            return out
        gain = var / (var + meas_var)
        self._bias = self._bias + gain * d
        self._bias_var = max((1.0 - gain) * var, min(var, cfg.observed_bias_floor_rad_s ** 2))
        self._bias_var_ns = max(t_imu, self._bias_var_ns or t_imu)
        self._bias_count += 1
        self._add_source(source)
        self._restart_segment(min(t_imu, self._stamps[-1]) if self._stamps else t_imu)
        out.accepted = True
        return out

    def mark_heading_reference(self) -> None:
        """The world's heading is fixed now: heading drift counts from the newest sample on."""
        t = self._stamps[-1] if self._stamps else self._segment_start_ns
        self._heading_ref_var = self._heading_var + (self._segment_var(t) if t is not None else 0.0)

    def status(self) -> ImuStatus:
        """Bias, rest state and the accumulated orientation uncertainty at the newest sample."""
        t = self._stamps[-1] if self._stamps else (self._segment_start_ns or 0)
        seg = self._segment_var(t)
        source = "fixed" if self._fixed_bias is not None else "estimated" if self._bias_count else "unknown"
        start = self._segment_start_ns if self._segment_start_ns is not None else t
        unknown_for = 0.0
        if source == "unknown" and self._stream_start_ns is not None:
            unknown_for = max(t - self._stream_start_ns, 0) / NS_PER_S
        rest = self._last_rest_ns if self._last_rest_ns is not None else start
        return ImuStatus(bias_rad_s=self.bias, bias_source=source,
                         bias_std_rad_s=math.sqrt(self._bias_var_at(t)), at_rest=self.at_rest,
                         time_since_rest_s=(t - rest) / NS_PER_S,
                         drift_since_rest_rad=math.sqrt(seg),
                         heading_drift_rad=math.sqrt(max(self._heading_var + seg - self._heading_ref_var,
                                                         0.0)),
                         noise_density=self._noise_density, samples=len(self._stamps),
                         bias_sources=("fixed",) if self._fixed_bias is not None else tuple(self._bias_sources),
                         unknown_for_s=unknown_for)

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

    @property
    def rest_accel(self) -> Optional[Tuple[np.ndarray, int]]:
        """``(mean acceleration (3,) m/s^2, IMU frame; IMU stamp ns)`` of the last confirmed rest window."""
        return self._rest_accel

    def derotated_accel(self, t_ns: int, window_ns: int) -> np.ndarray:
        """Accelerations of ``[t_ns - window_ns, t_ns]`` turned into the IMU frame at ``t_ns``.

        Each sample ``a_i`` is rotated by the bias-corrected gyro from its stamp to ``t_ns``:
        ``a_i' = dR(t_i, t)^T a_i``. While the IMU only turns (no linear acceleration), all of
        them measure the same specific force (gravity, upwards) in the frame at ``t_ns``.

        Args:
            t_ns: end of the window (IMU clock).
            window_ns: window length.

        Returns:
            np.ndarray: (M, 3) m/s^2, IMU frame at ``t_ns`` (samples with a valid acceleration).
        """
        lo = bisect.bisect_left(self._stamps, t_ns - window_ns)
        hi = bisect.bisect_right(self._stamps, t_ns)
        if hi - lo < 2:
            return np.zeros((0, 3))
        stamps = np.asarray(self._stamps[lo:hi], dtype=np.int64)  # N
        gyro = np.asarray(self._gyro[lo:hi]) - self.bias  # N x 3
        steps = exp_so3(0.5 * (gyro[1:] + gyro[:-1]) * (np.diff(stamps) / NS_PER_S)[:, None])  # N-1 x 3 x 3
        # to_end[i] = dR(t_i, t_last) = steps[i] @ ... @ steps[N-2]; to_end[N-1] = I. Suffix
        # products by doubling (log2 N batched products instead of N small ones).
        to_end = np.concatenate([steps, np.eye(3)[None]])  # N x 3 x 3
        shift = 1
        while shift < len(to_end):
            to_end[:-shift] = to_end[:-shift] @ to_end[shift:]
            shift *= 2
        out = [to_end[i].T @ a for i, a in enumerate(self._accel[lo:hi]) if a is not None]
        return np.asarray(out).reshape(-1, 3)

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
        # Only the samples bracketing [a, b] matter (linear interpolation between neighbours);
        # a handful per frame, so plain Python floats (numpy's per-call cost dominates here).
        lo = max(bisect.bisect_right(self._stamps, a) - 1, 0)
        hi = bisect.bisect_left(self._stamps, b) + 1
        stamps = self._stamps[lo:hi]
        bias = self.bias.tolist()
        gyro = [[w - c for w, c in zip(g.tolist(), bias)] for g in self._gyro[lo:hi]]  # IMU frame
        knots = [a] + [t for t in stamps if a < t < b] + [b]
        # Rates at the knots: linear between samples, held beyond the data.
        rates = [_rate_at(t, stamps, gyro) for t in knots]
        dR = exp_so3_product([[0.5 * (p + q) * ((t1 - t0) / NS_PER_S) for p, q in zip(r0, r1)]
                              for t0, t1, r0, r1 in zip(knots, knots[1:], rates, rates[1:])])
        valid, reason = self._check_coverage(stamps, a, b, self._stamps[0], self._stamps[-1])
        R_ci = self._R_cam_imu
        return RelativeRotation(R_ci @ dR @ R_ci.T, valid, reason, len(knots) - 2)

    def _check_coverage(self, stamps: Sequence[int], a: int, b: int, first: int, last: int) -> Tuple[bool, str]:
        """Validity of an interval; ``stamps`` are the samples bracketing [a, b], ns."""
        cfg = self.config
        if a < first - cfg.max_extrapolation_ns:
            return False, f"no IMU data before {a} ns (first sample {first} ns)"
        if b > last + cfg.max_extrapolation_ns:
            return False, f"no IMU data after {last} ns (need {b} ns)"
        if len(stamps) > 1:
            gap = max(t1 - t0 for t0, t1 in zip(stamps, stamps[1:]))
            if gap > cfg.max_gap_ns:
                return False, f"IMU gap of {gap / 1e6:.1f} ms > max_gap_ns={cfg.max_gap_ns / 1e6:.1f} ms"
        return True, ""
