"""Plain data passed between the stages of the pipeline (ROS-free, numpy only).

Frames and units (REP-103): metres, radians, seconds as integer nanoseconds.
``camera`` = the optical frame of the image header (x right, y down, z forward).
``world`` = the configurable z-up world frame (default ``wham_world``, REP-103 x forward,
y left, z up), gravity aligned when gravity is known; with a fixed frame (``odom``, ``map``)
the world is that frame. A frame whose world pose is unknown has ``world_frame_id`` ""
and NaN in every world field.
Rotation matrices act on column vectors (``x_out = R @ x_in``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np


@dataclass
class CameraFrame:
    """One image with its calibration.

    Attributes:
        stamp_ns: acquisition time (header stamp) in nanoseconds.
        image: (H, W, 3) uint8, **RGB** channel order.
        frame_id: optical frame of the camera (``Image.header.frame_id``).
        K: (3, 3) float64 intrinsics from ``CameraInfo`` or None (WHAM default:
            f = sqrt(W^2 + H^2), principal point at the image centre).
        T_fixed_cam: (4, 4) float64 pose of the optical frame in the fixed frame (TF
            ``fixed_frame <- frame_id`` at ``stamp_ns``), or None (no fixed frame, or TF has
            no transform for this image: its world outputs are then skipped).
        depth: (H, W) float32 depth (z) in metres on this image's pixel grid, NaN where the
            depth camera has no reading; None without a paired depth image.
    """

    stamp_ns: int
    image: np.ndarray
    frame_id: str = "camera_optical_frame"
    K: Optional[np.ndarray] = None
    T_fixed_cam: Optional[np.ndarray] = None
    depth: Optional[np.ndarray] = None


@dataclass
class ImuSample:
    """One ``sensor_msgs/Imu`` sample in the IMU's own frame.

    Attributes:
        stamp_ns: sample time in nanoseconds.
        angular_velocity: (3,) rad/s.
        linear_acceleration: (3,) m/s^2 (specific force, +g upwards at rest) or None.
        orientation_xyzw: (4,) quaternion (x, y, z, w) of IMU in its reference frame, or None
            when the driver does not provide one (covariance[0] == -1).
        frame_id: the IMU frame.
    """

    stamp_ns: int
    angular_velocity: np.ndarray
    linear_acceleration: Optional[np.ndarray] = None
    orientation_xyzw: Optional[np.ndarray] = None
    frame_id: str = "imu_link"


@dataclass
class PersonObservation:
    """Front-end output for one tracked person in one frame: exactly WHAM's per-frame inputs.

    Attributes:
        track_id: stable id from the tracker.
        bbox_xyxy: (4,) detector box in pixels.
        keypoints: (17, 3) COCO-17 ``[x_px, y_px, confidence]``.
        bbox_cxcys: (3,) WHAM box ``[cx, cy, s]`` (pixels; side = 200 s).
        x: (37,) normalised keypoints (WHAM's ``x`` row).
        mask: (17,) bool, True where confidence < 0.3.
        features: (1024,) float32 HMR2.0 image token.
        init_global_orient: (3, 3) camera-frame root rotation from HMR2.0; WHAM uses it when the track starts.
        init_body_pose: (23, 3, 3) body joint rotations from HMR2.0; WHAM uses it when the track starts.
        init_betas: (10,) shape from HMR2.0; WHAM uses it when the track starts.
        is_new: True on the first frame the track is handed to WHAM.
        root_depth_m: hip-centre z from the depth image (camera optical frame), m, or None
            (no depth image, or no reading on this person).
        flipped_x, flipped_mask, flipped_features, flipped_init_*: the same for the mirrored
            view (keypoints mirrored ``x -> W - x`` with left/right swapped, box centre mirrored,
            HMR2.0 on the mirrored crop); only with flip-eval, else None.
    """

    track_id: int
    bbox_xyxy: np.ndarray
    keypoints: np.ndarray
    bbox_cxcys: np.ndarray
    x: np.ndarray
    mask: np.ndarray
    features: np.ndarray
    init_global_orient: Optional[np.ndarray] = None
    init_body_pose: Optional[np.ndarray] = None
    init_betas: Optional[np.ndarray] = None
    is_new: bool = False
    root_depth_m: Optional[float] = None
    flipped_x: Optional[np.ndarray] = None
    flipped_mask: Optional[np.ndarray] = None
    flipped_features: Optional[np.ndarray] = None
    flipped_init_global_orient: Optional[np.ndarray] = None
    flipped_init_body_pose: Optional[np.ndarray] = None
    flipped_init_betas: Optional[np.ndarray] = None


@dataclass
class HumanEstimate:
    """WHAM's output for one person in one frame.

    Camera-frame quantities are in the image's optical frame; world quantities in the
    z-up world frame. ``*_cam`` positions are absolute (not hip-centred).

    Attributes:
        track_id: tracker id.
        age: frames since the track started in WHAM.
        global_orient_cam: (3, 3) SMPL root rotation, camera frame.
        global_orient_world: (3, 3) SMPL root rotation, world frame.
        body_pose: (23, 3, 3) SMPL body joint rotations (parent-relative).
        betas: (10,) SMPL shape.
        trans_cam: (3,) hip centre (mean of WHAM joints 11, 12) in the camera frame, m.
        trans_world: (3,) hip centre in the world frame, m.
        smpl_joints_cam / smpl_joints_world: (24, 3) SMPL kinematic joints, m.
        coco_joints_cam / coco_joints_world: (17, 3) COCO-17 joints (WHAM regressor), m.
        contact: (4,) WHAM's raw foot contact scores (order: wham_ros.geometry.contacts);
            may leave [0, 1] slightly; messages publish them clipped to [0, 1].
        feet_world: (4, 3) world positions of the 4 contact points, m.
        keypoints2d: (17, 3) input keypoints ``[x_px, y_px, conf]``; ``conf`` is the
            front-end's raw score (ViTPose: heatmap maximum, can exceed 1); messages publish
            it clipped to [0, 1].
        bbox_xyxy: (4,) input box, pixels.
        vertices_cam: (6890, 3) mesh in the camera frame, or None when not requested.
        root_velocity_world: (3,) hip-centre velocity in the world frame, m/s: WHAM's refined
            root velocity (its per-step root displacement x 30 steps/s), or with a depth
            root the rate of the depth-placed positions (:mod:`wham_ros.depth.placement`).
        heading_rate: rate of change of the heading (yaw of the body's forward axis, SMPL +z,
            about world z), rad/s, counter-clockwise positive; 0 on the track's first step.
        root_source: where the camera-frame root's distance comes from: 'depth' (the depth
            image) or 'monocular' (WHAM's box-scale estimate).
    """

    track_id: int
    age: int
    global_orient_cam: np.ndarray
    global_orient_world: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    trans_cam: np.ndarray
    trans_world: np.ndarray
    smpl_joints_cam: np.ndarray
    smpl_joints_world: np.ndarray
    coco_joints_cam: np.ndarray
    coco_joints_world: np.ndarray
    contact: np.ndarray
    feet_world: np.ndarray
    keypoints2d: np.ndarray
    bbox_xyxy: np.ndarray
    vertices_cam: Optional[np.ndarray] = None
    root_velocity_world: np.ndarray = field(default_factory=lambda: np.zeros(3))
    heading_rate: float = 0.0
    root_source: str = "monocular"


@dataclass
class FrameResult:
    """Everything the pipeline produced for one camera frame.

    ``K`` (3, 3) intrinsics and ``image_size`` (W, H) pixels of the frame, when known.
    """

    stamp_ns: int
    frame_id: str
    world_frame_id: str
    humans: List[HumanEstimate] = field(default_factory=list)
    timings_ms: Dict[str, float] = field(default_factory=dict)
    dropped: bool = False  # True when the frame-rate policy skipped it (no humans computed)
    skipped_reason: str = ""
    T_world_camera: Optional[np.ndarray] = None
    camera_motion_valid: bool = True
    K: Optional[np.ndarray] = None
    image_size: Optional[tuple] = None


@dataclass
class FrontEndResult:
    """Front-end output for one frame: the WHAM-stage input (a message across machines).

    Attributes:
        stamp_ns, frame_id: of the image.
        K: (3, 3) intrinsics used (CameraInfo or WHAM's default).
        res: (W, H) image size in pixels.
        observations: one per tracked, confirmed, sufficiently visible person.
        ended_track_ids: tracks the tracker removed since the previous frame.
        timings_ms: per-stage wall time.
    """

    stamp_ns: int
    frame_id: str
    K: np.ndarray
    res: tuple
    observations: List[PersonObservation] = field(default_factory=list)
    ended_track_ids: List[int] = field(default_factory=list)
    timings_ms: Dict[str, float] = field(default_factory=dict)
