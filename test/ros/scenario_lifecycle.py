"""The WHAM node's lifecycle with the real Pipeline and the synthetic model set, over DDS.

Run by test_node_lifecycle.py inside a loopback-only network namespace:
``python scenario_lifecycle.py <models.json> <cycles>``. The node is spun by
``spin_lifecycle_node`` (as ``ros2 run`` does, autostart off) and driven over its lifecycle
service (as ``ros2 lifecycle set`` or a lifecycle manager does, so every transition runs on
the node's own executor thread) through ``cycles`` activate / two frames / deactivate
cycles, recording the resident memory after each deactivate; then one activation with a
CameraInfo publisher (the first frame waits for it); then the shutdown transition.
Prints one line ``RESULT <json>``: RSS per cycle, the node's /rosout lines, the /diagnostics
statuses, whether spinning ended.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402
from netns import print_result  # noqa: E402

ros_env.activate()

import rclpy  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from spinning import wait_for  # noqa: E402
from wham_ros.msg import HumanArray  # noqa: E402
from wham_ros.ros.frame_input import stamp_ns  # noqa: E402
from scenario_real import SIZE, camera_info, model_parameters, raw_image  # noqa: E402
from wham_ros.ros.node import WhamNode, spin_lifecycle_node  # noqa: E402
from wham_ros.testing.scenes import make_scene  # noqa: E402


FRAMES_PER_CYCLE = 2
STALE = 3  # diagnostic_msgs/DiagnosticStatus.STALE


def rss_mb() -> float:
    """Resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


class SlimProbe:
    """Publishes images; keeps only small summaries of what it receives (its memory must not
    grow with the node's outputs: the resident size is measured in this process)."""

    def __init__(self, node):
        rel = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.lock = threading.Lock()
        self.humans, self.diag, self.rosout = [], [], []  # (stamp, ids), (level, text), (name, text)
        self.image_pub = node.create_publisher(Image, "/cam/image_raw", rel)
        node.create_subscription(HumanArray, "/human_pose", self._on_humans, rel)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, rel)
        node.create_subscription(Log, "/rosout", self._on_log,
                                 QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))

    def _on_humans(self, m):
        with self.lock:
            self.humans.append((stamp_ns(m.header.stamp), [h.track_id for h in m.humans]))

    def _on_diag(self, m):
        with self.lock:
            self.diag.append((int.from_bytes(m.status[0].level, "little"), m.status[0].message))

    def _on_log(self, m):
        with self.lock:
            self.rosout.append((m.name, m.msg))

    def send_image(self, msg):
        t_ns = stamp_ns(msg.header.stamp)
        self.image_pub.publish(msg)
        wait_for(lambda: any(t == t_ns for t, _ in self.humans), what=f"HumanArray for {t_ns}")


class LifecycleClient:
    """Asks for transitions over ``/wham/change_state`` and waits for each answer."""

    def __init__(self, node):
        self.client = node.create_client(ChangeState, "/wham/change_state")

    def __call__(self, transition_id: int) -> bool:
        assert self.client.wait_for_service(timeout_sec=60.0), "no /wham/change_state service"
        future = self.client.call_async(ChangeState.Request(
            transition=Transition(id=transition_id)))
        wait_for(future.done, what=f"transition {transition_id}")
        return future.result().success


