"""The world frame over DDS: a publisher sends IMU (200 Hz) and images (30 Hz) separately in
real time from a simulated rig; the node's real world grounding runs behind a pipeline double
that takes 10-60 ms per frame (so frames are dropped). Run by test_node_grounding_dds.py in a
loopback namespace; prints ``RESULT <json>``.

The rig rests 4 s with only IMU flowing (the first image comes after that rest), pans at
0.05 rad/s for 6 s, rests, moves, rests (about 19 s of wall time). Each node spins in its own
single-threaded executor, as ``ros2 run`` does (a MultiThreadedExecutor's overhead made the
IMU callbacks lag the images by up to a second on a loaded 2-core machine).
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402

ros_env.activate()

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

from scenario_node import CAMERA_FRAME, Probe, camera_info, image_msg  # noqa: E402
from scenario_real import imu_msg  # noqa: E402
from sensor_msgs.msg import Imu  # noqa: E402
from spinning import NodeSpinner, finish, wait_for  # noqa: E402
from wham_ros.geometry.grounding import WorldGrounding  # noqa: E402
from wham_ros.geometry.so3 import matrix_to_quat_xyzw  # noqa: E402
from wham_ros.ros.frame_input import stamp_ns  # noqa: E402
from wham_ros.ros.node import WhamNode, pipeline_config  # noqa: E402
from wham_ros.testing.imu_rig import NS, LongRig, NoisyImu, Segment  # noqa: E402
from wham_ros.types import FrameResult  # noqa: E402

FIRST_IMAGE_S = 4.0
SEGMENTS = [Segment("rest", 4.5), Segment("pan", 6.0, (0.05, 0.0, 0.0)), Segment("rest", 2.5),
            Segment("move", 3.0, (0.5, 0.3, 0.2)), Segment("rest", 2.5)]


class GroundingPipeline:
    """Pipeline double around the node's real WorldGrounding: no people, 10-60 ms per frame."""

    def __init__(self, values, warn):
        self.grounding = WorldGrounding(pipeline_config(values, warn).grounding_config())
        self.rng = np.random.default_rng(4)
        self.first_status = None
        self.processed = 0
        self.last_stamp_ns = None
        self.invalid_steps = []  # stamps whose camera motion was not measured (IMU behind)

    def add_imu(self, sample):
        return self.grounding.add_imu(sample)

    def grounding_status(self):
        return self.grounding.status()

    def reset(self):
        self.grounding.reset()

    def process(self, frame, full_mesh=None):
        step = self.grounding.on_frame(frame.stamp_ns)
        if self.first_status is None:
            self.first_status = self.grounding.status()
        time.sleep(self.rng.uniform(0.01, 0.06))
        self.processed += 1
        self.last_stamp_ns = frame.stamp_ns
        if not step.step:
            return FrameResult(frame.stamp_ns, frame.frame_id, "test_world", dropped=True)
        if not step.valid:
            self.invalid_steps.append(frame.stamp_ns)
        return FrameResult(frame.stamp_ns, frame.frame_id, "test_world",
                           T_world_camera=self.grounding.world.T_world_cam())


def publish_in_real_time(start, items, publish):
    """Publish ``(time_s, msg)`` items when the wall clock reaches ``start + time_s``."""
    for t_s, msg in items:
        delay = start + t_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        publish(msg)


