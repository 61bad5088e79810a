"""A synthetic RGB-D recording with the truth known: a static camera, two people, a wall.

Like :mod:`wham_ros.testing.scenes`, people are saturated colour rectangles (what the
synthetic detector finds), but here they stand in a 3D room: a level camera 1.0 m above a
floor, a wall :data:`WALL_M` ahead, and two people (red, green) 1.75 m tall walking slowly
between 3.8 and 5.6 m. Each person's rectangle is their projection, and the depth image
(aligned to the colour one: same frame, size and intrinsics) holds the floor, the wall and
each body's front surface, a rounded torso :data:`SURFACE_BULGE_M` deep in front of the hip
centre. :func:`write_rgbd_bag` writes it with RealSense topic names.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from wham_ros.testing.scenes import COLOURS
from wham_ros.types import ImuSample

CAMERA_HEIGHT_M = 1.0
WALL_M = 7.5
PERSON_HEIGHT_M = 1.75
PERSON_WIDTH_M = 0.45
HIP_HEIGHT_M = 0.9
SURFACE_BULGE_M = 0.12  # front surface of the torso ahead of the hip centre, at the middle
COLOUR_FRAME = "camera_color_optical_frame"
DEPTH_FRAME = "camera_depth_optical_frame"
PREFIX = "/camera/camera"
TOPICS = {
    "color": f"{PREFIX}/color/image_raw", "color_info": f"{PREFIX}/color/camera_info",
    "aligned": f"{PREFIX}/aligned_depth_to_color/image_raw",
    "aligned_info": f"{PREFIX}/aligned_depth_to_color/camera_info",
    "depth": f"{PREFIX}/depth/image_rect_raw", "depth_info": f"{PREFIX}/depth/camera_info",
    "imu": f"{PREFIX}/imu",
}
# (x m, start z m, end z m) of each person, camera optical frame (x right, z ahead).
PEOPLE = ((-0.9, 3.8, 4.4), (1.0, 5.6, 5.0))


@dataclass
class DepthScene:
    """A rendered RGB-D recording.

    Attributes:
        stamps_ns: (N,) frame stamps.
        colour: N (H, W, 3) uint8 RGB images.
        depth: N (H, W) float32 depth (z) in metres, NaN = no reading.
        K: (3, 3) intrinsics of both images.
        hips: N dicts person index -> (3,) true hip centre, camera optical frame, m.
        imu: IMU samples of the level, static camera (gyro 0, specific force -9.81 m/s^2 along y).
    """

    stamps_ns: List[int]
    colour: List[np.ndarray]
    depth: List[np.ndarray]
    K: np.ndarray
    hips: List[Dict[int, np.ndarray]]
    imu: List[ImuSample]


def make_depth_scene(n_frames: int = 16, size=(320, 240), fps: float = 30.0, holes: float = 0.1,
                     start_ns: int = 1_000_000_000, seed: int = 0) -> DepthScene:
    """Render the scene.

    Args:
        n_frames: frames.
        size: (W, H) px.
        fps: frame rate.
        holes: share of depth pixels without a reading (NaN), at random.
        start_ns: first stamp.
        seed: noise and holes.
    """
    W, H = size
    f = float(np.hypot(W, H))
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]])
    rng = np.random.default_rng(seed)
    u = np.arange(W) + 0.5
    v = np.arange(H) + 0.5
    background_rgb = (100 + rng.integers(0, 20, (H, W, 1))).repeat(3, 2).astype(np.uint8)
    # Floor (y = +CAMERA_HEIGHT_M below the camera) up to the wall.
    below = v - K[1, 2]
    floor = np.where(below > 0, f * CAMERA_HEIGHT_M / np.maximum(below, 1e-9), np.inf)
    room = np.minimum(floor, WALL_M)[:, None].repeat(W, 1).astype(np.float32)  # H x W
    dt_ns = int(round(1e9 / fps))
    scene = DepthScene([], [], [], K, [], [])
    for i in range(n_frames):
        a = i / max(n_frames - 1, 1)
        rgb, depth, hips = background_rgb.copy(), room.copy(), {}
        # Far person first, so a nearer one would cover them.
        order = sorted(range(len(PEOPLE)), key=lambda p: -(PEOPLE[p][1] + a * (PEOPLE[p][2] - PEOPLE[p][1])))
        for p in order:
            x, z0, z1 = PEOPLE[p]
            z = z0 + a * (z1 - z0)
            hips[p] = np.array([x, CAMERA_HEIGHT_M - HIP_HEIGHT_M, z])
            u0, u1 = K[0, 2] + f * (x - PERSON_WIDTH_M / 2) / z, K[0, 2] + f * (x + PERSON_WIDTH_M / 2) / z
            v0 = K[1, 2] + f * (CAMERA_HEIGHT_M - PERSON_HEIGHT_M) / z
            v1 = K[1, 2] + f * CAMERA_HEIGHT_M / z
            cols = np.flatnonzero((u >= u0) & (u < u1))
            rows = np.flatnonzero((v >= v0) & (v < v1))
            rgb[rows[:, None], cols[None, :]] = COLOURS[p]
            across = (u[cols] - 0.5 * (u0 + u1)) / (0.5 * (u1 - u0))  # -1 .. 1
            surface = z - SURFACE_BULGE_M * np.sqrt(np.clip(1 - across ** 2, 0, 1))
            depth[rows[:, None], cols[None, :]] = surface[None, :]
        depth = depth + rng.normal(0, 1, depth.shape).astype(np.float32) * 0.002 * depth ** 2
        depth[rng.random(depth.shape) < holes] = np.nan
        scene.stamps_ns.append(start_ns + i * dt_ns)
        scene.colour.append(rgb)
        scene.depth.append(depth.astype(np.float32))
        scene.hips.append(hips)
    t = start_ns - 600_000_000
    while t <= start_ns + n_frames * dt_ns:
        scene.imu.append(ImuSample(t, np.zeros(3), np.array([0.0, -9.81, 0.0]), None, "camera_imu_optical_frame"))
        t += 5_000_000
    return scene


def depth_fields(metres: np.ndarray, encoding: str) -> dict:
    """``sensor_msgs/Image`` fields of a depth image: ``16UC1`` (mm, 0 = none) or ``32FC1``."""
    H, W = metres.shape
    if encoding == "16UC1":
        data = np.nan_to_num(np.round(metres * 1000.0), nan=0.0).clip(0, 65535).astype("<u2")
    elif encoding == "32FC1":
        data = metres.astype("<f4")
    else:
        raise ValueError(f"Unknown depth encoding '{encoding}'; expected 16UC1 or 32FC1")
    return {"height": H, "width": W, "encoding": encoding, "is_bigendian": 0,
            "step": W * data.itemsize, "data": data.reshape(-1).view(np.uint8)}


def write_rgbd_bag(path: Path, typestore, scene: DepthScene, encoding: str = "16UC1",
                   depth_frames: Optional[int] = None, depth_delay_ns: int = 5_000_000) -> None:
    """Write ``scene`` as a RealSense-like rosbag2 (MCAP), see :data:`TOPICS`.

    Colour (rgb8) and its CameraInfo, the aligned depth (``encoding``) and its CameraInfo,
    the unaligned depth stream (half size, depth frame), and the IMU. The aligned depth of a
    frame is recorded ``depth_delay_ns`` after its colour image, with the same stamp, as
    drivers do.

    Args:
        depth_frames: depth for the first this many frames only (the stream stops); None: all.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    from wham_ros.image_conversion import rgb_to_image_fields
    from wham_ros.ros.conversions import header
    from wham_ros.ros.factory import RosbagsFactory

    f = RosbagsFactory(typestore)
    H, W = scene.colour[0].shape[:2]

    def info(t, frame, K, w, h):
        return f.new("sensor_msgs/msg/CameraInfo", header=header(f, t, frame), width=w, height=h,
                     k=np.asarray(K, np.float64).reshape(-1), distortion_model="plumb_bob")

    K_half = scene.K.copy()
    K_half[:2] *= 0.5
    msgs = []  # (log time, topic, type, message)
    for s in scene.imu:
        v = [f.new("geometry_msgs/msg/Vector3", x=float(a[0]), y=float(a[1]), z=float(a[2]))
             for a in (s.angular_velocity, s.linear_acceleration)]
        msgs.append((s.stamp_ns, TOPICS["imu"], "sensor_msgs/msg/Imu", f.new(
            "sensor_msgs/msg/Imu", header=header(f, s.stamp_ns, s.frame_id), angular_velocity=v[0],
            linear_acceleration=v[1], orientation_covariance=np.array([-1.0] + [0.0] * 8))))
    n_depth = len(scene.stamps_ns) if depth_frames is None else depth_frames
    for i, t in enumerate(scene.stamps_ns):
        msgs.append((t, TOPICS["color_info"], "sensor_msgs/msg/CameraInfo", info(t, COLOUR_FRAME, scene.K, W, H)))
        msgs.append((t, TOPICS["color"], "sensor_msgs/msg/Image", f.new(
            "sensor_msgs/msg/Image", header=header(f, t, COLOUR_FRAME), **rgb_to_image_fields(scene.colour[i]))))
        if i >= n_depth:
            continue
        td = t + depth_delay_ns
        msgs.append((td, TOPICS["aligned_info"], "sensor_msgs/msg/CameraInfo", info(t, COLOUR_FRAME, scene.K, W, H)))
        msgs.append((td, TOPICS["aligned"], "sensor_msgs/msg/Image", f.new(
            "sensor_msgs/msg/Image", header=header(f, t, COLOUR_FRAME), **depth_fields(scene.depth[i], encoding))))
        msgs.append((td, TOPICS["depth_info"], "sensor_msgs/msg/CameraInfo",
                     info(t, DEPTH_FRAME, K_half, W // 2, H // 2)))
        msgs.append((td, TOPICS["depth"], "sensor_msgs/msg/Image", f.new(
            "sensor_msgs/msg/Image", header=header(f, t, DEPTH_FRAME),
            **depth_fields(scene.depth[i][::2, ::2], encoding))))
    msgs.sort(key=lambda m: m[0])
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {}
        for topic in sorted({m[1] for m in msgs}):  # every topic up front, alphabetically
            conns[topic] = w.add_connection(topic, next(m[2] for m in msgs if m[1] == topic),
                                            typestore=typestore)
        for t, topic, msgtype, msg in msgs:
            w.write(conns[topic], t, typestore.serialize_cdr(msg, msgtype))