def scenario(models: dict, cycles: int) -> dict:
    node = WhamNode(parameter_overrides=model_parameters(
        models, autostart=False, diagnostics_period_s=0.1, camera_info_wait_s=0.0))
    # The probe has its own context: spin_lifecycle_node shuts the node's context down.
    probe_ctx = rclpy.Context()
    rclpy.init(context=probe_ctx)
    probe_node = rclpy.create_node("probe", context=probe_ctx)
    probe = SlimProbe(probe_node)
    change_state = LifecycleClient(probe_node)
    executor = SingleThreadedExecutor(context=probe_ctx)
    executor.add_node(probe_node)
    probe_spin = threading.Thread(target=executor.spin, daemon=True)
    probe_spin.start()
    code = []
    spinner = threading.Thread(target=lambda: code.append(spin_lifecycle_node(node)), daemon=True)
    spinner.start()

    out = {"rss_mb": []}
    scene = make_scene(2 * cycles, size=SIZE)
    assert change_state(Transition.TRANSITION_CONFIGURE)
    for cycle in range(cycles):
        assert change_state(Transition.TRANSITION_ACTIVATE)
        wait_for(lambda: probe.image_pub.get_subscription_count() > 0, what="node subscriptions")
        for frame in scene.frames[2 * cycle: 2 * cycle + FRAMES_PER_CYCLE]:
            probe.send_image(raw_image(frame.image, frame.stamp_ns, "rgb8"))
        assert change_state(Transition.TRANSITION_DEACTIVATE)
        out["rss_mb"].append(rss_mb())
    out["ids"] = sorted({i for _, ids in probe.humans for i in ids})

    # With a CameraInfo publisher, the first frames wait for it (camera_info_wait_s).
    info_pub = probe_node.create_publisher(
        CameraInfo, "/cam/camera_info", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    assert node.set_parameters([Parameter("camera_info_wait_s", value=1.0)])[0].successful
    assert change_state(Transition.TRANSITION_ACTIVATE)
    wait_for(lambda: node._input._camera_info_published(), what="camera_info publisher seen")
    # The reactivated node's subscriptions must be matched, or what is sent first is lost.
    wait_for(lambda: probe.image_pub.get_subscription_count() > 0
             and info_pub.get_subscription_count() > 0, what="node subscriptions")
    t0 = scene.frames[-1].stamp_ns + 1_000_000_000
    probe.image_pub.publish(raw_image(scene.frames[0].image, t0, "rgb8"))
    # State, not a log line: the worker has taken the frame and holds it back for CameraInfo.
    wait_for(lambda: node._input._waiting_noted, what="the first frame held for a CameraInfo")
    info_pub.publish(camera_info(scene.K))
    wait_for(lambda: node._camera_info is not None, what="CameraInfo at the node")
    probe.send_image(raw_image(scene.frames[1].image, t0 + 33_333_333, "rgb8"))
    out["wait_t0"], out["wait_outputs"] = t0, [t for t, _ in probe.humans if t >= t0]
    assert change_state(Transition.TRANSITION_DEACTIVATE)

    out["shutdown_success"] = change_state(Transition.TRANSITION_INACTIVE_SHUTDOWN)
    spinner.join(timeout=30.0)
    out["spin_returned"] = not spinner.is_alive()
    out["exit_code"] = code[0] if code else None
    # The node's last words (a STALE status, "shut down" on /rosout) were published before its
    # spinning ended; the probe has them once they are delivered.
    wait_for(lambda: probe.diag and probe.diag[-1] == (STALE, "node is shut down"),
             what="the last /diagnostics status")
    wait_for(lambda: any(name == "wham" and m == "shut down" for name, m in probe.rosout),
             what="the last /rosout line")
    executor.shutdown(timeout_sec=1.0)
    probe_spin.join(timeout=5.0)  # out of rcl's wait before rclpy shuts down (rclpy#1484)
    with probe.lock:
        out["diagnostics"] = list(probe.diag)
        out["rosout"] = list(probe.rosout)
    probe_node.destroy_node()
    rclpy.shutdown(context=probe_ctx)
    return out


def main():
    rclpy.init(args=["--ros-args", "-r", "image:=/cam/image_raw",
                     "-r", "camera_info:=/cam/camera_info", "-r", "imu:=/cam/imu"])
    models = json.loads(Path(sys.argv[1]).read_text())
    t0 = time.monotonic()
    result = scenario(models, int(sys.argv[2]))
    result["wall_s"] = time.monotonic() - t0
    print_result(result)
    if rclpy.ok():
        rclpy.shutdown()


if __name__ == "__main__":
    main()