def main():
    rclpy.init(args=["--ros-args", "-r", "image:=/cam/image_raw", "-r", "camera_info:=/cam/camera_info",
                     "-r", "imu:=/cam/imu"])
    rig = LongRig(SEGMENTS)
    imu = NoisyImu(rate_hz=200.0, seed=2)
    samples, true_bias = imu.samples(rig)
    t0_ns = time.time_ns() + 3 * NS  # rig time 0 on the wall clock: latencies are real
    for s in samples:
        s.stamp_ns += t0_ns
    holder = {}

    def factory(values, warn):
        holder["pipe"] = GroundingPipeline(values, warn)
        return holder["pipe"]

    node = WhamNode(pipeline_factory=factory, parameter_overrides=[
        Parameter("world_frame_id", value="test_world"),
        Parameter("diagnostics_period_s", value=0.25),
        Parameter("sensor_qos_reliability", value="reliable"),
        Parameter("imu_queue_size", value=2000),  # DDS queue: a loaded CI machine may stall the callbacks
        Parameter("imu_to_camera_quat_xyzw", value=[float(v) for v in matrix_to_quat_xyzw(imu.R_cam_imu)]),
    ])
    probe_node = rclpy.create_node("probe")
    probe = Probe(probe_node)
    spinners = [NodeSpinner(node), NodeSpinner(probe_node)]  # as `ros2 run` spins a node
    assert spinners[0].transition("configure") == TransitionCallbackReturn.SUCCESS
    assert spinners[0].transition("activate") == TransitionCallbackReturn.SUCCESS
    wait_for(lambda: probe.image_pub.get_subscription_count() > 0
             and probe.imu_pub.get_subscription_count() > 0, what="node subscriptions")
    wait_for(lambda: all(s.get_publisher_count() > 0 for s in probe.subs), what="node publishers")

    frame_times = np.arange(FIRST_IMAGE_S, rig.duration_s - 0.2, 1 / 30)
    images = [(t + 0.02, image_msg(t0_ns + int(round(t * NS)))) for t in frame_times]  # 20 ms camera latency
    for _, msg in images:
        msg.header.frame_id = CAMERA_FRAME
    imus = [((s.stamp_ns - t0_ns) / NS + 0.002, imu_msg(s)) for s in samples]
    imu_pub = probe_node.create_publisher(Imu, "/cam/imu", QoSProfile(
        depth=len(imus), reliability=ReliabilityPolicy.RELIABLE))
    wait_for(lambda: imu_pub.get_subscription_count() > 0, what="imu subscription")
    probe.info_pub.publish(camera_info())
    wait_for(lambda: node._camera_info is not None, what="camera info")
    start = time.monotonic() + (t0_ns - time.time_ns()) / NS
    threads = [threading.Thread(target=publish_in_real_time, args=(start, imus, imu_pub.publish)),
               threading.Thread(target=publish_in_real_time, args=(start, images, probe.image_pub.publish))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    last = stamp_ns(images[-1][1].header.stamp)
    wait_for(lambda: holder["pipe"].last_stamp_ns == last, what="the last image processed")
    wait_for(lambda: node.stats.snapshot()["received_imu"] == len(samples), what="all IMU samples")
    n_diag = len(probe.diag)
    wait_for(lambda: len(probe.diag) >= n_diag + 2, what="diagnostics after the last frame")
    out = {"sent_imu": len(samples), "sent_images": len(images), "last_image": last}
    snap = node.stats.snapshot()
    out["received_imu"] = snap["received_imu"]
    out["dropped_frames"] = snap["dropped_frames"]
    out["first_status"] = holder["pipe"].first_status
    out["processed"] = holder["pipe"].processed
    out["invalid_steps"] = [(t - t0_ns) / NS for t in holder["pipe"].invalid_steps]
    with probe.lock:
        cams = [(stamp_ns(t.header.stamp), t.transform.rotation) for m in probe.tf for t in m.transforms
                if t.header.frame_id == "test_world" and t.child_frame_id == CAMERA_FRAME]
        diag = probe.diag[-1].status[0]
        out["diagnostics"] = {"level": int.from_bytes(diag.level, "little"), "message": diag.message,
                              "values": {kv.key: kv.value for kv in diag.values}}
    out["camera_tf"] = [[(t - t0_ns) / NS, q.x, q.y, q.z, q.w] for t, q in cams]
    out["true_bias_end"] = true_bias[-1].tolist()
    spinners[0].transition("deactivate")
    finish(spinners, out)


if __name__ == "__main__":
    main()
