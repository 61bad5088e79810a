"""Drives the WHAM node over real DDS (run by test_node_dds.py inside a loopback namespace).

Usage: python scenario_node.py <scenario>. Prints one line ``RESULT <json>`` with what the
probe node observed; the test asserts on it (and on the node's log lines on stderr).
"""
from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402
from netns import print_result  # noqa: E402

ros_env.activate()

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, Imu  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402

from fake_pipeline import FakeConfig, FakePipeline  # noqa: E402
from spinning import NodeSpinner, wait_for  # noqa: E402
from wham_ros.msg import HumanArray, MeshFaces  # noqa: E402
from wham_ros.ros.frame_input import stamp_ns  # noqa: E402
from wham_ros.ros.node import WhamNode  # noqa: E402

W, H = 64, 48
CAMERA_FRAME = "test_cam_optical"


def last_image_stamp(node) -> int:
    """Stamp of the newest image the node's subscription callback has seen."""
    with node.stats.lock:
        return node.stats.stamp_rates["image"].last_stamp_ns


def image_msg(t_ns: int, encoding="bgr8", pad=4, height=H, width=W, truncate=False):
    rng = np.random.default_rng(t_ns % 1000)
    ch = 1 if encoding == "mono8" else 3
    step = width * ch + pad
    data = rng.integers(0, 255, size=height * step, dtype=np.uint8).tobytes()
    if truncate:
        data = data[: len(data) // 2]
    msg = Image(height=height, width=width, encoding=encoding, step=step, data=data)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t_ns, 1_000_000_000)
    msg.header.frame_id = CAMERA_FRAME
    return msg


class Probe:
    """Publishes sensor data and records every output of the node."""

    def __init__(self, node):
        self.node = node
        self.lock = threading.Lock()
        self.humans, self.markers, self.mesh, self.tf, self.diag, self.faces = [], [], [], [], [], []
        rel = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = node.create_publisher(Image, "/cam/image_raw", rel)
        self.info_pub = node.create_publisher(CameraInfo, "/cam/camera_info", rel)
        self.imu_pub = node.create_publisher(Imu, "/cam/imu", rel)
        self.subs = [
            node.create_subscription(HumanArray, "/human_pose", self._rec(self.humans), rel),
            node.create_subscription(MarkerArray, "/human_pose/markers", self._rec(self.markers), rel),
            node.create_subscription(MarkerArray, "/human_pose/mesh", self._rec(self.mesh), rel),
            node.create_subscription(TFMessage, "/tf", self._rec(self.tf), rel),
            node.create_subscription(DiagnosticArray, "/diagnostics", self._rec(self.diag), rel),
        ]

    def subscribe_faces(self):
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.subs.append(self.node.create_subscription(MeshFaces, "/human_pose/mesh_faces",
                                                       self._rec(self.faces), latched))

    def _rec(self, store):
        def cb(msg):
            with self.lock:
                store.append(msg)
        return cb

    def humans_with_stamp(self, t_ns):
        with self.lock:
            return [m for m in self.humans if stamp_ns(m.header.stamp) == t_ns]

    def send_image(self, msg, wait=True):
        self.image_pub.publish(msg)
        if wait:
            t_ns = stamp_ns(msg.header.stamp)
            wait_for(lambda: self.humans_with_stamp(t_ns), what=f"HumanArray for {t_ns}")


def camera_info(fx=50.0):
    info = CameraInfo(width=W, height=H, distortion_model="plumb_bob")
    info.k = [fx, 0.0, W / 2, 0.0, fx, H / 2, 0.0, 0.0, 1.0]
    info.header.frame_id = CAMERA_FRAME
    return info


def imu_msg(t_ns, gyro):
    msg = Imu()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t_ns, 1_000_000_000)
    msg.header.frame_id = "imu_link"
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = gyro
    msg.orientation_covariance[0] = -1.0
    return msg


