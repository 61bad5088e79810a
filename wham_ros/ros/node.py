"""The live WHAM node: camera (+ IMU) in, humans, markers, TF and diagnostics out.

Thin adapter over ``wham_ros.pipeline.Pipeline`` (built by ``pipeline_factory``):

* subscriptions (relative names, remap in launch; sensor-data QoS, REP-2003):
  ``image`` (sensor_msgs/Image) or ``image/compressed`` (sensor_msgs/CompressedImage),
  ``camera_info`` (sensor_msgs/CameraInfo), ``imu`` (sensor_msgs/Imu) and, when the
  ``depth_topic`` parameter names one, an aligned depth image (sensor_msgs/Image) with the
  CameraInfo beside it (doc/rgbd.md);
* publications: ``human_pose`` (wham_ros/HumanArray, reliable), ``human_pose/markers``
  (skeleton + contacts), ``human_pose/mesh`` (SMPL TRIANGLE_LIST, throttled, only while
  subscribed), ``human_pose/mesh_faces`` (wham_ros/MeshFaces, transient local),
  ``human_pose/overlay`` (sensor_msgs/Image: the image with the people drawn, throttled,
  only while subscribed),
  ``/tf`` (world -> body_<id>, world -> camera), ``/diagnostics`` and, when hri_msgs is
  installed, the REP-155 ``/humans/bodies/...`` topics (:mod:`wham_ros.ros.hri`).

Latest frame only: callbacks just store the newest image; one worker thread decodes and
runs the pipeline, while IMU samples reach the pipeline's world model as they arrive (see
:class:`wham_ros.ros.base_node.PipelineNodeBase` for the lifecycle).
The 6890-vertex mesh is computed only on frames that publish it. The same work split over
two processes: :mod:`wham_ros.ros.split_nodes`.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import rclpy
import rclpy.executors
import rclpy.logging
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from wham_ros.depth.topics import camera_info_topic_of
from wham_ros.ros.base_node import Factory, HumanOutputs, PipelineNodeBase
from wham_ros.ros.depth_input import DepthInput
from wham_ros.ros.depth_sync import depth_subscription
from wham_ros.ros.diagnostics import DEPTH_STALE_S
from wham_ros.ros.frame_input import FrameInput, stamp_ns
from wham_ros.ros.overlay import OverlayPublisher
from wham_ros.ros.params import pipeline_kwargs

NODE_NAME = "wham"
SHUTDOWN_LINGER_S = 0.3  # spinning after the shutdown transition (its service response)
# A frame waits at most this long (wall time) for a depth image stamped at or after it, while
# the depth stream is live (a driver may send depth just after colour).
DEPTH_WAIT_S = 0.1


def pipeline_config(values: Dict[str, Any], warn: Callable[[str], None]):
    """``wham_ros.pipeline.PipelineConfig`` from node parameter values."""
    from wham_ros.pipeline import PipelineConfig

    accepted = [f.name for f in dataclasses.fields(PipelineConfig)]
    return PipelineConfig(**pipeline_kwargs(values, accepted, warn))


def default_pipeline_factory(values: Dict[str, Any], warn: Callable[[str], None]):
    """Build the real ``wham_ros.pipeline.Pipeline`` from parameter values (model files
    resolved and checked as ``wham-ros models check`` does)."""
    from wham_ros.models.registry import build_with_models
    from wham_ros.pipeline import Pipeline

    return build_with_models(values, lambda v: Pipeline(pipeline_config(v, warn)))


class ImageInput:
    """Image + CameraInfo (+ aligned depth) subscriptions of a node feeding its latest-input worker.

    Args:
        node: the node (``_submit`` receives ``(msg, compressed)``).
    """

    def __init__(self, node: PipelineNodeBase) -> None:
        self.node = node
        self.frames = FrameInput(node.warn_once, self._camera_info_published)
        self.depth: Optional[DepthInput] = None  # with a depth_topic, while active
        self._info_sub = None
        self._waiting_noted = False

    def _camera_info_published(self) -> bool:
        return self._info_sub is not None and self._info_sub.get_publisher_count() > 0

    def subscriptions(self, sensor: QoSProfile) -> List[Any]:
        node = self.node
        if node._values["image_transport"] == "compressed":
            image = node.create_subscription(CompressedImage, "image/compressed",
                                             lambda m: self._on_image(m, True), sensor)
        else:
            image = node.create_subscription(Image, "image", lambda m: self._on_image(m, False), sensor)
        self._info_sub = node.create_subscription(CameraInfo, "camera_info", self._on_camera_info,
                                                  sensor)
        subs = [image, self._info_sub]
        topic = node._values["depth_topic"]
        if topic:
            sub, store, how = depth_subscription(node, Image, topic, sensor,
                                                 node._values["depth_max_dt_s"], self._on_depth)
            self.depth = DepthInput(node.warn_once, node._values["depth_max_dt_s"], topic, store)
            with node.stats.lock:
                node.stats.depth_topic = node.resolve_topic_name(topic)
            node.get_logger().info(f"depth from {node.stats.depth_topic}, paired by stamp "
                                   f"(depth_max_dt_s {node._values['depth_max_dt_s']:g}) with {how}")
            subs.append(sub)
            info = camera_info_topic_of(topic)
            if info != "camera_info":  # not the colour image's own
                subs.append(node.create_subscription(CameraInfo, info, self.depth.set_camera_info,
                                                     sensor))
        return subs

    def release(self) -> None:
        """Forget the subscription handles (destroyed by the node on deactivate)."""
        self._info_sub = None
        self.depth = None

    def _on_depth(self, msg: Image) -> None:
        depth = self.depth
        if depth is None:
            return
        with self.node.stats.lock:
            self.node.stats.stamp_rates["depth"].tick(stamp_ns(msg.header.stamp))
            self.node.stats.depth_received_at = time.monotonic()
        depth.add(msg)

    def _on_image(self, msg, compressed: bool) -> None:
        with self.node.stats.lock:
            self.node.stats.stamp_rates["image"].tick(stamp_ns(msg.header.stamp))
        self.node._submit((msg, compressed))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        with self.node.stats.lock:
            self.node.stats.stamp_rates["camera_info"].tick(stamp_ns(msg.header.stamp))
        self.frames.set_camera_info(msg)

    def reference_ns(self) -> int:
        """The time an image stamp may not be far ahead of: the node's clock, or the newest IMU
        stamp when that is later (simulated time not started yet, a clock behind the sensors)."""
        with self.node.stats.lock:
            imu_ns = self.node.stats.stamp_rates["imu"].last_stamp_ns
        return max(self.node.get_clock().now().nanoseconds, imu_ns or 0)

    def frame(self, item, reset: Callable[[], None]):
        """Decode a stored ``(msg, compressed)``; calls ``reset`` first on a backwards time jump.

        Images stamped more than ``max_stamp_ahead_s`` ahead of :meth:`reference_ns` are
        dropped (counted as ``image_stamp_future``); the first frames wait up to ``camera_info_wait_s``
        for a CameraInfo while the camera_info topic has a publisher.

        Returns:
            the :class:`wham_ros.types.CameraFrame` to process, or None (dropped, warned).
        """
        msg, compressed = item
        node = self.node
        decision = self.frames.image(msg, compressed, node._values,
                                     "image/compressed" if compressed else "image",
                                     now_ns=self.reference_ns())
        if decision.jumped_back_ns:
            node.note_reset(f"image time jumped back by {decision.jumped_back_ns * 1e-9:.3f} s "
                            "(bag loop or clock reset)")
            reset()
            if self.depth is not None:
                self.depth.reset()
        if decision.waiting_for_camera_info and not self._waiting_noted:
            self._waiting_noted = True
            node.get_logger().info(f"waiting up to {node._values['camera_info_wait_s']:g} s for "
                                   "a CameraInfo before processing images")
        if decision.frame is not None and self.depth is not None:
            return self._with_depth(decision.frame, msg.header.frame_id)
        return decision.frame

    def _with_depth(self, frame, header_frame_id: str):
        """``frame`` with its paired depth image; waits up to :data:`DEPTH_WAIT_S` for one
        that may pair (stamped at or after it less ``depth_max_dt_s``) while the depth stream
        is live."""
        depth = self.depth
        with self.node.stats.lock:
            received_at = self.node.stats.depth_received_at
        if received_at is not None and time.monotonic() - received_at < DEPTH_STALE_S:
            depth.store.wait_until_covered(frame.stamp_ns, DEPTH_WAIT_S)
        return depth.attach(frame, header_frame_id)


class WhamNode(PipelineNodeBase):
    """Lifecycle node running the whole WHAM pipeline on the latest camera frame.

    Args:
        pipeline_factory: ``(parameter values, warn) -> pipeline``; default builds
            ``wham_ros.pipeline.Pipeline``. Tests inject doubles here.
        node_name: node name.
        **kwargs: passed to ``LifecycleNode`` (e.g. ``parameter_overrides``).
    """

    CHECKS_CAMERA_RATE = True

    def __init__(self, pipeline_factory: Optional[Factory] = None,
                 node_name: str = NODE_NAME, **kwargs) -> None:
        super().__init__(node_name, "composed", pipeline_factory or default_pipeline_factory, **kwargs)
        self._input = ImageInput(self)
        self._outputs: Optional[HumanOutputs] = None
        self._overlay: Optional[OverlayPublisher] = None

    @property
    def _camera_info(self):
        """(K, W, H) of the last valid CameraInfo, or None."""
        return self._input.frames.camera_info

    def _create_publishers(self) -> None:
        self._outputs = HumanOutputs(self)
        self._pubs.update(self._outputs.pubs)
        self._overlay = OverlayPublisher(self)
        self._pubs["overlay"] = self._overlay.pub

    def _on_built(self) -> None:
        self._outputs.publish_faces(getattr(self._pipe, "faces", None))
        self._input.frames.reset()  # a new pipeline: any stamp may come first

    def _create_subscriptions(self, sensor: QoSProfile) -> List[Any]:
        imu_qos = QoSProfile(depth=int(self._values["imu_queue_size"]), reliability=sensor.reliability)
        return self._input.subscriptions(sensor) + [
            self.create_subscription(self._f.cls("sensor_msgs/msg/Imu"), "imu", self._on_imu, imu_qos)]

    def _reset(self) -> None:
        self._pipe.reset()

    def _release_inputs(self) -> None:
        self._input.release()

    def _process(self, item) -> None:
        frame = self._input.frame(item, self._reset)
        if frame is None:
            return
        frame.T_fixed_cam = self.camera_pose(frame.frame_id, frame.stamp_ns)
        # The 6890-vertex mesh only on frames that publish it (marker due or publish_vertices).
        mesh = self._outputs.mesh_due(self._values)
        overlay = self._overlay.due(self._values)
        full_mesh = (mesh or self._values["publish_vertices"]
                     or (overlay and self._overlay.wants_mesh(self._values)))
        t0 = time.perf_counter()
        result = self._pipe.process(frame, full_mesh=full_mesh)
        processing_ms = (time.perf_counter() - t0) * 1e3
        self._count_processed(frame.stamp_ns, processing_ms, len(result.humans), result.dropped)
        if self._input.depth is not None and not result.dropped:
            self.stats.count_depth(frame.depth is not None, len(result.humans),
                                   sum(h.root_source == "depth" for h in result.humans))
        if not result.dropped:  # else WHAM's 30 Hz policy skipped it: nothing to publish
            self._outputs.publish(result, self.output_values(frame.frame_id), mesh)
            if overlay:
                self._overlay.publish(frame, result, self._values, self._outputs.faces)


def spin_lifecycle_node(node: PipelineNodeBase) -> int:
    """Configure and activate ``node`` (if ``autostart``), spin until shutdown; exit code.

    Returns after Ctrl-C, an external rclpy shutdown, or the lifecycle shutdown transition
    (``ros2 lifecycle set <node> shutdown``), so the process then exits.
    """
    code = 0
    try:
        if node.get_parameter("autostart").value:
            for transition, failed in ((node.trigger_configure, 2), (node.trigger_activate, 3)):
                if transition() != TransitionCallbackReturn.SUCCESS:
                    raise SystemExit(failed)
        else:
            node.get_logger().info("autostart is false: waiting for lifecycle transitions "
                                   "(configure, activate)")
        rclpy.spin_until_future_complete(node, node.finished)
        # The shutdown transition completed inside its service call: spin a moment longer so
        # the caller (``ros2 lifecycle set``, a lifecycle manager) gets the response.
        end = time.monotonic() + SHUTDOWN_LINGER_S
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    except SystemExit as exc:
        node.get_logger().error("startup failed (see the error above); exiting")
        code = int(exc.code)
    finally:
        node.on_shutdown(None)
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return code


def run_node(node_class, node_name: str, args=None) -> int:
    """Create ``node_class()`` under rclpy and run it (exit 2 on an invalid parameter override)."""
    rclpy.init(args=args)
    try:
        node = node_class()
    except ParameterException as exc:  # e.g. a string given for a number parameter
        rclpy.logging.get_logger(node_name).error(f"invalid parameter override: {exc}")
        rclpy.shutdown()
        return 2
    return spin_lifecycle_node(node)


def main(args=None) -> int:
    """``ros2 run wham_ros wham_node``: run the composed node until shutdown."""
    return run_node(WhamNode, NODE_NAME, args)


if __name__ == "__main__":  # python -m wham_ros.ros.node
    sys.exit(main())
