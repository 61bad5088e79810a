"""World grounding in one object: IMU/TF in, ``cam_angvel`` and ``init_root`` for WHAM, world poses out.

Per camera frame the pipeline calls :meth:`WorldGrounding.on_frame`; if it says ``step``, it
runs WHAM on that frame with the returned ``cam_angvel``. A new track calls
:meth:`WorldGrounding.start_track` (before its first WHAM step, for ``init_root``), then
:meth:`WorldGrounding.place_track` with its first WHAM output; every output is mapped with
:meth:`WorldGrounding.to_world`. IMU samples / camera orientations are pushed as they arrive.

The shared world is created on the first WHAM step: gravity from the IMU if available
(orientation field, else the accelerometer samples of the last ``gravity_window_ns`` turned
by the gyro into the frame's IMU frame, when they agree: a camera that only turns; else the
accelerometer of the last rest, at most 5 s ago, turned by the gyro), else WHAM's default (the
first camera frame; a warning says so). While the IMU reports confirmed
rest, the camera tilt is re-levelled from gravity (gyro drift in roll/pitch is removed; heading
drift is not observable); with ``relevel_moving`` also while it turns, when the turned
accelerometer samples agree more tightly (no linear acceleration).

Gyro bias sources (``bias_sources``): ``rest`` (confirmed rests, in the IMU model), ``image``
(:meth:`WorldGrounding.observe_image`: the rotation between consecutive processed images,
:mod:`wham_ros.geometry.image_bias`) and ``tf`` (:meth:`WorldGrounding.observe_camera_rotation`:
the camera rotation between two stamps from TF). Each observation is gated like a rest.

Threads: IMU samples may be pushed from one thread (a sensor callback, as they arrive) while
another processes frames; the IMU model is guarded by a lock, so the bias, rest and gravity
estimates see the whole stream, whichever frames are dropped. Tracks and the world are only
touched by the frame thread.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from wham_ros.geometry.camera_motion import (CameraMotion, CameraMotionSource, ImuCameraMotion,
                                             OrientationCameraMotion, StaticCameraMotion,
                                             relative_rotation_to_cam_angvel)
from wham_ros.geometry.frame_rate import FrameRatePolicy
from wham_ros.geometry.frames import TrackAnchor, WorldFrame
from wham_ros.geometry.gravity import GravityEstimate, estimate_gravity, level_rotation
from wham_ros.geometry.image_bias import ImageBiasConfig, ImageBiasSource
from wham_ros.geometry.image_rotation import ImageRotation
from wham_ros.geometry.imu import BiasObservation, ImuConfig, ImuIntegrator
from wham_ros.types import ImuSample

LOGGER = logging.getLogger(__name__)

CAMERA_MOTION_MODES = ("imu", "static", "orientation")
BIAS_SOURCES = ("rest", "image", "tf")
MAX_REPORTED_DEG = 180.0  # a 1-sigma orientation error past this says nothing: capped
MOVING_GRAVITY = dict(max_norm_error_m_s2=0.15, max_std_m_s2=0.15, max_rate_rad_s=1.0)
MOVING_RELEVEL_PERIOD_NS = 250_000_000  # re-levelling while turning is tried at most this often
REST_GRAVITY_HOLD_NS = 5_000_000_000  # a new world may be levelled from a rest this long ago


@dataclass(frozen=True)
class GroundingConfig:
    """Parameters of :class:`WorldGrounding`.

    Attributes:
        world_frame_id: name of the shared z-up world frame.
        camera_motion: ``imu`` (gyro), ``static`` (zeros, WHAM without SLAM) or ``orientation``
            (stamped camera orientations from TF / odometry).
        frame_rate_mode: ``resample`` (30 Hz grid) or ``every_frame``.
        orientation_reference: reference of ``Imu.orientation``: ``enu`` (z up) or ``ned``.
        gravity_window_ns: IMU history used for the gravity direction.
        relevel_at_rest: correct the camera tilt from gravity whenever the IMU is at rest.
        relevel_moving: also while the camera turns (stricter agreement of the turned
            accelerometer samples, see :data:`MOVING_GRAVITY`).
        bias_sources: what may update the gyro bias: ``rest``, ``image``, ``tf``.
        imu: IMU integrator parameters (extrinsic, bias, gaps, spikes).
        image_bias: the image source's parameters.
    """

    world_frame_id: str = "wham_world"
    camera_motion: str = "imu"
    frame_rate_mode: str = "resample"
    orientation_reference: str = "enu"
    gravity_window_ns: int = 500_000_000
    relevel_at_rest: bool = True
    relevel_moving: bool = True
    bias_sources: tuple = BIAS_SOURCES
    imu: ImuConfig = field(default_factory=ImuConfig)
    image_bias: ImageBiasConfig = field(default_factory=ImageBiasConfig)


@dataclass
class GroundingStep:
    """Result of :meth:`WorldGrounding.on_frame`.

    Attributes:
        step: True if WHAM runs on this frame.
        cam_angvel: (6,) WHAM input row (zeros when not stepping or on the first step).
        valid: False when the camera motion could not be measured (see ``reason``).
        reason: why not stepping / not valid.
        delta_R: (3, 3) camera rotation since the previous WHAM step, ``R_{t-1} R_t^T`` with R
            world -> camera (identity when not stepping or on the first step).
    """

    step: bool
    cam_angvel: np.ndarray
    valid: bool = True
    reason: str = ""
    delta_R: np.ndarray = field(default_factory=lambda: np.eye(3))


class WorldGrounding:
    """Frame-rate policy + camera motion + gravity + shared world + per-track anchors."""

    def __init__(self, config: Optional[GroundingConfig] = None):
        """Create the grounding state (no world yet).

        Args:
            config: parameters.

        Raises:
            ValueError: unknown camera motion mode or bias source.
        """
        config = config or GroundingConfig()
        if config.camera_motion not in CAMERA_MOTION_MODES:
            raise ValueError(f"Unknown camera_motion {config.camera_motion!r}; "
                             f"expected one of {CAMERA_MOTION_MODES}")
        unknown = [s for s in config.bias_sources if s not in BIAS_SOURCES]
        if unknown:
            raise ValueError(f"Unknown bias_sources {unknown}; expected some of {BIAS_SOURCES}")
        if "rest" not in config.bias_sources and config.imu.bias_from_rest:
            config = dataclasses.replace(config, imu=dataclasses.replace(config.imu, bias_from_rest=False))
        self.config = config
        self._lock = threading.RLock()  # IMU model: sensor thread vs frame thread
        self.imu = ImuIntegrator(self.config.imu)
        self.image_bias = ImageBiasSource(self._observe_locked, self._gyro_rotation, config.image_bias) \
            if "image" in config.bias_sources and config.camera_motion == "imu" else None
        self.reset()

    def reset(self) -> None:
        """Forget the world, the tracks, the frame-rate history and camera orientations.

        The IMU model (samples, bias, rest state) is kept: it follows the IMU clock, which
        handles its own jumps (see :class:`ImuIntegrator`).
        """
        with self._lock:
            self.policy = FrameRatePolicy(self.config.frame_rate_mode)
            self.orientations = OrientationCameraMotion()
            self.motion: CameraMotionSource = {"imu": ImuCameraMotion(self.imu), "static": StaticCameraMotion(),
                                               "orientation": self.orientations}[self.config.camera_motion]
            self.world: Optional[WorldFrame] = None
            self.anchors: Dict[int, TrackAnchor] = {}
            # imu mode: camera-clock time up to which the world is integrated from IMU samples,
            # and the rotation shown beyond it (extrapolated until the samples arrive).
            self._measured_ns: Optional[int] = None
            self._ahead = np.eye(3)
            self._moving_relevel_ns: Optional[int] = None  # last re-levelling try while turning
            if self.image_bias is not None:
                self.image_bias.reset()

    def add_imu(self, sample: ImuSample) -> bool:
        """Feed one IMU sample (validated; see :class:`ImuIntegrator`); any thread."""
        with self._lock:
            return self.imu.add(sample)

    def add_camera_orientation(self, stamp_ns: int, orientation: np.ndarray) -> bool:
        """Feed one camera orientation ``R_parent_cam`` ((3, 3) or (4,) xyzw) for ``orientation`` mode."""
        with self._lock:
            return self.orientations.add(stamp_ns, orientation)

    def observe_image(self, stamp_ns: int, image: np.ndarray, K: np.ndarray,
                      boxes_xyxy=()) -> Optional[ImageRotation]:
        """Use a processed image as a gyro-bias observation (the ``image`` source); frame thread.

        Args:
            stamp_ns: image stamp (camera clock).
            image (np.ndarray): (H, W, 3) uint8 RGB or (H, W) uint8 grey.
            K (np.ndarray): (3, 3) intrinsics, pixels.
            boxes_xyxy: (M, 4) people's boxes in pixels, masked out of the background.

        Returns:
            ImageRotation | None: the fit against the previous image; None when the source is off.
        """
        if self.image_bias is None or K is None:
            return None
        return self.image_bias.process(stamp_ns, image, K, boxes_xyxy)

    def observe_camera_rotation(self, t0_ns: int, t1_ns: int, delta_R: np.ndarray, std_rad: float,
                                source: str = "tf") -> BiasObservation:
        """Use a camera rotation known from elsewhere (TF) as a gyro-bias observation; any thread.

        Args:
            t0_ns: earlier stamp (camera clock).
            t1_ns: later stamp (camera clock).
            delta_R (np.ndarray): (3, 3) ``C(t0)^T C(t1)`` with C = camera optical frame -> a
                fixed frame (e.g. ``R_odom_cam(t0)^T R_odom_cam(t1)`` from TF).
            std_rad: 1-sigma uncertainty of ``delta_R``, rad.
            source: bias source name (must be in ``bias_sources``).

        Returns:
            BiasObservation: accepted or why not (``disabled`` when the source is off).
        """
        if source not in self.config.bias_sources or source == "rest":
            return BiasObservation(False, "disabled")
        return self._observe_locked(t0_ns, t1_ns, delta_R, std_rad, source)

    def _observe_locked(self, t0_ns: int, t1_ns: int, delta_R: np.ndarray, std_rad: float,
                        source: str) -> BiasObservation:
        with self._lock:
            return self.imu.observe_rotation(t0_ns, t1_ns, delta_R, std_rad, source)

    def _gyro_rotation(self, t0_ns: int, t1_ns: int) -> Optional[tuple]:
        """The gyro's ``C(t0)^T C(t1)`` (3, 3) and the bias it subtracted (3,), camera frame."""
        with self._lock:
            rel = self.imu.relative_rotation(t0_ns, t1_ns)
            bias_cam = self.imu.R_cam_imu @ self.imu.bias
        return (rel.delta_R, bias_cam) if rel.valid else None

    def gravity(self, stamp_ns: int, turned: bool = True, **quasi_static) -> Optional[GravityEstimate]:
        """Gravity in the camera optical frame at a camera stamp, or None.

        Args:
            stamp_ns: camera stamp.
            turned: first turn the window's accelerometer samples into the IMU frame at the
                stamp with the gyro, so a camera that turns still gives gravity (and rates up
                to ``MOVING_GRAVITY["max_rate_rad_s"]`` are accepted); False: as measured (at rest).
            **quasi_static: limits of :func:`~wham_ros.geometry.gravity.gravity_from_accelerometer`.
        """
        t = stamp_ns + self.config.imu.time_offset_ns
        with self._lock:
            gyro, accel, _, orient = self.imu.recent(t, self.config.gravity_window_ns)
            if turned and orient is None:
                accel = self.imu.derotated_accel(t, self.config.gravity_window_ns)
            R_cam_imu = self.imu.R_cam_imu
        if turned:
            quasi_static.setdefault("max_rate_rad_s", MOVING_GRAVITY["max_rate_rad_s"])
        return estimate_gravity(accel, gyro, orient, R_cam_imu, self.config.orientation_reference,
                                **quasi_static)

    def status(self) -> Dict[str, Any]:
        """What the world model knows, for diagnostics (angles in degrees, rates in rad/s).

        Returns:
            dict: ``gravity_known`` (bool; False before the world exists), ``camera_motion``,
            ``imu_samples`` (in the history window), ``gyro_bias`` ((3,) rad/s, IMU frame), ``gyro_bias_source``
            (fixed / estimated / unknown), ``gyro_bias_std``, ``at_rest``,
            ``time_since_rest_s``, ``drift_since_rest_deg`` (1-sigma per axis since the last
            confirmed rest) and ``heading_drift_deg`` (1-sigma, accumulated since the world was
            fixed), both capped at 180; ``gyro_bias_from`` (sources of the bias, e.g.
            ``rest+image``, ``none``), ``gyro_bias_unknown_for_s`` (IMU time without a bias, 0
            once known), ``drift_rate_deg_per_min`` (1-sigma rate the orientation may drift at
            with the current bias uncertainty); with the image source, ``image_bias_state``
            (starting / active / standing_down), ``image_bias_problem`` (why it stands down),
            ``image_bias_observations`` and ``image_rotation_scale`` (image / gyro rotation).
        """
        with self._lock:
            st = self.imu.status()
            out = {"camera_motion": self.config.camera_motion,
                   "gravity_known": self.world is not None and self.world.gravity_known,
                   "imu_samples": st.samples, "gyro_bias": st.bias_rad_s.tolist(),
                   "gyro_bias_source": st.bias_source, "gyro_bias_std": st.bias_std_rad_s,
                   "gyro_bias_from": "+".join(st.bias_sources) or "none",
                   "gyro_bias_unknown_for_s": st.unknown_for_s,
                   "drift_rate_deg_per_min": float(np.degrees(st.bias_std_rad_s)) * 60.0,
                   "at_rest": st.at_rest, "time_since_rest_s": st.time_since_rest_s,
                   "drift_since_rest_deg": min(float(np.degrees(st.drift_since_rest_rad)), MAX_REPORTED_DEG),
                   "heading_drift_deg": min(float(np.degrees(st.heading_drift_rad)), MAX_REPORTED_DEG)}
        if self.image_bias is not None:
            ib = self.image_bias.status()
            out.update({"image_bias_state": ib.state, "image_bias_problem": ib.message,
                        "image_bias_observations": ib.accepted, "image_rotation_scale": ib.scale})
        return out

    def on_frame(self, stamp_ns: int) -> GroundingStep:
        """Decide whether WHAM steps on this frame; if so, give its ``cam_angvel``.

        Args:
            stamp_ns: the image header stamp.

        Returns:
            GroundingStep.
        """
        decision = self.policy.decide(stamp_ns)
        if not decision.step:
            return GroundingStep(False, np.zeros(6), True, decision.reason)
        with self._lock:
            if self.world is None:
                self.world = self._create_world(stamp_ns)
            if self.config.camera_motion == "imu":
                motion = self._imu_step(decision.prev_step_ns, stamp_ns)
            else:
                motion = self.motion.step(decision.prev_step_ns, stamp_ns)
                self.world.apply_relative_rotation(motion.delta_R)
            measured = self.config.camera_motion != "imu" or self._measured_ns == stamp_ns
            if self.config.relevel_at_rest and measured:  # not on a guess
                g = None
                if self.imu.at_rest:
                    g = self.gravity(stamp_ns, turned=False)
                elif self.config.relevel_moving and (self._moving_relevel_ns is None or stamp_ns
                                                     - self._moving_relevel_ns >= MOVING_RELEVEL_PERIOD_NS):
                    self._moving_relevel_ns = stamp_ns
                    g = self.gravity(stamp_ns, **MOVING_GRAVITY)
                if g is not None:
                    self.world.correct_tilt(g.down)
        return GroundingStep(True, motion.cam_angvel, motion.valid, motion.reason, motion.delta_R)

    def _imu_step(self, prev_stamp_ns: Optional[int], stamp_ns: int) -> CameraMotion:
        """Advance the world with the gyro up to the newest sample, extrapolate the rest.

        A frame may be processed before the IMU samples up to its stamp arrived (a lagging
        IMU callback, a loaded machine): the rotation beyond the newest sample is extrapolated
        with the last rate (at most ``max_extrapolation_ns``) for this frame only, and measured
        by the next step once the samples are in, so the world never keeps a guess.
        """
        if prev_stamp_ns is None or self._measured_ns is None:
            self._measured_ns, self._ahead = stamp_ns, np.eye(3)
            return CameraMotion(np.zeros(6), np.eye(3))
        cfg = self.config.imu
        newest = self.imu.newest_stamp_ns
        end = self._measured_ns if newest is None else max(self._measured_ns,
                                                           min(stamp_ns, newest - cfg.time_offset_ns))
        measured = self.imu.relative_rotation(self._measured_ns, end)
        valid, reason = measured.valid, measured.reason
        ahead = None  # the IMU has reached the frame: nothing extrapolated
        if stamp_ns > end:
            ahead = self.imu.relative_rotation(end, min(stamp_ns, end + cfg.max_extrapolation_ns)).delta_R
            if stamp_ns - end > cfg.max_extrapolation_ns and newest is not None:
                valid, reason = False, (f"IMU data end {(stamp_ns - end) / 1e6:.0f} ms before the frame "
                                        f"(max_extrapolation_ns={cfg.max_extrapolation_ns / 1e6:.0f} ms)")
        # This step's rotation, R_{t-1} R_t^T: back out the previous guess, measured, new guess.
        delta = self._ahead.T @ measured.delta_R if ahead is None else self._ahead.T @ measured.delta_R @ ahead
        self.world.apply_relative_rotation(measured.delta_R, ahead)
        self._measured_ns, self._ahead = end, np.eye(3) if ahead is None else ahead
        return CameraMotion(relative_rotation_to_cam_angvel(delta), delta, valid, reason)

    def _gravity_from_last_rest(self, stamp_ns: int) -> Optional[GravityEstimate]:
        """Gravity of the last rest (e.g. a short one at the start) turned to ``stamp_ns`` by the gyro."""
        rest = self.imu.rest_accel
        if rest is None:
            return None
        accel, t_rest = rest
        t0 = t_rest - self.config.imu.time_offset_ns  # camera clock
        if not 0 <= stamp_ns - t0 <= REST_GRAVITY_HOLD_NS:
            return None
        rel = self.imu.relative_rotation(t0, stamp_ns)
        if not rel.valid:
            return None
        down_rest = self.imu.R_cam_imu @ (-accel / np.linalg.norm(accel))  # camera frame at the rest
        return GravityEstimate(rel.delta_R.T @ down_rest, "accelerometer at the last rest")

    def _create_world(self, stamp_ns: int) -> WorldFrame:
        self.imu.mark_heading_reference()
        g = self.gravity(stamp_ns) or self._gravity_from_last_rest(stamp_ns)
        if g is None:
            LOGGER.warning("No gravity direction at start (no IMU orientation and no quasi-static "
                           "accelerometer data): %s is the first camera frame (z = camera up), "
                           "level only if the camera is", self.config.world_frame_id)
            return WorldFrame(None, self.config.world_frame_id)
        LOGGER.info("%s levelled from the IMU %s", self.config.world_frame_id, g.source)
        return WorldFrame(level_rotation(g.down), self.config.world_frame_id)

    def start_track(self, track_id: int, root_cam: np.ndarray) -> np.ndarray:
        """Anchor a new track at the current frame; returns its WHAM ``init_root`` (6,).

        Args:
            track_id: tracker id.
            root_cam (np.ndarray): (3, 3) HMR2.0 root orientation, camera optical frame.

        Raises:
            RuntimeError: before the first WHAM step (no world yet).
        """
        if self.world is None:
            raise RuntimeError("start_track called before on_frame returned a step")
        anchor = TrackAnchor.begin(self.world)
        self.anchors[track_id] = anchor
        return anchor.init_root_6d(root_cam)

    def place_track(self, track_id: int, trans_cam0: np.ndarray, trans_world0: np.ndarray) -> None:
        """Fix a track's origin from its first WHAM output (``trans_cam``, ``trans_world`` y-down)."""
        self.anchors[track_id].set_origin(trans_cam0, trans_world0)

    def to_world(self, track_id: int, points_wham: np.ndarray) -> np.ndarray:
        """WHAM y-down world points (..., 3) of a track -> shared world (..., 3)."""
        return self.anchors[track_id].position_to_world(points_wham)

    def rotation_to_world(self, track_id: int, rotations_wham: np.ndarray) -> np.ndarray:
        """WHAM y-down world orientations (..., 3, 3) of a track -> shared world (..., 3, 3)."""
        return self.anchors[track_id].rotation_to_world(rotations_wham)

    def vector_to_world(self, track_id: int, vectors_wham: np.ndarray) -> np.ndarray:
        """WHAM y-down world free vectors (velocities) (..., 3) of a track -> shared world (..., 3)."""
        return np.asarray(vectors_wham, dtype=np.float64) @ self.anchors[track_id].R_world_wham.T

    def end_track(self, track_id: int) -> None:
        """Forget a track's anchor."""
        self.anchors.pop(track_id, None)
