"""On a simulated robot over DDS: the composed node with ``fixed_frame: odom`` and the real
Pipeline (synthetic models), a robot publishing in real time, a client with a real tf2 buffer.

    python scenario_robot.py <models.json> [imu|tf|nofixed|missing]

The robot (``wham_ros.testing.robot_world``: a base driving a circle arc, a panning head)
publishes /tf_static once (latched), odom -> base_link and the pan joint on /tf at 50 Hz,
images at 10 Hz, CameraInfo and (``imu``) the IMU at 200 Hz, stamped with the wall clock, as
it drives. A client node with a ``tf2_ros.Buffer`` and ``TransformListener`` looks every
``body_<id>`` of every HumanArray up in ``odom`` at its stamp while the robot drives
(generous timeouts). ``nofixed``: no fixed frame (the node's own wham_world, gyro); the node
must not publish a second parent for the robot's camera frame. ``missing``: the node asks for ``fixed_frame: map``, which the robot
does not have; its activate must fail after ``tf_timeout_s``. Prints ``RESULT <json>``;
test_robot_dds.py asserts on it.
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
import rclpy.parameter  # noqa: E402
import tf2_ros  # noqa: E402
from rclpy.duration import Duration  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rclpy.time import Time  # noqa: E402

from spinning import NodeSpinner, wait_for  # noqa: E402
from scenario_real import model_parameters  # noqa: E402
from wham_ros.testing.robot_bag import TF_STATIC_TOPIC, robot_messages  # noqa: E402
from wham_ros.msg import HumanArray  # noqa: E402
from wham_ros.ros.factory import RclpyFactory  # noqa: E402
from wham_ros.ros.frame_input import stamp_ns  # noqa: E402
from wham_ros.ros.node import WhamNode  # noqa: E402
from wham_ros.testing.robot_world import NS, RobotWorld  # noqa: E402

DURATION_S = 4.0
LOOKUP_TIMEOUT_S = 30.0


MISSING_TIMEOUT_S = 3.0


def missing_fixed_frame() -> None:
    """Activate with a fixed frame the robot's TF lacks: FAILURE after tf_timeout_s."""
    rclpy.init()
    world = RobotWorld(duration_s=30.0, start_ns=time.time_ns())
    robot = rclpy.create_node("robot")
    static = tf2_ros.StaticTransformBroadcaster(robot)
    broadcaster = tf2_ros.TransformBroadcaster(robot)
    msgs = robot_messages(RclpyFactory(), world, imu=False)
    static.sendTransform(list(next(m for m in msgs if m.topic == TF_STATIC_TOPIC).msg.transforms))
    executor = SingleThreadedExecutor()
    executor.add_node(robot)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    stop = threading.Event()

    def drive():
        for m in (m for m in msgs if m.topic == "/tf"):
            if stop.is_set():
                return
            broadcaster.sendTransform(list(m.msg.transforms))
            time.sleep(0.02)

    driver = threading.Thread(target=drive)
    driver.start()
    node = WhamNode(pipeline_factory=lambda values, warn: object(), parameter_overrides=[
        rclpy.parameter.Parameter("fixed_frame", value="map"),
        rclpy.parameter.Parameter("tf_timeout_s", value=MISSING_TIMEOUT_S)])
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    t0 = time.monotonic()
    result = node.trigger_activate()
    out = {"activate": result.name, "elapsed_s": time.monotonic() - t0,
           "state": node.stats.snapshot()["state"]}
    stop.set()
    driver.join()
    executor.shutdown()
    spinner.join(timeout=5.0)
    node.destroy_node()
    print_result(out)
    rclpy.shutdown()


