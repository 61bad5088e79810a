"""Input bag maker for the bag tests (scene bags: ``wham_ros.testing.scene_bag``)."""
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from wham_ros.testing.scene_bag import write_scene_bag  # noqa: F401  (re-exported for the tests)

W, H = 64, 48
FRAME = "bag_cam_optical"


def make_input_bag(path: Path, typestore, storage: StoragePlugin, n_frames: int = 5,
                   compressed: bool = False, bad_frame: int = -1, camera_info: bool = True,
                   imu_frame: str = "imu_link", tf_static=(), future_frame: int = -1) -> dict:
    """Write a camera bag: CameraInfo, 3 IMU samples per frame, ``n_frames`` images at 10 Hz.

    Args:
        bad_frame: index of an image with a depth encoding (32FC1).
        camera_info: write a CameraInfo first.
        imu_frame: frame id of the IMU samples.
        tf_static: ``(parent, child, quat_xyzw)`` transforms written on /tf_static first.
        future_frame: index of an image stamped one day after its log time.

    Returns the number of messages per topic.
    """
    from wham_ros.ros.conversions import header
    from wham_ros.ros.factory import RosbagsFactory

    f = RosbagsFactory(typestore)
    counts = {}
    t0 = 1_700_000_000_000_000_000
    rng = np.random.default_rng(0)
    with Writer(path, version=9, storage_plugin=storage) as w:
        img_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
        img_topic = "/cam/image_raw/compressed" if compressed else "/cam/image_raw"
        conns = {
            img_topic: w.add_connection(img_topic, img_type, typestore=typestore),
            "/imu/data": w.add_connection("/imu/data", "sensor_msgs/msg/Imu", typestore=typestore),
            "/unrelated": w.add_connection("/unrelated", "std_msgs/msg/String", typestore=typestore),
        }

        def put(topic, msgtype, msg, t):
            w.write(conns[topic], t, typestore.serialize_cdr(msg, msgtype))
            counts[topic] = counts.get(topic, 0) + 1

        if tf_static:
            conns["/tf_static"] = w.add_connection("/tf_static", "tf2_msgs/msg/TFMessage",
                                                   typestore=typestore)
            transforms = [f.new("geometry_msgs/msg/TransformStamped", header=header(f, t0, parent),
                                child_frame_id=child, transform=f.new(
                                    "geometry_msgs/msg/Transform", rotation=f.new(
                                        "geometry_msgs/msg/Quaternion", x=q[0], y=q[1], z=q[2],
                                        w=q[3])))
                          for parent, child, q in tf_static]
            put("/tf_static", "tf2_msgs/msg/TFMessage",
                f.new("tf2_msgs/msg/TFMessage", transforms=transforms), t0)
        info = f.new("sensor_msgs/msg/CameraInfo", header=header(f, t0, FRAME), width=W, height=H,
                     k=np.array([50.0, 0, W / 2, 0, 50.0, H / 2, 0, 0, 1]))
        if camera_info:
            conns["/cam/camera_info"] = w.add_connection(
                "/cam/camera_info", "sensor_msgs/msg/CameraInfo", typestore=typestore)
            put("/cam/camera_info", "sensor_msgs/msg/CameraInfo", info, t0)
        put("/unrelated", "std_msgs/msg/String", f.new("std_msgs/msg/String", data="x"), t0)
        for i in range(n_frames):
            t = t0 + (i + 1) * 100_000_000
            for j in range(3):
                ti = t - 90_000_000 + j * 30_000_000
                imu = f.new("sensor_msgs/msg/Imu", header=header(f, ti, imu_frame),
                            angular_velocity=f.new("geometry_msgs/msg/Vector3", x=0.01, y=0.0, z=0.0),
                            orientation_covariance=np.array([-1.0] + [0.0] * 8))
                put("/imu/data", "sensor_msgs/msg/Imu", imu, ti)
            rgb = rng.integers(0, 255, size=(H, W, 3), dtype=np.uint8)
            stamp = t + 86_400_000_000_000 if i == future_frame else t
            if compressed:
                import cv2

                data = cv2.imencode(".jpg", rgb[:, :, ::-1])[1].reshape(-1)
                msg = f.new(img_type, header=header(f, stamp, FRAME), format="jpeg", data=data)
            else:
                enc = "32FC1" if i == bad_frame else "bgr8"
                msg = f.new(img_type, header=header(f, stamp, FRAME), height=H, width=W, encoding=enc,
                            step=W * 3, data=np.ascontiguousarray(rgb[:, :, ::-1]).reshape(-1))
            put(img_topic, img_type, msg, t)
    return counts

