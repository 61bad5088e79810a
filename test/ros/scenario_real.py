"""Drives the WHAM node with the real Pipeline and the synthetic model set over DDS.

Run by test_node_e2e.py inside a loopback-only network namespace:
``python scenario_real.py composed|split <models.json>``. Frames and IMU come from
``wham_ros.testing.scenes.make_scene`` (a red and a green person, a panning camera). Prints one
line ``RESULT <json>`` with what the probe observed per case; the test asserts on it.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402
from netns import print_result  # noqa: E402

ros_env.activate()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu  # noqa: E402

from scenario_node import Probe  # noqa: E402
from spinning import NodeSpinner, wait_for  # noqa: E402
from wham_ros.ros.frame_input import stamp_ns  # noqa: E402
from wham_ros.msg import PersonObservationArray  # noqa: E402
from wham_ros.ros.node import WhamNode, default_pipeline_factory  # noqa: E402
from wham_ros.ros.split_nodes import FrontEndNode, WhamStageNode  # noqa: E402
from wham_ros.testing.scenes import make_scene  # noqa: E402

CAMERA_FRAME = "scene_cam_optical"
SIZE = (320, 240)
N_FRAMES = 7


def set_stamp(header, t_ns: int, frame_id: str) -> None:
    header.stamp.sec, header.stamp.nanosec = divmod(int(t_ns), 1_000_000_000)
    header.frame_id = frame_id


def raw_image(rgb: np.ndarray, t_ns: int, encoding: str) -> Image:
    """``rgb8`` or ``bgr8`` Image of an RGB array."""
    pixels = rgb if encoding == "rgb8" else rgb[:, :, ::-1]
    h, w = rgb.shape[:2]
    msg = Image(height=h, width=w, encoding=encoding, step=w * 3,
                data=np.ascontiguousarray(pixels).tobytes())
    set_stamp(msg.header, t_ns, CAMERA_FRAME)
    return msg


def compressed_image(rgb: np.ndarray, t_ns: int, fmt: str) -> CompressedImage:
    """``jpeg`` or ``png`` CompressedImage of an RGB array."""
    ok, data = cv2.imencode("." + fmt, np.ascontiguousarray(rgb[:, :, ::-1]))
    assert ok
    msg = CompressedImage(format=fmt, data=data.tobytes())
    set_stamp(msg.header, t_ns, CAMERA_FRAME)
    return msg


def camera_info(K: np.ndarray) -> CameraInfo:
    info = CameraInfo(width=SIZE[0], height=SIZE[1], distortion_model="plumb_bob")
    info.k = [float(v) for v in K.reshape(-1)]
    info.header.frame_id = CAMERA_FRAME
    return info


def imu_msg(sample) -> Imu:
    msg = Imu()
    set_stamp(msg.header, sample.stamp_ns, sample.frame_id)
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = \
        (float(v) for v in sample.angular_velocity)
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = \
        (float(v) for v in sample.linear_acceleration)
    msg.orientation_covariance[0] = -1.0  # no orientation
    return msg


def model_parameters(models: dict, **extra) -> list:
    values = dict(models, keypoint_backend="vitpose", detector_format="yolov8", providers="cpu",
                  tracker_min_hits=2, sensor_qos_reliability="reliable", mesh_rate_hz=1000.0,
                  diagnostics_period_s=0.2)
    values.update(extra)
    return [Parameter(k, value=v) for k, v in values.items()]


class ScenePlayer:
    """Plays a scene into the node: IMU up to each frame's stamp, then the frame, then waits."""

    def __init__(self, probe: Probe, imu_count, has_camera_info):
        self.probe = probe
        self.imu_count = imu_count  # () -> IMU samples the receiving node has counted
        self.has_camera_info = has_camera_info  # () -> the image node holds a CameraInfo
        self.sent_imu = 0
        n = probe.node
        rel = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.compressed_pub = n.create_publisher(CompressedImage, "/cam/image_raw/compressed", rel)

    def play(self, scene, make_msg):
        """make_msg(i, rgb, stamp) -> Image or CompressedImage; returns the stamps sent."""
        k, stamps = 0, []
        self.probe.info_pub.publish(camera_info(scene.K))
        wait_for(self.has_camera_info, what="CameraInfo at the node")
        for i, frame in enumerate(scene.frames):
            while k < len(scene.imu) and scene.imu[k].stamp_ns <= frame.stamp_ns:
                self.probe.imu_pub.publish(imu_msg(scene.imu[k]))
                k += 1
                self.sent_imu += 1
            wait_for(lambda: self.imu_count() >= self.sent_imu, what="IMU samples at the node")
            msg = make_msg(i, frame.image, frame.stamp_ns)
            (self.compressed_pub if isinstance(msg, CompressedImage) else self.probe.image_pub).publish(msg)
            wait_for(lambda: self.probe.humans_with_stamp(frame.stamp_ns),
                     what=f"HumanArray for frame {i}")
            stamps.append(frame.stamp_ns)
        return stamps


def _marker_stamps(arrays):
    return {stamp_ns(m.markers[0].header.stamp) for m in arrays if m.markers}


