"""Pipeline results -> ROS messages (HumanArray, MeshFaces, TF), vectorised with numpy.

Every function takes a message factory (:mod:`wham_ros.ros.factory`) so the live node
(rclpy) and the offline runner (rosbags) publish identical messages. Frames: camera
quantities in the image's optical frame, world quantities in ``FrameResult.world_frame_id``
(REP-103, z up). Quaternions in messages are (x, y, z, w).
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from wham_ros.body.rep155 import A_REP_SMPL
from wham_ros.geometry.contacts import CONTACT_POINT_NAMES
from wham_ros.geometry.rotations import matrix_to_axis_angle, matrix_to_quaternion
from wham_ros.types import FrameResult, FrontEndResult, HumanEstimate, PersonObservation

HUMAN = "wham_ros/msg/Human"
HUMAN_ARRAY = "wham_ros/msg/HumanArray"
MESH_FACES = "wham_ros/msg/MeshFaces"
PERSON_OBS = "wham_ros/msg/PersonObservation"
PERSON_OBS_ARRAY = "wham_ros/msg/PersonObservationArray"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"

STATE_NEW = 0
STATE_TRACKED = 1
# Indices of each foot's points in HumanEstimate.contact (WHAM order, CONTACT_POINT_NAMES).
LEFT_FOOT = tuple(i for i, n in enumerate(CONTACT_POINT_NAMES) if n.startswith("left_"))
RIGHT_FOOT = tuple(i for i, n in enumerate(CONTACT_POINT_NAMES) if n.startswith("right_"))


def body_id(track_id: int) -> str:
    """REP-155 body id for a track: ``b<track id>`` (a ROS name token must not start with a
    digit, and the id is one in ``/humans/bodies/<id>/...``); its TF frame is ``body_<id>``."""
    return f"b{int(track_id)}"


def body_frame(track_id: int) -> str:
    """REP-155 TF frame of a tracked body (``body_<id>``)."""
    return f"body_{body_id(track_id)}"


def smpl_frame(track_id: int) -> str:
    """TF frame of a body's SMPL pelvis axes (``body_<id>_smpl``, child of ``body_<id>``)."""
    return f"{body_frame(track_id)}_smpl"


