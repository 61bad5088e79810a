"""Write a synthetic scene (``wham_ros.testing.scenes``) as a rosbag2 camera recording.

Used by the tests and by ``wham-ros demo``; needs ``rosbags`` only (no ROS installation).
"""
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer


def write_scene_bag(path: Path, typestore, storage: StoragePlugin, scene, frame_id: str,
                    image_format: str = "rgb8", tf_static: bool = False) -> list:
    """Write a ``wham_ros.testing.scenes`` scene as a camera bag; returns the image stamps.

    Topics: ``/scene/image_raw`` (Image, ``image_format`` rgb8 or bgr8) or
    ``/scene/image_raw/compressed`` (``image_format`` jpeg or png), ``/scene/camera_info``
    (once, before the first frame), ``/scene/imu`` (every IMU sample); log time = stamp.
    With ``tf_static``, also ``/tf_static`` first: ``frame_id -> <IMU frame>``, the rotation
    ``scene.R_cam_imu``, as a robot's driver publishes it.
    """
    from scipy.spatial.transform import Rotation

    from wham_ros.ros.conversions import header
    from wham_ros.ros.factory import RosbagsFactory

    f = RosbagsFactory(typestore)
    compressed = image_format in ("jpeg", "png")
    img_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    img_topic = "/scene/image_raw/compressed" if compressed else "/scene/image_raw"
    H_, W_ = scene.frames[0].image.shape[:2]
    msgs = []  # (log time, topic, type, message)
    if tf_static:
        qx, qy, qz, qw = (float(v) for v in Rotation.from_matrix(scene.R_cam_imu).as_quat())
        edge = f.new("geometry_msgs/msg/TransformStamped",
                     header=header(f, scene.imu[0].stamp_ns, frame_id),
                     child_frame_id=scene.imu[0].frame_id, transform=f.new(
                         "geometry_msgs/msg/Transform", rotation=f.new(
                             "geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw)))
        msgs.append((scene.imu[0].stamp_ns, "/tf_static", "tf2_msgs/msg/TFMessage",
                     f.new("tf2_msgs/msg/TFMessage", transforms=[edge])))
    info = f.new("sensor_msgs/msg/CameraInfo", header=header(f, scene.frames[0].stamp_ns, frame_id),
                 width=W_, height=H_, k=scene.K.reshape(-1).astype(np.float64),
                 distortion_model="plumb_bob")
    msgs.append((scene.imu[0].stamp_ns, "/scene/camera_info", "sensor_msgs/msg/CameraInfo", info))
    for s in scene.imu:
        v = [f.new("geometry_msgs/msg/Vector3", x=float(a[0]), y=float(a[1]), z=float(a[2]))
             for a in (s.angular_velocity, s.linear_acceleration)]
        imu = f.new("sensor_msgs/msg/Imu", header=header(f, s.stamp_ns, s.frame_id),
                    angular_velocity=v[0], linear_acceleration=v[1],
                    orientation_covariance=np.array([-1.0] + [0.0] * 8))
        msgs.append((s.stamp_ns, "/scene/imu", "sensor_msgs/msg/Imu", imu))
    for fr in scene.frames:
        if compressed:
            import cv2

            data = cv2.imencode("." + image_format, np.ascontiguousarray(fr.image[:, :, ::-1]))[1]
            msg = f.new(img_type, header=header(f, fr.stamp_ns, frame_id), format=image_format,
                        data=data.reshape(-1))
        else:
            pixels = fr.image if image_format == "rgb8" else fr.image[:, :, ::-1]
            msg = f.new(img_type, header=header(f, fr.stamp_ns, frame_id), height=H_, width=W_,
                        encoding=image_format, step=W_ * 3,
                        data=np.ascontiguousarray(pixels).reshape(-1))
        msgs.append((fr.stamp_ns, img_topic, img_type, msg))
    msgs.sort(key=lambda m: m[0])  # stable: an IMU sample at a frame's stamp comes first
    with Writer(path, version=9, storage_plugin=storage) as w:
        conns = {}
        for t, topic, msgtype, msg in msgs:
            if topic not in conns:
                conns[topic] = w.add_connection(topic, msgtype, typestore=typestore)
            w.write(conns[topic], t, typestore.serialize_cdr(msg, msgtype))
    return [fr.stamp_ns for fr in scene.frames]
