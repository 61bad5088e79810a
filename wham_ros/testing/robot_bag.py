"""The simulated robot (:mod:`wham_ros.testing.robot_world`) as ROS messages and as a rosbag2.

Topics: ``/camera/image_raw`` (Image rgb8), ``/camera/camera_info`` (with every image),
``/imu/data`` (optional),
``/tf`` (``odom -> base_link`` and the pan joint, ``tf_hz``) and ``/tf_static`` (camera and
IMU mounts, once, latched). Messages are built through a message factory
(:mod:`wham_ros.ros.factory`), so the same list goes into a bag (rosbags) or onto DDS (rclpy).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List

import numpy as np

IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
IMU_TOPIC = "/imu/data"
TF_TOPIC = "/tf"
TF_STATIC_TOPIC = "/tf_static"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"


@dataclass
class RobotMessage:
    """One message of the recording (log time = its stamp)."""

    stamp_ns: int
    topic: str
    msgtype: str
    msg: Any
    latched: bool = False


def transform_stamped(f, stamp_ns: int, parent: str, child: str, T: np.ndarray):
    """``geometry_msgs/TransformStamped`` ``parent <- child`` of a (4, 4) transform."""
    from wham_ros.geometry.so3 import matrix_to_quat_xyzw
    from wham_ros.ros.conversions import header

    q = matrix_to_quat_xyzw(np.asarray(T[:3, :3], dtype=np.float64))
    x, y, z = (float(v) for v in T[:3, 3])
    return f.new("geometry_msgs/msg/TransformStamped", header=header(f, stamp_ns, parent),
                 child_frame_id=child, transform=f.new(
                     "geometry_msgs/msg/Transform",
                     translation=f.new("geometry_msgs/msg/Vector3", x=x, y=y, z=z),
                     rotation=f.new("geometry_msgs/msg/Quaternion", x=float(q[0]), y=float(q[1]),
                                    z=float(q[2]), w=float(q[3]))))


def robot_messages(f, world, imu: bool = True) -> List[RobotMessage]:
    """Every message of the recording in stamp order (a message at the same stamp as an image
    comes before it).

    Args:
        f: message factory.
        world: a :class:`wham_ros.testing.robot_world.RobotWorld`.
        imu: include ``/imu/data``.
    """
    from wham_ros.ros.conversions import header

    start = world.stamp(-0.5)
    out = [RobotMessage(start, TF_STATIC_TOPIC, TF_MESSAGE, f.new(TF_MESSAGE, transforms=[
        transform_stamped(f, start, p, c, T) for p, c, T in world.static_transforms()]), True)]
    W, H = world.size
    frame = "camera_optical_frame"
    for t in world.tf_times():
        s = world.stamp(t)
        out.append(RobotMessage(s, TF_TOPIC, TF_MESSAGE, f.new(TF_MESSAGE, transforms=[
            transform_stamped(f, s, p, c, T) for p, c, T in world.moving_transforms(t)])))
    if imu:
        for sample in world.imu_samples():
            v = [f.new("geometry_msgs/msg/Vector3", x=float(a[0]), y=float(a[1]), z=float(a[2]))
                 for a in (sample.angular_velocity, sample.linear_acceleration)]
            out.append(RobotMessage(sample.stamp_ns, IMU_TOPIC, "sensor_msgs/msg/Imu", f.new(
                "sensor_msgs/msg/Imu", header=header(f, sample.stamp_ns, sample.frame_id),
                angular_velocity=v[0], linear_acceleration=v[1],
                orientation_covariance=np.array([-1.0] + [0.0] * 8))))
    for t in world.frame_times():  # a CameraInfo with every image, as camera drivers publish
        s = world.stamp(t)
        out.append(RobotMessage(s, CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo", f.new(
            "sensor_msgs/msg/CameraInfo", header=header(f, s, frame), width=W, height=H,
            distortion_model="plumb_bob", d=np.zeros(5), k=world.K.reshape(-1),
            r=np.eye(3).reshape(-1), p=np.hstack([world.K, np.zeros((3, 1))]).reshape(-1))))
        out.append(RobotMessage(s, IMAGE_TOPIC, "sensor_msgs/msg/Image", f.new(
            "sensor_msgs/msg/Image", header=header(f, s, frame), height=H, width=W,
            encoding="rgb8", step=W * 3, data=np.ascontiguousarray(world.render(t)).reshape(-1))))
    out.sort(key=lambda m: (m.stamp_ns, m.topic == IMAGE_TOPIC))  # the image last at its stamp
    return out


def write_robot_bag(path: Path, typestore, world, imu: bool = True, storage=None) -> List[int]:
    """Write the robot's recording as a rosbag2 (MCAP unless ``storage``); returns image stamps."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from wham_ros.bag.io import qos
    from wham_ros.ros.factory import RosbagsFactory

    msgs = robot_messages(RosbagsFactory(typestore), world, imu)
    with Writer(path, version=9, storage_plugin=storage or StoragePlugin.MCAP) as w:
        conns = {}
        for m in msgs:
            if m.topic not in conns:
                conns[m.topic] = w.add_connection(m.topic, m.msgtype, typestore=typestore,
                                                  offered_qos_profiles=[qos(latched=m.latched)])
            w.write(conns[m.topic], m.stamp_ns, typestore.serialize_cdr(m.msg, m.msgtype))
    return [world.stamp(t) for t in world.frame_times()]