def main(models_json: str, mode: str) -> None:
    rclpy.init(args=["--ros-args", "-r", "image:=/camera/image_raw",
                     "-r", "camera_info:=/camera/camera_info", "-r", "imu:=/imu/data"])
    models = json.loads(Path(models_json).read_text())
    camera_motion = "tf" if mode == "tf" else "imu"
    fixed = "" if mode == "nofixed" else "odom"
    imu = camera_motion == "imu"
    world = RobotWorld(duration_s=DURATION_S, start_ns=time.time_ns() + 3 * NS)
    msgs = robot_messages(RclpyFactory(), world, imu=imu)
    node = WhamNode(parameter_overrides=model_parameters(
        models, fixed_frame=fixed, camera_motion=camera_motion, tf_timeout_s=60.0, tf_wait_s=0.5,
        mesh_rate_hz=0.0))
    robot = rclpy.create_node("robot")
    reliable = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pubs = {}
    for m in msgs:
        if m.topic not in pubs:
            pubs[m.topic] = robot.create_publisher(type(m.msg), m.topic,
                                                   latched if m.topic == TF_STATIC_TOPIC else reliable)
    client = rclpy.create_node("client")
    buffer = tf2_ros.Buffer(cache_time=Duration(seconds=120.0))
    tf2_ros.TransformListener(buffer, client)
    arrays, lock = [], threading.Lock()
    client.create_subscription(HumanArray, "/human_pose",
                               lambda m: (lock.acquire(), arrays.append(m), lock.release()), reliable)
    tf_seen = []
    client.create_subscription(type(msgs[0].msg), "/tf", lambda m: tf_seen.extend(
        (t.header.frame_id, t.child_frame_id) for t in m.transforms), reliable)
    node_spinner = NodeSpinner(node)  # as `ros2 run` spins it; transitions on its thread
    executor = SingleThreadedExecutor()  # the robot and the client
    executor.add_node(robot)
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    def play():  # the robot drives: every message when the wall clock reaches its stamp
        for m in msgs:
            delay = (m.stamp_ns - time.time_ns()) / NS
            if delay > 0:
                time.sleep(delay)
            pubs[m.topic].publish(m.msg)

    player = threading.Thread(target=play)
    player.start()
    assert node_spinner.transition("configure") == TransitionCallbackReturn.SUCCESS
    assert node_spinner.transition("activate") == TransitionCallbackReturn.SUCCESS  # waits for odom in TF
    lookups, done = [], threading.Event()

    def look_up():  # while the robot drives: each body frame in odom at its stamp
        seen = 0
        while not (done.is_set() and seen == len(arrays)):
            with lock:
                todo = arrays[seen:]
            seen += len(todo)
            for m in todo:
                for h in m.humans if fixed else ():
                    frame = f"body_{h.body_id}"
                    entry = {"stamp": stamp_ns(m.header.stamp), "frame": frame, "age": h.age,
                             "root_world": [h.root_pose_world.position.x, h.root_pose_world.position.y,
                                            h.root_pose_world.position.z],
                             "root_cam": [h.root_pose_cam.position.x, h.root_pose_cam.position.y,
                                          h.root_pose_cam.position.z],
                             "during_drive": player.is_alive()}
                    try:
                        tf = buffer.lookup_transform("odom", frame, Time(nanoseconds=entry["stamp"]),
                                                     Duration(seconds=LOOKUP_TIMEOUT_S))
                        t = tf.transform.translation
                        entry["odom_body"] = [t.x, t.y, t.z]
                    except tf2_ros.TransformException as exc:
                        entry["error"] = f"{type(exc).__name__}: {exc}"
                    lookups.append(entry)
            time.sleep(0.02)

    looker = threading.Thread(target=look_up)
    looker.start()
    player.join()
    last = world.stamp(world.frame_times()[-1])
    wait_for(lambda: any(stamp_ns(m.header.stamp) == last for m in list(arrays)), timeout=120,
             what="the HumanArray of the last image")
    done.set()
    looker.join(timeout=2 * LOOKUP_TIMEOUT_S)
    out = {"arrays": [{"stamp": stamp_ns(m.header.stamp), "world_frame_id": m.world_frame_id,
                       "ids": [h.track_id for h in m.humans]} for m in arrays],
           "lookups": lookups, "tf_pairs": sorted(set(tf_seen)),
           "start_ns": world.start_ns, "last_stamp": last,
           "snapshot": {k: v for k, v in node.stats.snapshot().items() if k == "invalid_inputs"},
           "grounding": node._pipe.grounding_status()}
    node_spinner.transition("deactivate")
    node_spinner.stop()
    executor.shutdown()
    spinner.join(timeout=5.0)  # out of rcl's wait before rclpy shuts down (rclpy#1484: abort at exit)
    print_result(out)
    rclpy.shutdown()


if __name__ == "__main__":
    if sys.argv[2:] == ["missing"]:
        missing_fixed_frame()
    else:
        main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "imu")
