"""Drives the WHAM node's REP-155 output over real DDS (run by test_hri_dds.py in a loopback
namespace). Usage: python scenario_hri.py main|no_hri. Prints ``RESULT <json>``."""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402

ros_env.activate()
if len(sys.argv) > 1 and sys.argv[1] == "no_hri":
    sys.modules["hri_msgs"] = None  # as if hri_msgs were not installed

import rclpy  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from fake_pipeline import FakeConfig, FakePipeline  # noqa: E402
from scenario_node import image_msg, wait_for  # noqa: E402
from wham_ros.ros.frame_input import stamp_ns  # noqa: E402
from wham_ros.ros.node import WhamNode  # noqa: E402

T0 = 10_000_000_000
REL = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def start(fake):
    node = WhamNode(pipeline_factory=lambda values, warn: fake, parameter_overrides=[
        Parameter("world_frame_id", value="test_world")])
    probe = rclpy.create_node("probe")
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    executor.add_node(probe)
    threading.Thread(target=executor.spin, daemon=True).start()
    return node, probe, executor


def main_scenario():
    from geometry_msgs.msg import TwistStamped
    from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D, Skeleton2D
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String

    fake = FakePipeline(FakeConfig(num_people=2, world_frame_id="test_world"))
    node, probe, executor = start(fake)
    got, lock = {}, threading.Lock()

    def rec(topic):
        def cb(msg):
            with lock:
                got.setdefault(topic, []).append(msg)
        return cb

    image_pub = probe.create_publisher(Image, "/image", REL)
    subs = [probe.create_subscription(IdsList, "/humans/bodies/tracked", rec("tracked"), REL)]
    for b in ("b1", "b2"):
        for name, cls in (("roi", NormalizedRegionOfInterest2D), ("skeleton2d", Skeleton2D),
                          ("velocity", TwistStamped), ("joint_states", JointState)):
            subs.append(probe.create_subscription(cls, f"/humans/bodies/{b}/{name}",
                                                  rec(f"{b}/{name}"), REL))
    wait_for(lambda: image_pub.get_subscription_count() > 0
             and subs[0].get_publisher_count() > 0, what="node")
    out = {}

    def send(t, wait_topic="tracked"):
        image_pub.publish(image_msg(t))
        wait_for(lambda: any(stamp_ns(m.header.stamp) == t for m in got.get(wait_topic, [])),
                 what=f"{wait_topic} at {t}")

    send(T0)
    # per-body publishers exist now: wait for the probe to match them, then a second frame
    wait_for(lambda: all(s.get_publisher_count() > 0 for s in subs), what="per-body publishers")
    send(T0 + 33_000_000, "b2/joint_states")
    # the URDF is latched: a subscriber that comes late still gets it
    urdf = []
    probe.create_subscription(String, "/humans/bodies/b2/urdf", urdf.append, LATCHED)
    wait_for(lambda: urdf, what="latched urdf")
    with lock:
        last = {k: v[-1] for k, v in got.items()}
        out["tracked"] = list(last["tracked"].ids)
        out["roi"] = [last["b1/roi"].xmin, last["b1/roi"].ymin, last["b1/roi"].xmax, last["b1/roi"].ymax,
                      last["b1/roi"].header.frame_id]
        out["skeleton_len"] = len(last["b1/skeleton2d"].skeleton)
        v = last["b2/velocity"]
        out["velocity"] = [v.header.frame_id, v.twist.linear.x, v.twist.linear.y, v.twist.angular.z]
        out["joint_names"] = list(last["b2/joint_states"].name)
        out["joint_positions"] = list(last["b2/joint_states"].position)
    out["urdf_root"] = urdf[0].data.split('<link name="')[1].split('"')[0]
    # body 2 leaves; its topics go after BODY_TIMEOUT_NS of message time
    fake.cfg.num_people = 1
    send(T0 + 66_000_000)
    out["publishers_while_recent"] = len(probe.get_publishers_info_by_topic("/humans/bodies/b2/roi"))
    send(T0 + 1_500_000_000)
    wait_for(lambda: not probe.get_publishers_info_by_topic("/humans/bodies/b2/roi"),
             what="body 2 topics removed")
    out["publishers_after_timeout"] = len(probe.get_publishers_info_by_topic("/humans/bodies/b2/roi"))
    out["body1_publishers"] = len(probe.get_publishers_info_by_topic("/humans/bodies/b1/roi"))
    out["tracked_last"] = list(got["tracked"][-1].ids)
    executor.shutdown()
    return out


def no_hri_scenario():
    node, probe, executor = start(FakePipeline(FakeConfig()))
    out = {"topics": [t for t, _ in node.get_topic_names_and_types() if t.startswith("/humans")]}
    executor.shutdown()
    return out


def main():
    rclpy.init(args=["--ros-args", "-r", "image:=/image"])
    result = {"main": main_scenario, "no_hri": no_hri_scenario}[sys.argv[1]]()
    print("RESULT " + json.dumps(result), flush=True)
    rclpy.shutdown()


if __name__ == "__main__":
    main()