def stamp(f, stamp_ns: int):
    """``builtin_interfaces/Time`` for integer nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return f.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


def header(f, stamp_ns: int, frame_id: str):
    """``std_msgs/Header``."""
    return f.new("std_msgs/msg/Header", stamp=stamp(f, stamp_ns), frame_id=frame_id)


def human_rotations(humans: Sequence[HumanEstimate]):
    """Batched rotation conversions for all humans of a frame (computed once per frame and
    shared by :func:`result_to_msg` and :func:`tf_msg`).

    Args:
        humans: N >= 1 estimates, in message order (ascending track id).

    Returns:
        (quat_cam, quat_world, body_aa): (N, 4) xyzw, (N, 4) xyzw, (N, 69) axis-angle (rad).
    """
    mats = np.stack([np.concatenate([h.global_orient_cam[None], h.global_orient_world[None],
                                     h.body_pose], axis=0) for h in humans])  # N x 25 x 3 x 3
    mats_t = torch.from_numpy(mats.astype(np.float64))
    quat_wxyz = matrix_to_quaternion(mats_t[:, :2]).numpy()  # N x 2 x 4 (w, x, y, z)
    quat_xyzw = quat_wxyz[..., [1, 2, 3, 0]]
    body_aa = matrix_to_axis_angle(mats_t[:, 2:]).numpy().reshape(len(humans), 69)  # N x 69
    return quat_xyzw[:, 0], quat_xyzw[:, 1], body_aa


def vector3(f, v):
    """``geometry_msgs/Vector3`` of a (3,) array."""
    x, y, z = (float(c) for c in np.asarray(v).reshape(3))
    return f.new("geometry_msgs/msg/Vector3", x=x, y=y, z=z)


def _pose(f, position: np.ndarray, quat_xyzw: np.ndarray):
    x, y, z = (float(v) for v in position)
    qx, qy, qz, qw = (float(v) for v in quat_xyzw)
    return f.new("geometry_msgs/msg/Pose",
                 position=f.new("geometry_msgs/msg/Point", x=x, y=y, z=z),
                 orientation=f.new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw))


def contact_probability(contact) -> np.ndarray:
    """(4,) float32 contact scores as published: WHAM's raw scores clipped to [0, 1].

    Human.msg documents a probability; the network's raw output can leave [0, 1] slightly
    (up to ~1.12 seen), and stays unclipped in ``HumanEstimate.contact``. NaN becomes 0.
    """
    raw = np.asarray(contact, dtype=np.float32).reshape(4)
    return np.clip(np.nan_to_num(raw, nan=0.0), 0.0, 1.0)


def keypoint_confidence(keypoints2d) -> np.ndarray:
    """(17,) float32 keypoint scores as published: the front-end's raw scores clipped to [0, 1].

    Human.msg documents a confidence in [0, 1]; ViTPose's score is a heatmap maximum, which
    can exceed 1 (1.1-1.8 seen with the test models). The raw value stays in
    ``HumanEstimate.keypoints2d`` and in ``PersonObservation.keypoints`` (WHAM's input as is).
    NaN becomes 0.
    """
    raw = np.asarray(keypoints2d, dtype=np.float32).reshape(17, 3)[:, 2]
    return np.clip(np.nan_to_num(raw, nan=0.0), 0.0, 1.0)


def human_to_msg(f, h: HumanEstimate, hdr, world_frame_id: str, quat_cam: np.ndarray,
                 quat_world: np.ndarray, body_aa: np.ndarray, contact_threshold: float,
                 include_vertices: bool):
    """One ``wham_ros/Human`` (see msg/Human.msg for every field's unit and frame).

    Args:
        f: message factory.
        h: the estimate.
        hdr: ``std_msgs/Header`` of the image (camera optical frame).
        world_frame_id: frame of the ``*_world`` fields.
        quat_cam, quat_world: (4,) root orientation (x, y, z, w) in camera / world frame.
        body_aa: (69,) body pose axis-angle, rad.
        contact_threshold: contact score at or above which a foot is "in contact".
        include_vertices: fill ``vertices_cam`` when the estimate has vertices.
    """
    contact = contact_probability(h.contact)
    kp = np.asarray(h.keypoints2d, dtype=np.float32).reshape(17, 3)
    verts = (np.asarray(h.vertices_cam, dtype=np.float32).reshape(-1)
             if include_vertices and h.vertices_cam is not None else np.zeros(0, np.float32))
    return f.new(
        HUMAN, header=hdr, world_frame_id=world_frame_id, track_id=int(h.track_id),
        body_id=body_id(h.track_id), age=int(h.age),
        state=STATE_NEW if h.age <= 1 else STATE_TRACKED,
        root_source=h.root_source,
        root_pose_cam=_pose(f, h.trans_cam, quat_cam),
        root_pose_world=_pose(f, h.trans_world, quat_world),
        root_velocity_world=vector3(f, h.root_velocity_world), heading_rate=float(h.heading_rate),
        body_pose=body_aa.astype(np.float32), betas=np.asarray(h.betas, np.float32).reshape(10),
        smpl_joints_cam=f.points(h.smpl_joints_cam), smpl_joints_world=f.points(h.smpl_joints_world),
        coco_joints_cam=f.points(h.coco_joints_cam), coco_joints_world=f.points(h.coco_joints_world),
        contact=contact, contact_points_world=f.points(h.feet_world),
        left_foot_contact=bool(contact[list(LEFT_FOOT)].max() >= contact_threshold),
        right_foot_contact=bool(contact[list(RIGHT_FOOT)].max() >= contact_threshold),
        contact_threshold=float(contact_threshold),
        keypoints_2d=np.ascontiguousarray(kp[:, :2]).reshape(34), keypoint_scores=keypoint_confidence(kp),
        bbox_xyxy=np.asarray(h.bbox_xyxy, np.float32).reshape(4), vertices_cam=verts)


def sorted_humans(result: FrameResult) -> List[HumanEstimate]:
    """The humans of a frame in message order (ascending track id)."""
    return sorted(result.humans, key=lambda h: h.track_id)


def result_to_msg(f, result: FrameResult, contact_threshold: float = 0.5,
                  include_vertices: bool = False, rotations=None):
    """``wham_ros/HumanArray`` for one frame, humans sorted by track id.

    ``rotations``: :func:`human_rotations` of :func:`sorted_humans` when already computed.
    """
    hdr = header(f, result.stamp_ns, result.frame_id)
    humans = sorted_humans(result)
    msgs: List = []
    if humans:
        quat_cam, quat_world, body_aa = rotations or human_rotations(humans)
        msgs = [human_to_msg(f, h, hdr, result.world_frame_id, quat_cam[i], quat_world[i],
                             body_aa[i], contact_threshold, include_vertices)
                for i, h in enumerate(humans)]
    return f.new(HUMAN_ARRAY, header=hdr, world_frame_id=result.world_frame_id, humans=msgs)


def faces_to_msg(f, faces: np.ndarray, num_vertices: int, stamp_ns: int):
    """``wham_ros/MeshFaces`` for the (F, 3) SMPL triangle indices."""
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3) vertex indices, got shape {faces.shape}")
    return f.new(MESH_FACES, header=header(f, stamp_ns, ""), num_vertices=int(num_vertices),
                 triangles=faces.astype(np.uint32).reshape(-1))


def _transform(f, stamp_ns: int, parent: str, child: str, translation, quat_xyzw):
    x, y, z = (float(v) for v in translation)
    qx, qy, qz, qw = (float(v) for v in quat_xyzw)
    return f.new("geometry_msgs/msg/TransformStamped", header=header(f, stamp_ns, parent),
                 child_frame_id=child,
                 transform=f.new("geometry_msgs/msg/Transform",
                                 translation=f.new("geometry_msgs/msg/Vector3", x=x, y=y, z=z),
                                 rotation=f.new("geometry_msgs/msg/Quaternion",
                                                x=qx, y=qy, z=qz, w=qw)))


# Constant rotations between the REP-155 body axes and the SMPL pelvis axes, (x, y, z, w).
_Q_REP_SMPL = Rotation.from_matrix(A_REP_SMPL).as_quat()  # body_<id> <- body_<id>_smpl
_Q_SMPL_REP = Rotation.from_matrix(A_REP_SMPL.T).as_quat()


def _quat_mul_xyzw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of (x, y, z, w) quaternions (the rotation ``R_a R_b``)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz])


def tf_msg(f, result: FrameResult, include_bodies: bool = True, include_camera: bool = False,
           rotations=None):
    """``tf2_msgs/TFMessage`` with the body frames of every human and ``world -> camera``.

    Per human: ``world -> body_<id>`` (REP-155: origin at the hip centre, x forward out of the
    body, y left, z up, following the pelvis) and ``body_<id> -> body_<id>_smpl`` (the SMPL
    pelvis axes: x left, y up, z forward; a constant rotation). The camera transform
    (``result.T_world_camera``, world <- camera optical frame, child ``result.frame_id``) is
    included when ``include_camera`` and the frame has one.
    ``rotations``: :func:`human_rotations` of :func:`sorted_humans` when already computed.
    """
    humans = sorted_humans(result) if include_bodies else []
    transforms = []
    if humans:
        _, quat_world, _ = rotations or human_rotations(humans)
        for h, q in zip(humans, quat_world):  # R_world_rep = R_world_smpl A^T
            transforms += [
                _transform(f, result.stamp_ns, result.world_frame_id, body_frame(h.track_id),
                           h.trans_world, _quat_mul_xyzw(q, _Q_SMPL_REP)),
                _transform(f, result.stamp_ns, body_frame(h.track_id), smpl_frame(h.track_id),
                           np.zeros(3), _Q_REP_SMPL)]
    if include_camera and result.T_world_camera is not None:
        T = np.asarray(result.T_world_camera, dtype=np.float64)  # 4 x 4, world <- camera
        q_wxyz = matrix_to_quaternion(torch.from_numpy(T[:3, :3].copy())).numpy()
        transforms.append(_transform(f, result.stamp_ns, result.world_frame_id, result.frame_id,
                                     T[:3, 3], q_wxyz[[1, 2, 3, 0]]))
    return f.new(TF_MESSAGE, transforms=transforms)


def observation_to_msg(f, obs: PersonObservation):
    """``wham_ros/PersonObservation`` (front-end -> WHAM) for one person."""
    def opt(a, n):
        return (np.zeros(0, np.float32) if a is None
                else np.asarray(a, np.float32).reshape(n))

    return f.new(
        PERSON_OBS, track_id=int(obs.track_id), is_new=bool(obs.is_new),
        bbox_xyxy=np.asarray(obs.bbox_xyxy, np.float32).reshape(4),
        keypoints=np.asarray(obs.keypoints, np.float32).reshape(51),
        bbox_cxcys=np.asarray(obs.bbox_cxcys, np.float32).reshape(3),
        x=np.asarray(obs.x, np.float32).reshape(37), mask=np.asarray(obs.mask, bool).reshape(17),
        features=np.asarray(obs.features, np.float32).reshape(1024),
        root_depth_m=0.0 if obs.root_depth_m is None else float(obs.root_depth_m),
        init_global_orient=opt(obs.init_global_orient, 9),
        init_body_pose=opt(obs.init_body_pose, 207), init_betas=opt(obs.init_betas, 10),
        flipped_x=opt(obs.flipped_x, 37),
        flipped_mask=(np.zeros(0, bool) if obs.flipped_mask is None
                      else np.asarray(obs.flipped_mask, bool).reshape(17)),
        flipped_features=opt(obs.flipped_features, 1024),
        flipped_init_global_orient=opt(obs.flipped_init_global_orient, 9),
        flipped_init_body_pose=opt(obs.flipped_init_body_pose, 207),
        flipped_init_betas=opt(obs.flipped_init_betas, 10))


def msg_to_observation(msg) -> PersonObservation:
    """Inverse of :func:`observation_to_msg` (works on rclpy and rosbags messages)."""
    def opt(a, shape):
        a = np.asarray(a, np.float32)
        return None if a.size == 0 else a.reshape(shape)

    return PersonObservation(
        track_id=int(msg.track_id), is_new=bool(msg.is_new),
        bbox_xyxy=np.asarray(msg.bbox_xyxy, np.float32),
        keypoints=np.asarray(msg.keypoints, np.float32).reshape(17, 3),
        bbox_cxcys=np.asarray(msg.bbox_cxcys, np.float32),
        x=np.asarray(msg.x, np.float32), mask=np.asarray(msg.mask, bool),
        features=np.asarray(msg.features, np.float32),
        root_depth_m=float(msg.root_depth_m) if msg.root_depth_m > 0 else None,
        init_global_orient=opt(msg.init_global_orient, (3, 3)),
        init_body_pose=opt(msg.init_body_pose, (23, 3, 3)),
        init_betas=opt(msg.init_betas, (10,)),
        flipped_x=opt(msg.flipped_x, (37,)),
        flipped_mask=None if len(msg.flipped_mask) == 0 else np.asarray(msg.flipped_mask, bool),
        flipped_features=opt(msg.flipped_features, (1024,)),
        flipped_init_global_orient=opt(msg.flipped_init_global_orient, (3, 3)),
        flipped_init_body_pose=opt(msg.flipped_init_body_pose, (23, 3, 3)),
        flipped_init_betas=opt(msg.flipped_init_betas, (10,)))


def frontend_result_to_msg(f, fe: FrontEndResult):
    """``wham_ros/PersonObservationArray`` for a front-end result (people by track id)."""
    people = sorted(fe.observations, key=lambda ob: ob.track_id)
    W, H = (int(v) for v in fe.res)
    return f.new(PERSON_OBS_ARRAY, header=header(f, fe.stamp_ns, fe.frame_id),
                 k=np.asarray(fe.K, np.float64).reshape(9), width=W, height=H,
                 people=[observation_to_msg(f, ob) for ob in people],
                 ended_track_ids=np.asarray(fe.ended_track_ids, np.uint32).reshape(-1))


def msg_to_frontend_result(msg) -> FrontEndResult:
    """Inverse of :func:`frontend_result_to_msg` (rclpy or rosbags message); no timings."""
    t = msg.header.stamp
    return FrontEndResult(
        stamp_ns=int(t.sec) * 1_000_000_000 + int(t.nanosec), frame_id=msg.header.frame_id,
        K=np.asarray(msg.k, np.float64).reshape(3, 3), res=(int(msg.width), int(msg.height)),
        observations=[msg_to_observation(p) for p in msg.people],
        ended_track_ids=[int(i) for i in msg.ended_track_ids])