def summarise(probe: Probe, stamps, mesh_expected: bool) -> dict:
    """What the probe received for the frames with ``stamps`` (waits for the last markers).

    The node publishes humans, skeleton markers, TF, then the mesh; without ``mesh_expected``
    the mesh list is taken once the TF of the last frame is in.
    """
    wanted = set(stamps)
    wait_for(lambda: stamps[-1] in _marker_stamps(probe.markers), what="last skeleton markers")
    wait_for(lambda: any(stamp_ns(t.header.stamp) == stamps[-1] for m in probe.tf for t in m.transforms),
             what="last TF")
    if mesh_expected:
        wait_for(lambda: stamps[-1] in _marker_stamps(probe.mesh), what="last mesh markers")
    with probe.lock:
        humans = [{
            "stamp": stamp_ns(m.header.stamp), "frame_id": m.header.frame_id,
            "world_frame_id": m.world_frame_id,
            "people": [{
                "track_id": h.track_id, "body_id": h.body_id, "age": h.age,
                "frame_id": h.header.frame_id, "world_frame_id": h.world_frame_id,
                "trans_cam": [h.root_pose_cam.position.x, h.root_pose_cam.position.y,
                              h.root_pose_cam.position.z],
                "trans_world": [h.root_pose_world.position.x, h.root_pose_world.position.y,
                                h.root_pose_world.position.z],
                "quat_world_norm": float(np.linalg.norm([
                    h.root_pose_world.orientation.x, h.root_pose_world.orientation.y,
                    h.root_pose_world.orientation.z, h.root_pose_world.orientation.w])),
                "n_smpl": [len(h.smpl_joints_cam), len(h.smpl_joints_world)],
                "n_coco": [len(h.coco_joints_cam), len(h.coco_joints_world)],
                "contact": [float(c) for c in h.contact],
                "n_contact_points": len(h.contact_points_world),
                "bbox": [float(v) for v in h.bbox_xyxy],
                "n_vertices": len(h.vertices_cam),
                "finite": bool(np.all(np.isfinite(h.body_pose)) and np.all(np.isfinite(h.betas))),
            } for h in m.humans]} for m in probe.humans if stamp_ns(m.header.stamp) in wanted]
        tf = [[stamp_ns(t.header.stamp), t.header.frame_id, t.child_frame_id,
               [t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z,
                t.transform.rotation.w]]
              for m in probe.tf for t in m.transforms if stamp_ns(t.header.stamp) in wanted]
        markers = [[(mk.ns, mk.id, mk.type, mk.header.frame_id, len(mk.points)) for mk in m.markers]
                   for m in probe.markers if m.markers and stamp_ns(m.markers[0].header.stamp) in wanted]
        mesh = [[(mk.ns, mk.id, mk.type, len(mk.points)) for mk in m.markers]
                for m in probe.mesh if m.markers and stamp_ns(m.markers[0].header.stamp) in wanted]
    return {"stamps": stamps, "humans": humans, "tf": tf, "markers": markers, "mesh": mesh}


def diagnostics(probe: Probe) -> dict:
    """The newest /diagnostics status, from a period that began after the last frame."""
    n_diag = len(probe.diag)
    wait_for(lambda: len(probe.diag) >= n_diag + 2, what="diagnostics after the last frame")
    with probe.lock:
        last = probe.diag[-1].status[0]
    return {"name": last.name, "message": last.message,
            "values": {kv.key: kv.value for kv in last.values}}


def recording_factory(calls: list):
    """The node's default pipeline factory, recording the ``full_mesh`` flag of every call."""
    def factory(values, warn):
        pipe = default_pipeline_factory(values, warn)
        process = pipe.process

        def recording(frame, full_mesh=None):
            calls.append(full_mesh)
            return process(frame, full_mesh=full_mesh)

        pipe.process = recording
        return pipe
    return factory


