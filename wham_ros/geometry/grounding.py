"""World grounding in one object: IMU/TF in, ``cam_angvel`` and ``init_root`` for WHAM, world poses out.

Per camera frame the pipeline calls :meth:`WorldGrounding.on_frame`; if it says ``step``, it
runs WHAM on that frame with the returned ``cam_angvel``. A new track calls
:meth:`WorldGrounding.start_track` (before its first WHAM step, for ``init_root``), then
:meth:`WorldGrounding.place_track` with its first WHAM output; every output is mapped with
:meth:`WorldGrounding.to_world`. IMU samples / camera orientations are pushed as they arrive.

The shared world is created on the first WHAM step: gravity from the IMU if available
(orientation field, else accelerometer while quasi-static), else WHAM's default (the first
camera frame; a warning says so). While the IMU reports rest, the camera tilt is re-levelled
from gravity (gyro drift in roll/pitch is removed; heading drift is not observable).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np

from wham_ros.geometry.camera_motion import (CameraMotionSource, ImuCameraMotion, OrientationCameraMotion,
                                             StaticCameraMotion)
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
        self.policy = FrameRatePolicy(self.config.frame_rate_mode)
        self.imu = ImuIntegrator(self.config.imu)
        self.orientations = OrientationCameraMotion()
        self.motion: CameraMotionSource = {"imu": ImuCameraMotion(self.imu), "static": StaticCameraMotion(),
                                           "orientation": self.orientations}[self.config.camera_motion]
        self.world: Optional[WorldFrame] = None
        self.anchors: Dict[int, TrackAnchor] = {}

    def add_imu(self, sample: ImuSample) -> bool:
        """Feed one IMU sample (validated; see :class:`ImuIntegrator`)."""
        return self.imu.add(sample)

    def add_camera_orientation(self, stamp_ns: int, orientation: np.ndarray) -> bool:
        """Feed one camera orientation ``R_parent_cam`` ((3, 3) or (4,) xyzw) for ``orientation`` mode."""
        return self.orientations.add(stamp_ns, orientation)

    def gravity(self, stamp_ns: int) -> Optional[GravityEstimate]:
        """Gravity in the camera optical frame around a camera stamp, or None."""
        gyro, accel, _, orient = self.imu.recent(stamp_ns + self.config.imu.time_offset_ns,
                                                 self.config.gravity_window_ns)
        return estimate_gravity(accel, gyro, orient, self.imu.R_cam_imu, self.config.orientation_reference)

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
        if self.world is None:
            self.world = self._create_world(stamp_ns)
        motion = self.motion.step(decision.prev_step_ns, stamp_ns)
        self.world.apply_relative_rotation(motion.delta_R)
        if self.config.relevel_at_rest and self.imu.at_rest:
            g = self.gravity(stamp_ns)
            if g is not None:
                self.world.correct_tilt(g.down)
        return GroundingStep(True, motion.cam_angvel, motion.valid, motion.reason, motion.delta_R)

    def _create_world(self, stamp_ns: int) -> WorldFrame:
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