def scenario_main():
    fake = FakePipeline(FakeConfig(publish_vertices=True, world_frame_id="test_world"))
    node = WhamNode(pipeline_factory=lambda values, warn: fake, parameter_overrides=[
        Parameter("world_frame_id", value="test_world"),
        Parameter("publish_vertices", value=True),
        Parameter("mesh_rate_hz", value=1000.0),
        Parameter("diagnostics_period_s", value=0.2),
        Parameter("camera_info_wait_s", value=0.0),  # step 1 runs before any CameraInfo
    ])
    probe_node = rclpy.create_node("probe")
    probe = Probe(probe_node)
    # Remap the node's relative inputs onto the probe's topics by namespace-free names.
    spinners = [NodeSpinner(node), NodeSpinner(probe_node)]
    assert spinners[0].transition("configure") == TransitionCallbackReturn.SUCCESS
    out = {}
    # Runtime parameter validation (configured, not active yet: read-only ones may change).
    res = node.set_parameters([Parameter("mesh_rate_hz", value=-1.0)])[0]
    out["set_negative_rate"] = [res.successful, res.reason]
    res = node.set_parameters([Parameter("image_transport", value="h264")])[0]
    out["set_bad_transport"] = [res.successful, res.reason]
    assert spinners[0].transition("activate") == TransitionCallbackReturn.SUCCESS
    res = node.set_parameters([Parameter("world_frame_id", value="other")])[0]
    out["set_read_only_while_active"] = [res.successful, res.reason]
    res = node.set_parameters([Parameter("contact_threshold", value=0.55)])[0]
    out["set_threshold"] = [res.successful, res.reason]

    probe.subscribe_faces()  # after activation: must still get the latched faces
    wait_for(lambda: probe.image_pub.get_subscription_count() > 0
             and probe.imu_pub.get_subscription_count() > 0
             and probe.info_pub.get_subscription_count() > 0, what="node subscriptions")
    wait_for(lambda: all(s.get_publisher_count() > 0 for s in probe.subs), what="node publishers")
    wait_for(lambda: probe.faces, what="latched MeshFaces")
    out["faces"] = {"num_vertices": probe.faces[0].num_vertices,
                    "n_triangles": len(probe.faces[0].triangles) // 3}

    # 1. A frame before any CameraInfo (warns once, default intrinsics).
    t0 = 10_000_000_000
    probe.send_image(image_msg(t0))
    probe.send_image(image_msg(t0 + 50_000_000))
    # 2. CameraInfo, IMU (two NaN samples), frame with padding in mono8.
    probe.info_pub.publish(camera_info())
    wait_for(lambda: node._camera_info is not None, what="camera info")
    for i in range(5):
        probe.imu_pub.publish(imu_msg(t0 + 60_000_000 + i * 5_000_000, (0.01, 0.02, 0.03)))
    probe.imu_pub.publish(imu_msg(t0 + 90_000_000, (math.nan, 0.0, 0.0)))
    probe.imu_pub.publish(imu_msg(t0 + 95_000_000, (0.0, math.inf, 0.0)))
    wait_for(lambda: node.stats.snapshot()["invalid_inputs"].get("imu_non_finite", 0) >= 2
             and len(fake.imu) >= 5, what="imu samples at the pipeline")
    t2 = t0 + 100_000_000
    probe.send_image(image_msg(t2, encoding="mono8", pad=3))
    # 3. Bad images, each twice: depth, two unknown encodings, truncated, wrong step, zero
    #    size, and a frame stamped one day ahead of the node's clock.
    day_ahead = time.time_ns() + 86_400_000_000_000
    bad_inputs = [dict(encoding="32FC1"), dict(encoding="yuv420"), dict(encoding="bayer_rggb8"),
                  dict(truncate=True), dict(step=W), dict(height=0, width=0), dict(stamp=day_ahead)]
    for k, bad in enumerate(bad_inputs * 2):
        bad = dict(bad)
        msg = image_msg(bad.pop("stamp", t2 + (k + 1) * 1_000_000), **{
            key: v for key, v in bad.items() if key != "step"})
        if bad.get("encoding") == "32FC1":
            msg.step = W * 4
            msg.data = bytes(H * W * 4)
        if "step" in bad:
            msg.step = bad["step"]  # smaller than a bgr8 row
        before = node.stats.snapshot()["invalid_inputs"]
        probe.send_image(msg, wait=False)
        wait_for(lambda: sum(node.stats.snapshot()["invalid_inputs"].values()) > sum(before.values()),
                 what=f"bad image {bad}")
    # 4. A good frame: tracks continue (ages keep counting).
    t3 = t2 + 100_000_000
    probe.send_image(image_msg(t3))
    out["ages_after_bad_input"] = [h.age for h in probe.humans_with_stamp(t3)[0].humans]
    # 5. Time jump backwards (bag loop) -> reset.
    t_back = t0 - 5_000_000_000
    probe.send_image(image_msg(t_back))
    out["ages_after_jump"] = [h.age for h in probe.humans_with_stamp(t_back)[0].humans]
    out["resets"] = fake.resets
    # 6. Burst of 20 frames while the worker is held inside one frame: only the newest is
    #    processed after it (latest-frame-only), the others are dropped, none queued.
    n_before = len(fake.frames)
    dropped_before = node.stats.snapshot()["dropped_frames"]
    busy = t0 + 900_000_000
    fake.cfg.gate.clear()
    probe.send_image(image_msg(busy), wait=False)
    wait_for(lambda: fake.frames[-1].stamp_ns == busy, what="worker busy")
    burst = [t0 + 1_000_000_000 + i * 10_000_000 for i in range(20)]
    for t in burst:  # each one at the node before the next (DDS keeps only one: depth 1)
        probe.send_image(image_msg(t), wait=False)
        wait_for(lambda: last_image_stamp(node) == t, what=f"burst frame {t} at the node")
    fake.cfg.gate.set()
    wait_for(lambda: probe.humans_with_stamp(burst[-1]), what="last burst frame")
    out["burst"] = {"sent": len(burst), "processed": len(fake.frames) - n_before - 1,
                    "processed_stamps": [f.stamp_ns for f in fake.frames[n_before + 1:]],
                    "dropped": node.stats.snapshot()["dropped_frames"] - dropped_before}
    # Diagnostics published after the last frame: two more periods (the first may have been
    # composed while the burst was processed).
    n_diag = len(probe.diag)
    wait_for(lambda: len(probe.diag) >= n_diag + 2, what="diagnostics after the burst")

    with probe.lock:
        out["pipeline_frames"] = [{"stamp": f.stamp_ns, "frame_id": f.frame_id,
                                   "K": None if f.K is None else np.asarray(f.K).tolist(),
                                   "shape": list(f.image.shape)} for f in fake.frames]
        out["imu_received"] = [[s.stamp_ns, *np.asarray(s.angular_velocity).tolist()] for s in fake.imu]
        out["humans"] = [{
            "stamp": stamp_ns(m.header.stamp), "frame_id": m.header.frame_id,
            "world_frame_id": m.world_frame_id,
            "people": [{"track_id": h.track_id, "body_id": h.body_id, "age": h.age, "state": h.state,
                        "frame_id": h.header.frame_id, "n_vertices": len(h.vertices_cam),
                        "trans_world": [h.root_pose_world.position.x, h.root_pose_world.position.y,
                                        h.root_pose_world.position.z],
                        "left": h.left_foot_contact, "right": h.right_foot_contact,
                        "threshold": h.contact_threshold} for h in m.humans]}
            for m in probe.humans]
        out["tf"] = [[stamp_ns(t.header.stamp), t.header.frame_id, t.child_frame_id,
                      t.transform.translation.x, t.transform.translation.y, t.transform.translation.z]
                     for m in probe.tf for t in m.transforms]
        out["markers"] = [[(mk.ns, mk.id, mk.type, mk.action, mk.header.frame_id,
                            stamp_ns(mk.header.stamp), len(mk.points)) for mk in m.markers]
                          for m in probe.markers]
        out["mesh"] = [[(mk.ns, mk.id, mk.type, len(mk.points)) for mk in m.markers] for m in probe.mesh]
        last = probe.diag[-1].status[0]
        out["diagnostics"] = {"name": last.name, "level": int.from_bytes(last.level, "little"),
                              "message": last.message,
                              "values": {kv.key: kv.value for kv in last.values}}
    out["sub_qos"] = {}
    for topic in ("/cam/image_raw", "/cam/camera_info", "/cam/imu"):
        infos = probe_node.get_subscriptions_info_by_topic(topic)
        out["sub_qos"][topic] = [i.qos_profile.reliability.name for i in infos]
    out["pub_qos"] = {}
    for topic in ("/human_pose", "/human_pose/mesh_faces"):
        infos = probe_node.get_publishers_info_by_topic(topic)
        out["pub_qos"][topic] = [[i.qos_profile.reliability.name, i.qos_profile.durability.name]
                                 for i in infos]
    out["state"] = node.stats.snapshot()["state"]
    assert spinners[0].transition("deactivate") == TransitionCallbackReturn.SUCCESS
    out["state_after_deactivate"] = node.stats.snapshot()["state"]
    for spinner in spinners:
        spinner.stop()
    return out


def main():
    # The node subscribes to relative names; remap them onto the probe's topics.
    rclpy.init(args=["--ros-args", "-r", "image:=/cam/image_raw", "-r", "camera_info:=/cam/camera_info",
                     "-r", "imu:=/cam/imu"])
    result = {"main": scenario_main}[sys.argv[1]]()
    print_result(result)
    rclpy.shutdown()


if __name__ == "__main__":
    main()
