"""World grounding in one object: IMU/TF in, ``cam_angvel`` and ``init_root`` for WHAM, world poses out.

Per camera frame the pipeline calls :meth:`WorldGrounding.on_frame`; if it says ``step``, it
runs WHAM on that frame with the returned ``cam_angvel``. A new track calls
:meth:`WorldGrounding.start_track` (before its first WHAM step, for ``init_root``), then
:meth:`WorldGrounding.place_track` with its first WHAM output; every output is mapped with
:meth:`WorldGrounding.to_world`. IMU samples / camera orientations are pushed as they arrive.

The shared world is created on the first WHAM step: gravity from the IMU if available
(orientation field, else accelerometer while quasi-static), else WHAM's default (the first
camera frame; a warning says so). While the IMU reports confirmed rest, the camera tilt is
re-levelled from gravity (gyro drift in roll/pitch is removed; heading drift is not observable).

Threads: IMU samples may be pushed from one thread (a sensor callback, as they arrive) while
another processes frames; the IMU model is guarded by a lock, so the bias, rest and gravity
estimates see the whole stream, whichever frames are dropped. Tracks and the world are only
touched by the frame thread.
"""
from __future__ import annotations

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
from wham_ros.geometry.imu import ImuConfig, ImuIntegrator
from wham_ros.types import ImuSample

LOGGER = logging.getLogger(__name__)

CAMERA_MOTION_MODES = ("imu", "static", "orientation")


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
        imu: IMU integrator parameters (extrinsic, bias, gaps, spikes).
    """

    world_frame_id: str = "wham_world"
    camera_motion: str = "imu"
    frame_rate_mode: str = "resample"
    orientation_reference: str = "enu"
    gravity_window_ns: int = 500_000_000
    relevel_at_rest: bool = True
    imu: ImuConfig = field(default_factory=ImuConfig)


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
            ValueError: unknown camera motion mode.
        """
        self.config = config or GroundingConfig()
        if self.config.camera_motion not in CAMERA_MOTION_MODES:
            raise ValueError(f"Unknown camera_motion {self.config.camera_motion!r}; "
                             f"expected one of {CAMERA_MOTION_MODES}")
        self._lock = threading.RLock()  # IMU model: sensor thread vs frame thread
        self.imu = ImuIntegrator(self.config.imu)
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

    def add_imu(self, sample: ImuSample) -> bool:
        """Feed one IMU sample (validated; see :class:`ImuIntegrator`); any thread."""
        with self._lock:
            return self.imu.add(sample)

    def add_camera_orientation(self, stamp_ns: int, orientation: np.ndarray) -> bool:
        """Feed one camera orientation ``R_parent_cam`` ((3, 3) or (4,) xyzw) for ``orientation`` mode."""
        with self._lock:
            return self.orientations.add(stamp_ns, orientation)

    def gravity(self, stamp_ns: int) -> Optional[GravityEstimate]:
        """Gravity in the camera optical frame around a camera stamp, or None."""
        with self._lock:
            gyro, accel, _, orient = self.imu.recent(stamp_ns + self.config.imu.time_offset_ns,
                                                     self.config.gravity_window_ns)
            R_cam_imu = self.imu.R_cam_imu
        return estimate_gravity(accel, gyro, orient, R_cam_imu, self.config.orientation_reference)

    def status(self) -> Dict[str, Any]:
        """What the world model knows, for diagnostics (angles in degrees, rates in rad/s).

        Returns:
            dict: ``gravity_known`` (bool; False before the world exists), ``camera_motion``,
            ``imu_samples`` (in the history window), ``gyro_bias`` ((3,) rad/s, IMU frame), ``gyro_bias_source``
            (fixed / estimated / unknown), ``gyro_bias_std``, ``at_rest``,
            ``time_since_rest_s``, ``drift_since_rest_deg`` (1-sigma per axis since the last
            confirmed rest) and ``heading_drift_deg`` (1-sigma, accumulated since the world was fixed).
        """
        with self._lock:
            st = self.imu.status()
            return {"camera_motion": self.config.camera_motion,
                    "gravity_known": self.world is not None and self.world.gravity_known,
                    "imu_samples": st.samples, "gyro_bias": st.bias_rad_s.tolist(),
                    "gyro_bias_source": st.bias_source, "gyro_bias_std": st.bias_std_rad_s,
                    "at_rest": st.at_rest, "time_since_rest_s": st.time_since_rest_s,
                    "drift_since_rest_deg": float(np.degrees(st.drift_since_rest_rad)),
                    "heading_drift_deg": float(np.degrees(st.heading_drift_rad))}

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
            if self.config.relevel_at_rest and self.imu.at_rest and measured:  # not on a guess
                g = self.gravity(stamp_ns)
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

    def _create_world(self, stamp_ns: int) -> WorldFrame:
        self.imu.mark_heading_reference()
        g = self.gravity(stamp_ns)
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
