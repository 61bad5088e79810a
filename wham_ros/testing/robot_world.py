"""A simulated robot with known truth: a base that drives and turns, a head that pans, a camera
and an IMU on the head, people at known positions in ``odom``.

The TF tree is the one robots publish (REP-105 names; ``/tf`` for what moves, ``/tf_static``
for what is mounted)::

    odom ──/tf──► base_link ──/tf (pan joint)──► head_pan_link ──/tf_static──► camera_link
                                                                          ├─► camera_optical_frame
                                                                          └─► imu_link

Frames are REP-103 (x forward, y left, z up) except the optical frame (x right, y down,
z forward). People are coloured upright boxes (what the synthetic detector of
:mod:`wham_ros.testing.synthetic_models` finds) standing on the floor of ``odom``, each
facing the camera; they may walk at a constant velocity. Everything is a function of time,
so the truth (camera pose, each person's hip centre) is exact at any stamp. ROS-free: the
messages are built by :mod:`wham_ros.testing.robot_bag`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from wham_ros.geometry.frames import R_ZUP_YDOWN, invert_transform, make_transform
from wham_ros.geometry.so3 import log_so3, rot_x, rot_y, rot_z
from wham_ros.testing.scenes import COLOURS
from wham_ros.types import CameraFrame, ImuSample

NS = 1_000_000_000
GRAVITY_M_S2 = 9.80665
HIP_HEIGHT_FRACTION = 0.53  # hip centre height / body height
# Mounting (parent, child, translation m, rotation) of the static frames.
STATIC_FRAMES = (
    ("head_pan_link", "camera_link", (0.05, 0.0, 0.10), rot_y(0.08)),  # tilted 0.08 rad down
    ("camera_link", "camera_optical_frame", (0.0, 0.0, 0.0), R_ZUP_YDOWN),
    ("camera_link", "imu_link", (0.0, -0.02, 0.0), rot_z(np.pi / 2) @ rot_x(np.pi)),
)
MOVING_FRAMES = (("odom", "base_link"), ("base_link", "head_pan_link"))
HEAD_OFFSET_M = (0.10, 0.0, 1.10)  # pan joint in base_link


@dataclass
class Person:
    """An upright box person walking at constant velocity on the floor of ``odom``.

    Attributes:
        start_xy: (2,) floor position at t = 0 (the world's start time), m.
        velocity_xy: (2,) m/s.
        height_m, width_m: box size, m.
        colour: RGB of the box (one of the synthetic detector's colours).
    """

    start_xy: Sequence[float]
    velocity_xy: Sequence[float] = (0.0, 0.0)
    height_m: float = 1.7
    width_m: float = 0.5
    colour: Tuple[int, int, int] = COLOURS[0]

    def hip(self, t_s: np.ndarray) -> np.ndarray:
        """(..., 3) hip centre in ``odom`` at times ``t_s`` (s since the start), m."""
        t = np.asarray(t_s, dtype=np.float64)[..., None]
        xy = np.asarray(self.start_xy, float) + t * np.asarray(self.velocity_xy, float)
        z = np.full(t.shape, HIP_HEIGHT_FRACTION * self.height_m)
        return np.concatenate([xy, z], axis=-1)


@dataclass
class RobotWorld:
    """The robot, its sensors and the people (see the module docstring).

    Attributes:
        speed_m_s: base forward speed.
        turn_rad_s: base yaw rate (a circle arc; 0: straight).
        pan_amplitude_rad, pan_hz: head pan ``A sin(2 pi f t)``.
        people: who stands around.
        fps: camera rate; ``size`` (W, H) px; the focal length is ``focal_px``.
        imu_hz, tf_hz: IMU and /tf rates.
        duration_s: length of the recording; ``start_ns`` its first stamp.
        tf_gaps: ``(t0_s, t1_s)`` intervals without /tf messages (bad-input tests).
        map_jump: optional ``(t_s, (dx, dy, dyaw))``: odom -> base_link jumps by this at t_s
            (a relocalisation as TF sees it).
    """

    speed_m_s: float = 0.4
    turn_rad_s: float = 0.15
    pan_amplitude_rad: float = 0.2
    pan_hz: float = 0.25
    people: List[Person] = field(default_factory=lambda: [
        Person((4.0, 0.9), (0.0, -0.2), colour=COLOURS[0]),
        Person((5.0, -0.5), (0.2, 0.2), colour=COLOURS[1])])
    fps: float = 10.0
    size: Tuple[int, int] = (320, 240)
    focal_px: float = 260.0
    imu_hz: float = 200.0
    tf_hz: float = 50.0
    duration_s: float = 2.0
    start_ns: int = 1_700_000_000 * NS
    tf_gaps: Sequence[Tuple[float, float]] = ()
    map_jump: Optional[Tuple[float, Tuple[float, float, float]]] = None

    # ------------------------------------------------------------------ kinematics
    def base_pose(self, t_s: float) -> np.ndarray:
        """(4, 4) ``odom <- base_link`` at ``t_s`` (s since the start)."""
        yaw = self.turn_rad_s * t_s
        if abs(self.turn_rad_s) < 1e-9:
            x, y = self.speed_m_s * t_s, 0.0
        else:
            r = self.speed_m_s / self.turn_rad_s
            x, y = r * np.sin(yaw), r * (1.0 - np.cos(yaw))
        if self.map_jump is not None and t_s >= self.map_jump[0]:
            dx, dy, dyaw = self.map_jump[1]
            x, y, yaw = x + dx, y + dy, yaw + dyaw
        return make_transform(rot_z(yaw), np.array([x, y, 0.0]))

    def pan(self, t_s: float) -> float:
        """Head pan angle (rad) at ``t_s``."""
        return self.pan_amplitude_rad * np.sin(2.0 * np.pi * self.pan_hz * t_s)

    def joint_pose(self, t_s: float) -> np.ndarray:
        """(4, 4) ``base_link <- head_pan_link`` at ``t_s``."""
        return make_transform(rot_z(self.pan(t_s)), np.asarray(HEAD_OFFSET_M, float))

    def moving_transforms(self, t_s: float) -> List[Tuple[str, str, np.ndarray]]:
        """``(parent, child, T (4, 4))`` of the /tf frames at ``t_s``."""
        return [("odom", "base_link", self.base_pose(t_s)),
                ("base_link", "head_pan_link", self.joint_pose(t_s))]

    @staticmethod
    def static_transforms() -> List[Tuple[str, str, np.ndarray]]:
        """``(parent, child, T (4, 4))`` of the /tf_static frames."""
        return [(p, c, make_transform(R, np.asarray(t, float))) for p, c, t, R in STATIC_FRAMES]

    def T_odom(self, frame: str, t_s: float) -> np.ndarray:
        """(4, 4) ``odom <- frame`` at ``t_s`` (the truth, through the whole tree)."""
        parents = {c: (p, T) for p, c, T in self.moving_transforms(t_s) + self.static_transforms()}
        T = np.eye(4)
        while frame != "odom":
            frame, T_pc = parents[frame][0], parents[frame][1]
            T = T_pc @ T
        return T

    def T_odom_cam(self, t_s: float) -> np.ndarray:
        """(4, 4) camera optical frame -> ``odom`` at ``t_s``."""
        return self.T_odom("camera_optical_frame", t_s)

    @property
    def K(self) -> np.ndarray:
        """(3, 3) camera intrinsics."""
        W, H = self.size
        return np.array([[self.focal_px, 0.0, W / 2], [0.0, self.focal_px, H / 2], [0.0, 0.0, 1.0]])

    def frame_times(self) -> np.ndarray:
        """Image times, s since the start."""
        return np.arange(0.0, self.duration_s - 1e-9, 1.0 / self.fps)

    def stamp(self, t_s: float) -> int:
        """Integer ns stamp of a time since the start."""
        return self.start_ns + int(round(t_s * NS))

    def in_tf_gap(self, t_s: float) -> bool:
        """True when no /tf message is sent at ``t_s``."""
        return any(a <= t_s < b for a, b in self.tf_gaps)

    # ------------------------------------------------------------------ sensors
    def render(self, t_s: float) -> np.ndarray:
        """(H, W, 3) uint8 RGB image at ``t_s``: the people as boxes facing the camera."""
        W, H = self.size
        img = np.full((H, W, 3), 110, np.uint8)
        img[H // 2:] = 90  # floor
        T_cam_odom = invert_transform(self.T_odom_cam(t_s))
        cam_pos = self.T_odom_cam(t_s)[:3, 3]
        boxes = []
        for person in self.people:
            hip = person.hip(t_s)
            to_person = hip[:2] - cam_pos[:2]
            side = np.array([-to_person[1], to_person[0]]) / max(np.linalg.norm(to_person), 1e-9)
            corners = [np.array([*(hip[:2] + s * person.width_m / 2 * side), z])
                       for s in (-1, 1) for z in (0.0, person.height_m)]
            pc = np.array([T_cam_odom[:3, :3] @ c + T_cam_odom[:3, 3] for c in corners])  # 4 x 3
            if np.any(pc[:, 2] < 0.3):
                continue  # behind or too close to the camera
            uv = (self.K @ pc.T).T
            uv = uv[:, :2] / uv[:, 2:]
            boxes.append((pc[:, 2].mean(), uv, person.colour))
        for _, uv, colour in sorted(boxes, key=lambda b: -b[0]):  # far first
            u0, v0 = np.floor(uv.min(0)).astype(int)
            u1, v1 = np.ceil(uv.max(0)).astype(int)
            u0, v0, u1, v1 = max(u0, 0), max(v0, 0), min(u1, W), min(v1, H)
            if u1 - u0 >= 2 and v1 - v0 >= 2:
                img[v0:v1, u0:u1] = colour
        return img

    def camera_frames(self) -> List[CameraFrame]:
        """Every image with its stamp, frame id and intrinsics (no pose: that is TF's)."""
        return [CameraFrame(self.stamp(t), self.render(t), "camera_optical_frame", self.K.copy())
                for t in self.frame_times()]

    def imu_samples(self, lead_s: float = 0.5) -> List[ImuSample]:
        """Gyro and accelerometer of ``imu_link`` from ``lead_s`` before the first image on.

        Rates and specific force by central differences of the exact pose (h = 1 ms).
        """
        h = 1e-3
        out = []
        for t in np.arange(-lead_s, self.duration_s + 0.2, 1.0 / self.imu_hz):
            T0, T1, T = self.T_odom("imu_link", t - h), self.T_odom("imu_link", t + h), self.T_odom("imu_link", t)
            w_imu = log_so3(T0[:3, :3].T @ T1[:3, :3]) / (2 * h)
            acc = (T1[:3, 3] - 2 * T[:3, 3] + T0[:3, 3]) / (h * h)
            f_imu = T[:3, :3].T @ (acc + np.array([0.0, 0.0, GRAVITY_M_S2]))
            out.append(ImuSample(self.stamp(t), w_imu, f_imu, None, "imu_link"))
        return out

    def tf_times(self, lead_s: float = 0.5) -> np.ndarray:
        """Times of the /tf messages (s since the start), gaps removed."""
        t = np.arange(-lead_s, self.duration_s + 0.2, 1.0 / self.tf_hz)
        return np.array([ti for ti in t if not self.in_tf_gap(ti)])

    def hips(self, t_s: float) -> Dict[int, np.ndarray]:
        """Truth: person index -> (3,) hip centre in ``odom`` at ``t_s``."""
        return {i: p.hip(t_s) for i, p in enumerate(self.people)}

    def R_cam_imu(self) -> np.ndarray:
        """(3, 3) IMU -> camera optical rotation (what TF says)."""
        T = invert_transform(self.T_odom_cam(0.0)) @ self.T_odom("imu_link", 0.0)
        return T[:3, :3]