def scenario_composed(models: dict) -> dict:
    """Raw images (rgb8/bgr8), then after a lifecycle reconfigure compressed (jpeg/png)."""
    calls = []
    node = WhamNode(pipeline_factory=recording_factory(calls),
                    parameter_overrides=model_parameters(models))
    probe_node = rclpy.create_node("probe")
    probe = Probe(probe_node)
    player = ScenePlayer(probe, lambda: node.stats.snapshot()["received_imu"],
                         lambda: node._camera_info is not None)
    spinners = [NodeSpinner(node), NodeSpinner(probe_node)]
    out = {}
    t0 = time.monotonic()
    assert spinners[0].transition("configure") == TransitionCallbackReturn.SUCCESS
    assert spinners[0].transition("activate") == TransitionCallbackReturn.SUCCESS
    out["activate_s"] = time.monotonic() - t0
    probe.subscribe_faces()
    wait_for(lambda: probe.faces, what="latched MeshFaces")
    out["faces"] = {"num_vertices": probe.faces[0].num_vertices,
                    "n_triangles": len(probe.faces[0].triangles) // 3}
    wait_for(lambda: probe.image_pub.get_subscription_count() > 0
             and probe.imu_pub.get_subscription_count() > 0
             and probe.info_pub.get_subscription_count() > 0, what="node subscriptions")
    wait_for(lambda: all(s.get_publisher_count() > 0 for s in probe.subs), what="node publishers")

    scene = make_scene(N_FRAMES, size=SIZE)
    encodings = ("rgb8", "bgr8")
    stamps = player.play(scene, lambda i, rgb, t: raw_image(rgb, t, encodings[i % 2]))
    out["raw"] = summarise(probe, stamps, mesh_expected=True)
    out["raw"]["full_mesh_calls"], calls[:] = list(calls), []
    out["diagnostics"] = diagnostics(probe)

    # Nobody watches the mesh any more: no mesh markers, no vertices computed.
    probe_node.destroy_subscription(probe.subs[2])
    wait_for(lambda: node._pubs["mesh"].get_subscription_count() == 0, what="mesh unsubscribed")
    # Reconfigure for compressed input (models are reloaded; new track ids continue).
    assert spinners[0].transition("deactivate") == TransitionCallbackReturn.SUCCESS
    res = node.set_parameters([Parameter("image_transport", value="compressed")])[0]
    assert res.successful, res.reason
    assert spinners[0].transition("activate") == TransitionCallbackReturn.SUCCESS
    # The reactivated node's new subscriptions must be matched, or what is sent first is lost.
    wait_for(lambda: player.compressed_pub.get_subscription_count() > 0
             and probe.imu_pub.get_subscription_count() > 0
             and probe.info_pub.get_subscription_count() > 0, what="node subscriptions after reactivation")
    scene = make_scene(N_FRAMES, size=SIZE, start_ns=50_000_000_000)
    formats = ("jpeg", "png")
    stamps = player.play(scene, lambda i, rgb, t: compressed_image(rgb, t, formats[i % 2]))
    out["compressed"] = summarise(probe, stamps, mesh_expected=False)
    out["compressed"]["full_mesh_calls"] = list(calls)
    out["invalid_inputs"] = node.stats.snapshot()["invalid_inputs"]
    assert spinners[0].transition("deactivate") == TransitionCallbackReturn.SUCCESS
    for spinner in spinners:
        spinner.stop()
    return out


def scenario_split(models: dict) -> dict:
    """The raw case of :func:`scenario_composed` through a front-end node and a WHAM-stage node."""
    params = model_parameters(models)
    frontend = FrontEndNode(parameter_overrides=params)
    stage = WhamStageNode(parameter_overrides=params)
    probe_node = rclpy.create_node("probe")
    probe = Probe(probe_node)
    observations = []
    probe_node.create_subscription(PersonObservationArray, "/person_observations",
                                   lambda m: observations.append(m),
                                   QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    player = ScenePlayer(probe, lambda: stage.stats.snapshot()["received_imu"],
                         lambda: frontend._input.frames.camera_info is not None)
    spinners = [NodeSpinner(n) for n in (frontend, stage, probe_node)]
    for spinner in spinners[:2]:
        assert spinner.transition("configure") == TransitionCallbackReturn.SUCCESS
        assert spinner.transition("activate") == TransitionCallbackReturn.SUCCESS
    probe.subscribe_faces()
    wait_for(lambda: probe.faces, what="latched MeshFaces")
    wait_for(lambda: probe.image_pub.get_subscription_count() > 0
             and probe.imu_pub.get_subscription_count() > 0
             and probe.info_pub.get_subscription_count() > 0, what="node subscriptions")
    wait_for(lambda: all(s.get_publisher_count() > 0 for s in probe.subs), what="node publishers")
    scene = make_scene(N_FRAMES, size=SIZE)
    encodings = ("rgb8", "bgr8")
    stamps = player.play(scene, lambda i, rgb, t: raw_image(rgb, t, encodings[i % 2]))
    out = {"raw": summarise(probe, stamps, mesh_expected=True),
           "faces": {"num_vertices": probe.faces[0].num_vertices,
                     "n_triangles": len(probe.faces[0].triangles) // 3},
           "observations": [{"stamp": stamp_ns(m.header.stamp), "frame_id": m.header.frame_id,
                             "k": list(m.k), "size": [m.width, m.height],
                             "ids": [p.track_id for p in m.people],
                             "ended": list(m.ended_track_ids)} for m in observations],
           "stats": {"frontend": frontend.stats.snapshot(), "stage": stage.stats.snapshot()}}
    for spinner in spinners[:2]:
        assert spinner.transition("deactivate") == TransitionCallbackReturn.SUCCESS
    for spinner in spinners:
        spinner.stop()
    return out


def main():
    rclpy.init(args=["--ros-args", "-r", "image:=/cam/image_raw",
                     "-r", "image/compressed:=/cam/image_raw/compressed",
                     "-r", "camera_info:=/cam/camera_info", "-r", "imu:=/cam/imu"])
    models = json.loads(Path(sys.argv[2]).read_text())
    result = {"composed": scenario_composed, "split": scenario_split}[sys.argv[1]](models)
    print_result(result)
    rclpy.shutdown()


if __name__ == "__main__":
    main()
