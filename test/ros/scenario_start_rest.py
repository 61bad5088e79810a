"""Starts over DDS: an IMU stream that begins with a 1.5 s rest, 20 times, publisher before or
after the node. Run by test_start_rest_dds.py in a loopback namespace; prints ``RESULT <json>``.

One node (the real world grounding behind a pipeline double, no images) is activated once per
start, so each start has a new subscription and a new bias estimator. Each start publishes a
fresh IMU stream (new stamps, new bias): 1.5 s of rest, then 2 s of motion, 200 Hz, as fast as
DDS takes it (only the stamps matter to the estimator).

* publisher before the node (even starts): the first 0.2-0.7 s of the rest are published
  before the node is activated: nobody listens, they are lost.
* publisher after the node (odd starts): the node is active, a new publisher sends the first
  0.2-0.7 s right away, while discovery may still be under way (some or all may be lost).

Then, once the publisher and the node's new subscription see each other, the rest of the stream
follows (reliable, queue deep enough), and the scenario waits until the node's grounding has
the stream's last sample. A last start without any rest covers 40 s of stamps (50 Hz), so the /diagnostics
collected during the run include a bias unknown for longer than it takes a 0.1 rad/s prior to
pass 180 deg.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402

ros_env.activate()

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

from scenario_real import imu_msg  # noqa: E402
from sensor_msgs.msg import Imu  # noqa: E402
from spinning import NodeSpinner, finish, wait_for  # noqa: E402
from wham_ros.geometry.grounding import WorldGrounding  # noqa: E402
from wham_ros.geometry.so3 import matrix_to_quat_xyzw  # noqa: E402
from wham_ros.ros.node import WhamNode, pipeline_config  # noqa: E402
from wham_ros.testing.imu_rig import NS, LongRig, NoisyImu, Segment  # noqa: E402
from wham_ros.testing.textured_pan import TurningRig  # noqa: E402

STARTS = 20
REST_S = 1.5
RATE_HZ = 200.0
TIMEOUT_S = 60.0  # a loaded 2-core CI machine


class ImuOnlyPipeline:
    """Pipeline double around the node's real WorldGrounding; counts the samples it was given."""

    def __init__(self, values, warn):
        self.grounding = WorldGrounding(pipeline_config(values, warn).grounding_config())
        self.received = 0
        self.first_stamp_ns = None
        self.last_stamp_ns = None

    def add_imu(self, sample):
        self.received += 1
        if self.first_stamp_ns is None:
            self.first_stamp_ns = sample.stamp_ns
        self.last_stamp_ns = sample.stamp_ns
        return self.grounding.add_imu(sample)

    def grounding_status(self):
        return self.grounding.status()

    def reset(self):
        self.grounding.reset()

    def process(self, frame, full_mesh=None):  # no images in this scenario
        raise AssertionError("no image was sent")


def main():
    rclpy.init(args=["--ros-args", "-r", "imu:=/start/imu"])
    R_cam_imu = NoisyImu().R_cam_imu
    holder = {}

    def factory(values, warn):
        holder["pipe"] = ImuOnlyPipeline(values, warn)
        return holder["pipe"]

    node = WhamNode(pipeline_factory=factory, parameter_overrides=[
        Parameter("diagnostics_period_s", value=0.1),
        Parameter("sensor_qos_reliability", value="reliable"),
        Parameter("imu_queue_size", value=10000),
        Parameter("imu_to_camera_quat_xyzw", value=[float(v) for v in matrix_to_quat_xyzw(R_cam_imu)]),
    ])
    probe = rclpy.create_node("start_probe")
    diags, lock = [], threading.Lock()

    def on_diag(msg):
        with lock:
            for st in msg.status:
                diags.append({"message": st.message, "values": {kv.key: kv.value for kv in st.values}})

    probe.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 100)
    spinners = [NodeSpinner(node), NodeSpinner(probe)]  # transitions on each node's own thread
    assert spinners[0].transition("configure") == TransitionCallbackReturn.SUCCESS
    rng = np.random.default_rng(0)
    starts = []
    for i in range(STARTS + 1):
        no_rest = i == STARTS
        rig = TurningRig(duration_s=40.0) if no_rest else LongRig(
            [Segment("rest", REST_S), Segment("move", 2.0, (0.6, 0.4, 0.3))])
        bias = rng.normal(0.0, 1.0, 3)
        imu = NoisyImu(rate_hz=50.0 if no_rest else RATE_HZ, seed=i, bias0_rad_s=0.005 * bias / np.linalg.norm(bias),
                       R_cam_imu=R_cam_imu)
        samples, true_bias = imu.samples(rig)
        t0_ns = (1_800_000_000 + 100 * i) * NS  # each start a new stream, later stamps
        for s in samples:
            s.stamp_ns += t0_ns
        msgs = [imu_msg(s) for s in samples]
        lead = int(rng.uniform(0.2, 0.7) * RATE_HZ)
        before = i % 2 == 0
        pub = probe.create_publisher(Imu, "/start/imu", QoSProfile(
            depth=len(msgs), reliability=ReliabilityPolicy.RELIABLE))
        if before:
            for m in msgs[:lead]:  # nobody subscribed yet: lost
                pub.publish(m)
        assert spinners[0].transition("activate") == TransitionCallbackReturn.SUCCESS
        if not before:
            for m in msgs[:lead]:  # right after the node: discovery may still be under way
                pub.publish(m)
        imu_sub = node._subs[-1]  # the activation's new imu subscription
        wait_for(lambda: pub.get_subscription_count() > 0 and imu_sub.get_publisher_count() > 0,
                 timeout=TIMEOUT_S, what="imu publisher and subscription matched")
        pipe = holder["pipe"]
        for m in msgs[lead:]:
            pub.publish(m)
        if no_rest:  # a /diagnostics message with most of the unknown-bias stream behind it
            wait_for(lambda: any(float(d["values"].get("grounding.gyro_bias_unknown_for_s", 0)) > 35.0
                                 for d in list(diags)), timeout=TIMEOUT_S, what="diagnostics")
        else:  # reliable, in order: once the last sample is in, all that will come has come
            wait_for(lambda: pipe.last_stamp_ns == samples[-1].stamp_ns, timeout=TIMEOUT_S,
                     what=f"the last IMU sample of start {i}")
        st = pipe.grounding.status()
        starts.append({"publisher_first": before, "sent": len(msgs), "received": pipe.received,
                       "rest_seen_s": REST_S - (pipe.first_stamp_ns - t0_ns) / NS,
                       "bias_source": st["gyro_bias_source"], "bias_from": st["gyro_bias_from"],
                       "bias": st["gyro_bias"], "bias_std": st["gyro_bias_std"],
                       "true_bias": true_bias[0].tolist(), "no_rest": no_rest})
        assert spinners[0].transition("deactivate") == TransitionCallbackReturn.SUCCESS
        spinners[1].call(probe.destroy_publisher, pub)  # (its event handlers: on the spin thread)
    with lock:
        out = {"starts": starts, "diagnostics": diags}
    finish(spinners, out)


if __name__ == "__main__":
    main()
