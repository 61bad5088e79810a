"""Synthetic camera + IMU recordings for end-to-end tests and demos.

People are saturated red / green / blue / yellow upright rectangles (what the synthetic
detector finds)
on a grey, lightly textured background; they walk horizontally at constant speed. The
camera pans about its y axis at a constant rate (optionally from rest), measured by a simulated
IMU whose frame is the camera optical frame rotated by ``R_cam_imu``.
"""
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from wham_ros.geometry.so3 import exp_so3
from wham_ros.types import CameraFrame, ImuSample

COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))  # red, green, blue, yellow


@dataclass
class Scene:
    """A recording: frames in time order and IMU samples in time order.

    ``R_cam_imu``: (3, 3) camera optical frame <- IMU frame (``v_cam = R v_imu``), the
    transform a robot publishes on ``/tf_static``.
    """

    frames: List[CameraFrame]
    imu: List[ImuSample]
    K: np.ndarray
    R_cam_imu: np.ndarray = field(default_factory=lambda: np.eye(3))


def make_scene(n_frames: int = 20, fps: float = 30.0, size=(640, 480), people: int = 2,
               pan_rate_rad_s: float = 0.2, imu_rate_hz: float = 200.0,
               R_cam_imu: Optional[np.ndarray] = None, start_ns: int = 1_000_000_000,
               gravity: bool = True, seed: int = 0, rest_before_start: bool = False) -> Scene:
    """Render a scene.

    Args:
        n_frames: camera frames.
        fps: camera rate.
        size: (W, H) pixels.
        people: 0 to 4 walking people (evenly spread, alternating directions).
        pan_rate_rad_s: camera yaw rate about its optical y axis.
        imu_rate_hz: IMU sample rate (samples cover the whole recording).
        R_cam_imu: camera <- IMU rotation (identity if None).
        start_ns: first frame stamp.
        gravity: include the accelerometer (camera level, y down = gravity direction).
        seed: background texture seed.
        rest_before_start: the camera is at rest until the first frame (the IMU samples
            before it, 600 ms, measure no rotation), as a robot's camera before it moves;
            otherwise it pans from the first IMU sample on.
    """
    W, H = size
    R_ci = np.eye(3) if R_cam_imu is None else np.asarray(R_cam_imu, float)
    rng = np.random.default_rng(seed)
    background = (100 + rng.integers(0, 20, (H, W, 1))).repeat(3, 2).astype(np.uint8)
    f = float(np.hypot(W, H))
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]])
    frames = []
    dt_ns = int(round(1e9 / fps))
    for i in range(n_frames):
        img = background.copy()
        for p in range(people):
            spacing = 1.0 / max(people, 1)
            cx = int(W * spacing * (p + 0.5) + (1 - 2 * (p % 2)) * 2 * i)
            top, bottom = int(H * 0.15), int(H * 0.85)
            half = int(min(H * 0.12, W * spacing * 0.3))
            img[top:bottom, max(cx - half, 0):cx + half] = COLOURS[p]
        frames.append(CameraFrame(start_ns + i * dt_ns, img, "camera_optical_frame", K.copy()))
    imu = []
    w_cam = np.array([0.0, pan_rate_rad_s, 0.0])
    w_imu = R_ci.T @ w_cam
    g_cam = np.array([0.0, -9.81, 0.0])  # specific force: up = -y in the optical frame
    t_end = start_ns + n_frames * dt_ns + 50_000_000
    t = start_ns - 600_000_000
    step = int(round(1e9 / imu_rate_hz))
    while t <= t_end:
        # The camera yaws about its own y axis, which stays vertical: gravity is constant.
        w = np.zeros(3) if rest_before_start and t < start_ns else w_imu
        imu.append(ImuSample(int(t), w.copy(), R_ci.T @ g_cam if gravity else None, None,
                             "imu_link"))
        t += step
    return Scene(frames, imu, K, R_ci)


def camera_rotation(scene: Scene, pan_rate_rad_s: float, i: int) -> np.ndarray:
    """True camera orientation (world <- camera) at frame i, relative to frame 0."""
    t = (scene.frames[i].stamp_ns - scene.frames[0].stamp_ns) * 1e-9
    return exp_so3(np.array([0.0, pan_rate_rad_s * t, 0.0]))
