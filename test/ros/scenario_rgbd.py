"""Drives the composed node with an aligned depth stream over DDS (real Pipeline, synthetic models).

Run by test_node_rgbd_dds.py inside a loopback-only network namespace:
``python scenario_rgbd.py composed|split <models.json>`` (split: the front-end node reads
the depth, the WHAM-stage node places the people). The scene is ``wham_ros.testing.depth_scene``
(two people 3.8-5.6 m away, a static camera, a wall). A depth publisher thread sends the
aligned depth at 30 Hz (half the colour size, with its CameraInfo, so the node resamples it)
for the first half of the frames, then stops; one depth image with a wrong encoding comes
first. Colour frames go one at a time (each waits for its HumanArray). Prints one line
``RESULT <json>``.
"""
from __future__ import annotations

import json
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
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from scenario_node import Probe  # noqa: E402
from spinning import NodeSpinner, finish, wait_for  # noqa: E402
from scenario_real import model_parameters, set_stamp  # noqa: E402
from wham_ros.ros.frame_input import stamp_ns  # noqa: E402
from wham_ros.ros.node import WhamNode  # noqa: E402
from wham_ros.ros.split_nodes import FrontEndNode, WhamStageNode  # noqa: E402
from wham_ros.testing.depth_scene import COLOUR_FRAME, depth_fields, make_depth_scene  # noqa: E402

N_FRAMES = 12
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
DEPTH_INFO_TOPIC = "/camera/aligned_depth_to_color/camera_info"
TIMEOUT_S = 60.0


def depth_image(metres: np.ndarray, t_ns: int, encoding: str = "16UC1") -> Image:
    fields = depth_fields(metres, encoding)
    msg = Image(height=fields["height"], width=fields["width"], encoding=encoding,
                step=fields["step"], data=fields["data"].tobytes())
    set_stamp(msg.header, t_ns, COLOUR_FRAME)
    return msg


def colour_image(rgb: np.ndarray, t_ns: int) -> Image:
    h, w = rgb.shape[:2]
    msg = Image(height=h, width=w, encoding="rgb8", step=w * 3, data=np.ascontiguousarray(rgb).tobytes())
    set_stamp(msg.header, t_ns, COLOUR_FRAME)
    return msg


def info(K: np.ndarray, w: int, h: int) -> CameraInfo:
    msg = CameraInfo(width=w, height=h, distortion_model="plumb_bob")
    msg.k = [float(v) for v in np.asarray(K).reshape(-1)]
    msg.header.frame_id = COLOUR_FRAME
    return msg


def publish_until(pub, msg, cond, what: str) -> None:
    """Publish ``msg`` until ``cond()`` (again every second: a message sent while discovery
    is still one-sided may be lost)."""
    end = time.monotonic() + TIMEOUT_S
    while time.monotonic() < end:
        pub.publish(msg)
        try:
            wait_for(cond, timeout=1.0, what=what)
            return
        except TimeoutError:
            continue
    raise TimeoutError(f"timed out waiting for {what}")


