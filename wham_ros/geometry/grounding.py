"""World grounding in one object: IMU/TF in, ``cam_angvel`` and ``init_root`` for WHAM, world poses out.

Per camera frame the pipeline calls :meth:`WorldGrounding.on_frame`; if it says ``step``, it
runs WHAM on that frame with the returned ``cam_angvel``. A new track calls
:meth:`WorldGrounding.start_track` (before its first WHAM step, for ``init_root``), then
:meth:`WorldGrounding.track_update` with every WHAM output (the first places it); every output is
mapped with :meth:`WorldGrounding.to_world`. IMU samples are pushed as they arrive.

Two kinds of world (``GroundingConfig.fixed_frame``):

* empty: the node's own ``wham_world``, fixed where the camera stood at start, its camera
  orientation integrated from the camera motion source (below);
* a frame of the robot's TF tree (``odom``, ``map``; z up, REP-105): the caller gives the
  camera's pose in it at every image stamp (``T_fixed_cam``, from tf2; None when TF has no
  transform for that stamp). That pose places tracks where the camera sees them and gives
  gravity at once; a frame without it still runs WHAM, but its world outputs are not valid
  (``GroundingStep.world_valid``). When TF resumes after such a gap or jumps (a ``map``
  relocalisation), every track is re-anchored (turned by the correction, re-placed from the
  camera's view at its next output; ids are kept).

Camera motion sources (``cam_angvel``): ``imu`` (gyro), ``tf`` (the rotation between
frames of the TF poses; needs ``fixed_frame``) and ``static`` (zeros). With both a gyro and
TF, :meth:`WorldGrounding.status` reports how far they disagree.

Without a fixed frame the shared world is created on the first WHAM step: gravity from the IMU if available
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

from wham_ros.geometry.anchoring import WORLD_ANCHORS, ObservedAnchorConfig, PositionFilter
from wham_ros.geometry.camera_motion import (CameraMotion, CameraMotionSource, ImuCameraMotion,
                                             OrientationCameraMotion, StaticCameraMotion,
                                             relative_rotation_to_cam_angvel)
from wham_ros.geometry.frame_rate import FrameRatePolicy
from wham_ros.geometry.frames import TrackAnchor, WorldFrame
from wham_ros.geometry.gravity import GravityEstimate, estimate_gravity, level_rotation
from wham_ros.geometry.image_bias import ImageBiasConfig, ImageBiasSource
from wham_ros.geometry.image_rotation import ImageRotation
from wham_ros.geometry.imu import BiasObservation, ImuConfig, ImuIntegrator
from wham_ros.geometry.so3 import angle_between, is_rotation, orthonormalize
from wham_ros.types import ImuSample

LOGGER = logging.getLogger(__name__)

CAMERA_MOTION_MODES = ("imu", "tf", "static")
BIAS_SOURCES = ("rest", "image", "tf")
MAX_REPORTED_DEG = 180.0  # a 1-sigma orientation error past this says nothing: capped
MOVING_GRAVITY = dict(max_norm_error_m_s2=0.15, max_std_m_s2=0.15, max_rate_rad_s=1.0)
MOVING_RELEVEL_PERIOD_NS = 250_000_000  # re-levelling while turning is tried at most this often
REST_GRAVITY_HOLD_NS = 5_000_000_000  # a new world may be levelled from a rest this long ago
TF_BIAS_BASELINE_NS = 500_000_000  # tf bias source: TF rotations at least this far apart
TF_ROTATION_STD_RAD = 2e-3  # 1 sigma of a TF camera rotation between two images (encoders, odometry)
DISAGREEMENT_WINDOW_STEPS = 30  # WHAM steps over which gyro vs TF disagreement is averaged


@dataclass(frozen=True)
class GroundingConfig:
    """Parameters of :class:`WorldGrounding`.

    Attributes:
        world_frame_id: name of the shared z-up world frame (the fixed frame when one is set).
        fixed_frame: a z-up frame of the robot's TF tree (``odom``, ``map``) the world is, with
            the camera pose given per frame; empty: the node's own world (``world_frame_id``).
        camera_motion: ``imu`` (gyro), ``tf`` (rotation between frames from the TF poses;
            needs ``fixed_frame``) or ``static`` (zeros, WHAM without SLAM).
        world_anchor: ``start`` (a track follows WHAM's trajectory from where its first frame
            put it) or ``observed`` (fused with the camera's view every frame,
            :mod:`wham_ros.geometry.anchoring`).
        observed: noise model of ``world_anchor: observed``.
        tf_jump_m, tf_jump_deg: a TF camera pose this far from the one predicted from the
            previous pose (and the gyro, for the rotation) is a jump: tracks are re-anchored.
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
    fixed_frame: str = ""
    camera_motion: str = "imu"
    world_anchor: str = "start"
    observed: ObservedAnchorConfig = field(default_factory=ObservedAnchorConfig)
    tf_jump_m: float = 0.5
    tf_jump_deg: float = 20.0
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
        world_valid: False when the camera pose in the fixed frame is unknown for this frame
            (its world outputs are then skipped, not guessed).
        world_reason: why not ``world_valid``.
    """

    step: bool
    cam_angvel: np.ndarray
    valid: bool = True
    reason: str = ""
    delta_R: np.ndarray = field(default_factory=lambda: np.eye(3))
    world_valid: bool = True
    world_reason: str = ""


def _pose(T_fixed_cam: Optional[np.ndarray]):
    """``(R (3, 3), p (3,))`` of a (4, 4) camera pose, or None (missing or not a rigid transform)."""
    if T_fixed_cam is None:
        return None
    T = np.asarray(T_fixed_cam, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)) or not is_rotation(T[:3, :3], tol=1e-4):
        return None
    return orthonormalize(T[:3, :3], iterations=2), T[:3, 3].copy()


class WorldGrounding:
    """Frame-rate policy + camera motion + gravity + shared world + per-track anchors."""

    def __init__(self, config: Optional[GroundingConfig] = None):
        """Create the grounding state (no world yet).

        Args:
            config: parameters.

        Raises:
            ValueError: unknown camera motion mode, world anchor or bias source; ``tf`` without a
                fixed frame.
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
        if config.world_anchor not in WORLD_ANCHORS:
            raise ValueError(f"Unknown world_anchor {config.world_anchor!r}; "
                             f"expected one of {WORLD_ANCHORS}")
        if config.camera_motion == "tf" and not config.fixed_frame:
            raise ValueError("camera_motion 'tf' reads the camera rotation from TF fixed_frame -> "
                             "camera: set fixed_frame (e.g. odom)")
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
            self.orientations = OrientationCameraMotion()  # TF camera orientations (tf mode)
            self.motion: CameraMotionSource = {"imu": ImuCameraMotion(self.imu), "static": StaticCameraMotion(),
                                               "tf": self.orientations}[self.config.camera_motion]
            self.world: Optional[WorldFrame] = None
            self.anchors: Dict[int, TrackAnchor] = {}
            self.filters: Dict[int, PositionFilter] = {}  # world_anchor: observed
            self._trans_wham: Dict[int, tuple] = {}  # per track: (stamp ns, WHAM trans_world) last seen
            self._stamp_ns = 0  # stamp of the newest WHAM step
            self._last_pose = None  # (R, p) of the newest TF camera pose of a WHAM step
            self._disagreement: list = []  # gyro vs TF, deg/s, last DISAGREEMENT_WINDOW_STEPS
            self.reanchors = 0
            self.world_skipped = 0
            # imu mode: camera-clock time up to which the world is integrated from IMU samples,
            # and the rotation shown beyond it (extrapolated until the samples arrive).
            self._measured_ns: Optional[int] = None
            self._ahead = np.eye(3)
            self._moving_relevel_ns: Optional[int] = None  # last re-levelling try while turning
            self._tf_anchor = None  # (stamp ns, R_fixed_cam) starting the tf bias baseline
            if self.image_bias is not None:
                self.image_bias.reset()

    def add_imu(self, sample: ImuSample) -> bool:
        """Feed one IMU sample (validated; see :class:`ImuIntegrator`); any thread."""
        with self._lock:
            return self.imu.add(sample)

    def set_camera_imu_rotation(self, R_cam_imu: np.ndarray) -> None:
        """Replace the IMU -> camera optical rotation (3, 3), e.g. once TF has it; any thread."""
        with self._lock:
            self.imu.set_extrinsic(R_cam_imu)

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
            ``image_bias_observations`` and ``image_rotation_scale`` (image / gyro rotation);
            with a fixed frame also ``world_skipped_frames`` (no TF pose), ``tf_reanchors``
            and ``gyro_tf_disagreement_deg_s`` (mean over the last steps; None without both).
        """
        with self._lock:
            st = self.imu.status()
            out = {"camera_motion": self.config.camera_motion, "world_anchor": self.config.world_anchor,
                   "gravity_known": self.world is not None and self.world.gravity_known,
                   "imu_samples": st.samples, "gyro_bias": st.bias_rad_s.tolist(),
                   "gyro_bias_source": st.bias_source, "gyro_bias_std": st.bias_std_rad_s,
                   "gyro_bias_from": "+".join(st.bias_sources) or "none",
                   "gyro_bias_unknown_for_s": st.unknown_for_s,
                   "drift_rate_deg_per_min": float(np.degrees(st.bias_std_rad_s)) * 60.0,
                   "at_rest": st.at_rest, "time_since_rest_s": st.time_since_rest_s,
                   "drift_since_rest_deg": min(float(np.degrees(st.drift_since_rest_rad)), MAX_REPORTED_DEG),
                   "heading_drift_deg": min(float(np.degrees(st.heading_drift_rad)), MAX_REPORTED_DEG)}
            if self.config.fixed_frame:
                out.update({"fixed_frame": self.config.fixed_frame,
                            "world_skipped_frames": self.world_skipped, "tf_reanchors": self.reanchors,
                            "gyro_tf_disagreement_deg_s": float(np.mean(self._disagreement))
                            if self._disagreement else None})
        if self.image_bias is not None:
            ib = self.image_bias.status()
            out.update({"image_bias_state": ib.state, "image_bias_problem": ib.message,
                        "image_bias_observations": ib.accepted, "image_rotation_scale": ib.scale})
        return out


    def on_frame(self, stamp_ns: int, T_fixed_cam: Optional[np.ndarray] = None) -> GroundingStep:
        """Decide whether WHAM steps on this frame; if so, give its ``cam_angvel``.

        Args:
            stamp_ns: the image header stamp.
            T_fixed_cam (np.ndarray | None): (4, 4) camera optical frame -> fixed frame at
                ``stamp_ns`` (TF ``fixed_frame <- camera``); None when TF has none. Ignored
                without a fixed frame.

        Returns:
            GroundingStep.
        """
        fixed = bool(self.config.fixed_frame)
        pose = _pose(T_fixed_cam) if fixed else None
        if pose is not None and self.config.camera_motion == "tf":
            with self._lock:
                self.orientations.add(int(stamp_ns), pose[0])
        self._observe_tf_rotation(stamp_ns, pose)
        decision = self.policy.decide(stamp_ns)
        if not decision.step:
            return GroundingStep(False, np.zeros(6), True, decision.reason)
        with self._lock:
            self._stamp_ns = int(stamp_ns)
            if self.world is None:
                self.world = self._create_world(stamp_ns, pose)
            if self.config.camera_motion == "imu":
                motion = self._imu_step(decision.prev_step_ns, stamp_ns)
            else:
                motion = self.motion.step(decision.prev_step_ns, stamp_ns)
                self.world.apply_relative_rotation(motion.delta_R)
            if fixed:
                dt_s = (stamp_ns - decision.prev_step_ns) * 1e-9 if decision.prev_step_ns else 0.0
                world_valid, world_reason = self._fixed_pose(pose, motion, dt_s)
                return GroundingStep(True, motion.cam_angvel, motion.valid, motion.reason,
                                     motion.delta_R, world_valid, world_reason)
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

    def _observe_tf_rotation(self, stamp_ns: int, pose) -> None:
        """The ``tf`` bias source: the camera rotation TF gives between two images at least
        ``TF_BIAS_BASELINE_NS`` apart, against the gyro over the same interval (``imu`` mode;
        a TF gap starts a new baseline)."""
        if "tf" not in self.config.bias_sources or self.config.camera_motion != "imu":
            return
        if pose is None:
            self._tf_anchor = None
            return
        anchor = self._tf_anchor
        if anchor is None or stamp_ns <= anchor[0]:
            self._tf_anchor = (int(stamp_ns), pose[0])
        elif stamp_ns - anchor[0] >= TF_BIAS_BASELINE_NS:
            self._observe_locked(anchor[0], int(stamp_ns), anchor[1].T @ pose[0], TF_ROTATION_STD_RAD,
                                 "tf")
            self._tf_anchor = (int(stamp_ns), pose[0])

    def _fixed_pose(self, pose, motion: CameraMotion, dt_s: float):
        """Set the world's camera pose from TF (fixed frame); (world_valid, reason).

        Without a pose the orientation stays as the motion source advanced it (for the level
        frame of tracks starting now) and the frame's world outputs are skipped. With one,
        it is compared with the prediction from the previous pose: beyond ``tf_jump_m`` /
        ``tf_jump_deg`` (a relocalisation, or motion during a TF gap) every track is turned by
        the correction and re-placed from the camera's view at its next output.
        """
        if pose is None:
            self.world_skipped += 1
            return False, f"no camera pose in {self.config.fixed_frame} for this image"
        R, p = pose
        R_pred, _ = self.world.camera_pose()  # previous pose advanced by the motion source
        if self._last_pose is not None:
            R_prev, p_prev = self._last_pose
            if self.config.camera_motion == "imu" and motion.valid and dt_s > 0:
                tf_delta = R_prev.T @ R  # C_{t-1}^T C_t, as the gyro's delta_R
                self._disagreement.append(float(np.degrees(angle_between(motion.delta_R, tf_delta))) / dt_s)
                del self._disagreement[:-DISAGREEMENT_WINDOW_STEPS]
            moved = float(np.linalg.norm(p - p_prev))
            turned = float(np.degrees(angle_between(R_pred, R)))
            if moved > self.config.tf_jump_m or turned > self.config.tf_jump_deg:
                self._reanchor(R @ R_pred.T, f"the camera pose in {self.config.fixed_frame} moved "
                               f"{moved:.2f} m and turned {turned:.1f} deg more than predicted")
        elif self.anchors:  # the first pose after tracks started without one
            self._reanchor(R @ R_pred.T, f"first camera pose in {self.config.fixed_frame}")
        self.world.set_camera_pose(R, p)
        self.world.gravity_known = True  # the fixed frame is z up (REP-105)
        self._last_pose = (R, p)
        return True, ""

    def _reanchor(self, R_correction: np.ndarray, why: str) -> None:
        """Turn every track's WHAM world by ``R_correction``; each is re-placed at its next output."""
        for anchor in self.anchors.values():
            anchor.rotate(R_correction)
        self.filters.clear()
        if self.anchors:
            self.reanchors += 1
            LOGGER.warning("%s: %d track(s) re-anchored (ids kept)", why, len(self.anchors))

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

    def _create_world(self, stamp_ns: int, pose=None) -> WorldFrame:
        self.imu.mark_heading_reference()
        if pose is not None:  # the fixed frame: z up (REP-105), camera pose from TF
            world = WorldFrame(None, self.config.world_frame_id)
            world.set_camera_pose(*pose)
            world.gravity_known = True
            return world
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

    def track_update(self, track_id: int, trans_cam: np.ndarray, trans_wham: np.ndarray,
                     world_valid: bool = True) -> bool:
        """Place, re-place or (``world_anchor: observed``) correct a track with one WHAM output.

        Call with every output of the track, after :meth:`on_frame` of that frame.

        Args:
            track_id: tracker id.
            trans_cam (np.ndarray): (3,) WHAM ``trans_cam`` (hip centre, optical frame), m.
            trans_wham (np.ndarray): (3,) WHAM ``trans_world`` (y-down), m.
            world_valid: the frame's ``GroundingStep.world_valid``.

        Returns:
            bool: True when the track's world outputs of this frame are valid.
        """
        anchor = self.anchors[track_id]
        tw = np.asarray(trans_wham, dtype=np.float64).reshape(3)
        prev = self._trans_wham.get(track_id)
        self._trans_wham[track_id] = (self._stamp_ns, tw)
        filt = self.filters.get(track_id)
        if filt is not None and prev is not None:  # WHAM's motion, also through frames without TF
            filt.predict(anchor.R_world_wham @ (tw - prev[1]), (self._stamp_ns - prev[0]) * 1e-9)
        if not world_valid:
            return False
        R_wc, p_wc = self.world.camera_pose()
        if not anchor.placed:
            anchor.place(R_wc, p_wc, trans_cam, tw)
            if self.config.world_anchor == "observed":
                self.filters[track_id] = PositionFilter(self.config.observed, anchor.origin_world, R_wc)
            return True
        if filt is not None:
            filt.update(p_wc + R_wc @ np.asarray(trans_cam, dtype=np.float64), R_wc)
            anchor.offset_world = np.zeros(3)
            anchor.offset_world = filt.position - anchor.position_to_world(tw)
        return True

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
        self.filters.pop(track_id, None)
        self._trans_wham.pop(track_id, None)
