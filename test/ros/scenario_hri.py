"""Drives the WHAM node's REP-155 output over real DDS (run by test_hri_dds.py in a loopback
namespace). Usage: python scenario_hri.py main|no_hri. Prints ``RESULT <json>``."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402
from netns import print_result  # noqa: E402

ros_env.activate()
if len(sys.argv) > 1 and sys.argv[1] == "no_hri":
    sys.modules["hri_msgs"] = None  # as if hri_msgs were not installed

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from fake_pipeline import FakeConfig, FakePipeline  # noqa: E402
from scenario_node import image_msg  # noqa: E402
from spinning import NodeSpinner, wait_for  # noqa: E402
from wham_ros.ros.frame_input import stamp_ns  # noqa: E402
from wham_ros.ros.node import WhamNode  # noqa: E402

T0 = 10_000_000_000
REL = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def start(fake, params=()):
    node = WhamNode(pipeline_factory=lambda values, warn: fake, parameter_overrides=[
        Parameter("world_frame_id", value="test_world"), *params])
    probe = rclpy.create_node("probe")
    spinners = [NodeSpinner(node), NodeSpinner(probe)]
    assert spinners[0].transition("configure") == TransitionCallbackReturn.SUCCESS
    assert spinners[0].transition("activate") == TransitionCallbackReturn.SUCCESS
    return node, probe, spinners


def stop(node, probe, spinners):
    """Deactivate the node (joins its worker), stop spinning, destroy both nodes."""
    spinners[0].transition("deactivate")
    for spinner in spinners:
        spinner.stop()
    node.destroy_node()
    probe.destroy_node()


def main_scenario():
    from geometry_msgs.msg import TwistStamped
    from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D, Skeleton2D
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String

    fake = FakePipeline(FakeConfig(num_people=2, world_frame_id="test_world"))
    node, probe, spinning = start(fake)
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
    stop(node, probe, spinning)
    return out


def overlay_scenario():
    """human_pose/overlay: nothing (not even the mesh) until subscribed, then the drawn image."""
    from sensor_msgs.msg import Image

    fake = FakePipeline(FakeConfig(num_people=2, world_frame_id="test_world"))
    node, probe, spinning = start(fake, [Parameter("overlay_rate_hz", value=1000.0)])
    image_pub = probe.create_publisher(Image, "/image", REL)
    humans = []
    from wham_ros.msg import HumanArray

    probe.create_subscription(HumanArray, "/human_pose", humans.append, REL)
    wait_for(lambda: image_pub.get_subscription_count() > 0, what="node")
    sent = []
    for k in range(3):
        sent.append(image_msg(T0 + k * 33_000_000))
        image_pub.publish(sent[-1])
        wait_for(lambda: len(humans) == k + 1, what="humans")
    out = {"mesh_calls_unsubscribed": list(fake.full_mesh_calls)}
    overlays = []
    sub = probe.create_subscription(Image, "/human_pose/overlay", overlays.append, REL)
    wait_for(lambda: sub.get_publisher_count() > 0 and node._overlay.pub.get_subscription_count() > 0,
             what="overlay subscription")
    sent.append(image_msg(T0 + 3 * 33_000_000))
    image_pub.publish(sent[-1])
    wait_for(lambda: overlays, what="overlay image")
    o = overlays[0]
    out["overlay"] = {"stamp": stamp_ns(o.header.stamp), "frame_id": o.header.frame_id,
                      "encoding": o.encoding, "size": [o.width, o.height], "step": o.step}
    step = sent[-1].step  # bgr8 with row padding -> RGB
    sent_rgb = np.frombuffer(bytes(sent[-1].data), np.uint8).reshape(48, step)[:, :64 * 3]
    sent_rgb = sent_rgb.reshape(48, 64, 3)[..., ::-1]
    drawn = np.frombuffer(bytes(o.data), np.uint8).reshape(48, o.step)[:, :64 * 3].reshape(48, 64, 3)
    out["changed_fraction"] = float((drawn != sent_rgb).any(-1).mean())
    out["mesh_call_subscribed"] = fake.full_mesh_calls[-1]
    stop(node, probe, spinning)
    return out


def no_hri_scenario():
    node, probe, spinning = start(FakePipeline(FakeConfig()))
    out = {"topics": [t for t, _ in node.get_topic_names_and_types() if t.startswith("/humans")]}
    stop(node, probe, spinning)
    return out


def main():
    rclpy.init(args=["--ros-args", "-r", "image:=/image"])
    result = {"main": main_scenario, "no_hri": no_hri_scenario,
              "overlay": overlay_scenario}[sys.argv[1]]()
    print_result(result)
    rclpy.shutdown()


if __name__ == "__main__":
    main()