def main():
    rclpy.init(args=["--ros-args", "-r", "image:=/cam/image_raw", "-r", "camera_info:=/cam/camera_info"])
    mode, models = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    start_ns = time.time_ns()  # stamps near the node's clock (latency, depth age)
    scene = make_depth_scene(N_FRAMES, start_ns=start_ns)
    H, W = scene.colour[0].shape[:2]
    params = model_parameters(models, depth_topic=DEPTH_TOPIC, camera_motion="static",
                              mesh_rate_hz=0.0)
    # ``node`` takes the images and the depth; ``nodes`` are all that run.
    nodes = [WhamNode(parameter_overrides=params)] if mode == "composed" else [
        FrontEndNode(parameter_overrides=params), WhamStageNode(parameter_overrides=params)]
    node = nodes[0]
    probe_node = rclpy.create_node("probe")
    probe = Probe(probe_node)
    rel = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    depth_pub = probe_node.create_publisher(Image, DEPTH_TOPIC, rel)
    depth_info_pub = probe_node.create_publisher(CameraInfo, DEPTH_INFO_TOPIC, rel)
    spinners = [NodeSpinner(n) for n in nodes + [probe_node]]  # transitions on each node's thread
    for spinner in spinners[:-1]:
        assert spinner.transition("configure") == TransitionCallbackReturn.SUCCESS
        assert spinner.transition("activate") == TransitionCallbackReturn.SUCCESS
    wait_for(lambda: probe.image_pub.get_subscription_count() > 0
             and depth_pub.get_subscription_count() > 0
             and depth_info_pub.get_subscription_count() > 0, timeout=TIMEOUT_S,
             what="node subscriptions")
    wait_for(lambda: all(s.get_publisher_count() > 0 for s in probe.subs), timeout=TIMEOUT_S,
             what="node publishers")
    publish_until(probe.info_pub, info(scene.K, W, H),
                  lambda: node._input.frames.camera_info is not None, "CameraInfo at the node")
    K_half = scene.K.copy()
    K_half[:2] *= 0.5
    publish_until(depth_info_pub, info(K_half, W // 2, H // 2),
                  lambda: node._input.depth.K is not None, "depth CameraInfo at the node")
    # A depth image with a wrong encoding for the last frame (after the stream stopped).
    bad = depth_image(scene.depth[-1][::2, ::2], scene.stamps_ns[-1])
    bad.encoding = "mono16"
    publish_until(depth_pub, bad, lambda: node._input.depth.received >= 1, "the bad depth image")

    half = N_FRAMES // 2
    depth_msgs = [depth_image(scene.depth[i][::2, ::2], scene.stamps_ns[i]) for i in range(half)]

    def publish_depth():  # 30 Hz, the first half of the frames
        for msg in depth_msgs:
            depth_pub.publish(msg)
            time.sleep(1.0 / 30.0)

    depth_thread = threading.Thread(target=publish_depth, daemon=True)
    depth_thread.start()
    for i, t in enumerate(scene.stamps_ns):
        if i < half:  # the node has this frame's depth image (the stream runs ahead)
            try:
                wait_for(lambda: node._input.depth.store.match(t) is not None, timeout=5.0,
                         what=f"depth image {i} at the node")
            except TimeoutError:  # lost: send it again
                publish_until(depth_pub, depth_msgs[i],
                              lambda: node._input.depth.store.match(t) is not None,
                              f"depth image {i} at the node")
        probe.image_pub.publish(colour_image(scene.colour[i], t))
        wait_for(lambda: probe.humans_with_stamp(t), timeout=TIMEOUT_S, what=f"HumanArray for frame {i}")
    depth_thread.join(timeout=TIMEOUT_S)
    wait_for(lambda: node.stats.snapshot()["depth_age_s"] > 1.5, timeout=TIMEOUT_S,
             what="the depth stream silent for 1.5 s")
    def own_diag():
        with probe.lock:
            name = f"{node.get_name()}: pipeline"
            return [d.status[0] for d in probe.diag if d.status[0].name == name]

    n_diag = len(own_diag())
    wait_for(lambda: len(own_diag()) > n_diag, timeout=TIMEOUT_S, what="diagnostics after that")
    last = own_diag()[-1]
    with probe.lock:
        humans = [{"stamp": stamp_ns(m.header.stamp), "people": [{
            "track_id": h.track_id, "age": h.age, "root_source": h.root_source,
            "root_cam": [h.root_pose_cam.position.x, h.root_pose_cam.position.y,
                         h.root_pose_cam.position.z],
            "bbox": [float(v) for v in h.bbox_xyxy]} for h in m.humans]}
            for m in probe.humans]
        diag = {"message": last.message, "values": {kv.key: kv.value for kv in last.values}}
    out = {"pairing": type(node._input.depth.store).__name__, "start_ns": start_ns,
           "stamps": list(scene.stamps_ns), "half": half, "humans": humans,
           "diagnostics": diag,
           "invalid_inputs": node.stats.snapshot()["invalid_inputs"]}
    for spinner in spinners[:-1]:
        assert spinner.transition("deactivate") == TransitionCallbackReturn.SUCCESS
    finish(spinners, out)


if __name__ == "__main__":
    main()
