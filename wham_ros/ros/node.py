"""The live WHAM node: camera (+ IMU) in, humans, markers, TF and diagnostics out.

Thin adapter over ``wham_ros.pipeline.Pipeline`` (injected through ``pipeline_factory``):

* subscriptions (relative names, remap in launch; sensor-data QoS, REP-2003):
  ``image`` (sensor_msgs/Image) or ``image/compressed`` (sensor_msgs/CompressedImage),
  ``camera_info`` (sensor_msgs/CameraInfo), ``imu`` (sensor_msgs/Imu);
* publications: ``human_pose`` (wham_ros/HumanArray, reliable), ``human_pose/markers``
  (skeleton + contacts), ``human_pose/mesh`` (SMPL TRIANGLE_LIST, throttled, only while
  subscribed), ``human_pose/mesh_faces`` (wham_ros/MeshFaces, transient local),
  ``/tf`` (world -> body_<id>), ``/diagnostics`` and, when hri_msgs is installed,
  ``/humans/bodies/tracked`` (REP-155).

Latest frame only: callbacks just store the newest image; one worker thread decodes and
runs the pipeline, and an image replaced before the worker took it is counted as dropped.
Lifecycle (REP-2003-style managed node): parameters are read and publishers created on
configure, models are loaded and subscriptions made on activate, and both are released
on deactivate / cleanup.
"""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Any, Callable, Deque, Dict, Optional

import numpy as np
import rclpy
import rclpy.executors
import rclpy.logging
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu

from wham_ros.image_conversion import ImageConversionError, compressed_to_rgb, image_to_rgb
from wham_ros.ros import conversions, markers
from wham_ros.ros.diagnostics import NodeStats, diagnostics_msg
from wham_ros.ros.factory import RclpyFactory
from wham_ros.ros.frame_input import RateLimiter
from wham_ros.ros.params import PARAMS, SPECS, ParameterError, pipeline_kwargs
from wham_ros.types import CameraFrame, FrameResult, ImuSample

NODE_NAME = "wham"
PipelineFactory = Callable[[Dict[str, Any], Callable[[str], None]], Any]


def default_pipeline_factory(values: Dict[str, Any], warn: Callable[[str], None]):
    """Build the real ``wham_ros.pipeline.Pipeline`` from parameter values."""
    from wham_ros.pipeline import Pipeline, PipelineConfig

    accepted = [f.name for f in dataclasses.fields(PipelineConfig)]
    return Pipeline(PipelineConfig(**pipeline_kwargs(values, accepted, warn)))


def stamp_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class WhamNode(LifecycleNode):
    """Lifecycle node running the WHAM pipeline on the latest camera frame.

    Args:
        pipeline_factory: ``(parameter values, warn) -> pipeline``; default builds
            ``wham_ros.pipeline.Pipeline``. Tests inject doubles here.
        **kwargs: passed to ``LifecycleNode`` (e.g. ``parameter_overrides``).
    """

    def __init__(self, pipeline_factory: Optional[PipelineFactory] = None,
                 node_name: str = NODE_NAME, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._pipeline_factory = pipeline_factory or default_pipeline_factory
        for spec in PARAMS:
            self.declare_parameter(spec.name, spec.default, ParameterDescriptor(
                description=spec.description,
                additional_constraints=(f"one of {', '.join(spec.choices)}" if spec.choices else ""),
                read_only=False))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._f = RclpyFactory()
        self.stats = NodeStats()
        self._warned: set = set()
        self._values: Dict[str, Any] = {}
        self._pipe = None
        self._pubs: Dict[str, Any] = {}
        self._subs: list = []
        self._diag_timer = None
        self._hri = None
        # Latest-frame slot shared by the image callback and the worker.
        self._cv = threading.Condition()
        self._slot = None  # (msg, compressed: bool) or None
        self._running = False
        self._worker: Optional[threading.Thread] = None
        self._imu: Deque[ImuSample] = collections.deque(maxlen=200)
        self._camera_info = None  # (K (3, 3), width, height)
        self._last_stamp_ns: Optional[int] = None
        self._mesh_rate = RateLimiter()  # mesh markers, wall time (monotonic)

    # ------------------------------------------------------------------ parameters
    def _read_parameters(self) -> Dict[str, Any]:
        values = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        for name, value in values.items():
            SPECS[name].validate(value)
        return values

    def _on_set_parameters(self, params) -> SetParametersResult:
        for p in params:
            spec = SPECS.get(p.name)
            if spec is None:
                continue
            try:
                spec.validate(p.value)
            except ParameterError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            if spec.read_only and self._pipe is not None:
                return SetParametersResult(successful=False, reason=(
                    f"parameter '{p.name}' can only change while the node is inactive "
                    "(deactivate, cleanup, set it, configure, activate)"))
            if p.name in self._values:
                self._values[p.name] = p.value
        return SetParametersResult(successful=True)

    def warn_once(self, cause: str, text: str) -> None:
        """Count an invalid input under ``cause`` and log ``text`` the first time only."""
        self.stats.count_invalid(cause)
        if cause not in self._warned:
            self._warned.add(cause)
            self.get_logger().warning(f"{text} (further '{cause}' inputs are counted on "
                                      "/diagnostics, not logged)")

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self._values = self._read_parameters()
        except ParameterError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._pubs = {
            "humans": self.create_publisher(self._f.cls(conversions.HUMAN_ARRAY), "human_pose", reliable),
            "markers": self.create_publisher(self._f.cls(markers.MARKER_ARRAY), "human_pose/markers", reliable),
            "mesh": self.create_publisher(self._f.cls(markers.MARKER_ARRAY), "human_pose/mesh", reliable),
            "faces": self.create_publisher(self._f.cls(conversions.MESH_FACES), "human_pose/mesh_faces", latched),
            "diagnostics": self.create_publisher(self._f.cls("diagnostic_msgs/msg/DiagnosticArray"),
                                                 "/diagnostics", reliable),
        }
        try:
            self._pubs["tf"] = self.create_publisher(self._f.cls(conversions.TF_MESSAGE), "/tf",
                                                     QoSProfile(depth=100))
        except (ImportError, AttributeError):
            self.get_logger().warning("tf2_msgs is not installed: no TF will be broadcast")
        try:
            from hri_msgs.msg import IdsList

            self._hri = IdsList
            self._pubs["hri"] = self.create_publisher(IdsList, "/humans/bodies/tracked", reliable)
        except ImportError:
            self._hri = None
        self._diag_timer = self.create_timer(self._values["diagnostics_period_s"],
                                             self._publish_diagnostics)
        self._set_state("inactive")
        self.get_logger().info("configured")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        try:
            self._pipe = self._pipeline_factory(dict(self._values), self.get_logger().warning)
        except Exception as exc:  # model loading reports ModelFileError & co. with a reason
            self.get_logger().error(f"activate failed: cannot build the pipeline: {exc}")
            self.stats.pipeline_errors += 1
            return TransitionCallbackReturn.FAILURE
        self.stats.providers = {k: str(v) for k, v in getattr(self._pipe, "providers", {}).items()}
        faces = getattr(self._pipe, "faces", None)
        if faces is not None:
            n_verts = int(np.asarray(faces).max()) + 1
            self._pubs["faces"].publish(conversions.faces_to_msg(
                self._f, faces, n_verts, self.get_clock().now().nanoseconds))
        self._imu = collections.deque(maxlen=int(self._values["imu_queue_size"]))
        self._last_stamp_ns = None  # a new pipeline: any stamp may come first
        sensor = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                            reliability=qos_profile_sensor_data.reliability,
                            durability=qos_profile_sensor_data.durability)
        if self._values["sensor_qos_reliability"] == "reliable":
            sensor.reliability = ReliabilityPolicy.RELIABLE
        imu_qos = QoSProfile(depth=int(self._values["imu_queue_size"]),
                             reliability=sensor.reliability)
        if self._values["image_transport"] == "compressed":
            self._subs.append(self.create_subscription(
                CompressedImage, "image/compressed", lambda m: self._on_image(m, True), sensor))
        else:
            self._subs.append(self.create_subscription(
                Image, "image", lambda m: self._on_image(m, False), sensor))
        self._subs.append(self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, sensor))
        self._subs.append(self.create_subscription(Imu, "imu", self._on_imu, imu_qos))
        self._running = True
        self._worker = threading.Thread(target=self._work, name="wham_worker", daemon=True)
        self._worker.start()
        self._set_state("active")
        self.get_logger().info(f"activated; execution providers: {self.stats.providers}")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._pipe = None  # frees the models (and GPU memory with them)
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
        self._set_state("inactive")
        self.get_logger().info("deactivated; models released")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        for pub in self._pubs.values():
            self.destroy_publisher(pub)
        self._pubs = {}
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        self._set_state("unconfigured")
        self.get_logger().info("cleaned up")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        self._pipe = None
        return TransitionCallbackReturn.SUCCESS

    def _set_state(self, name: str) -> None:
        with self.stats.lock:
            self.stats.state = name

    def _stop_worker(self) -> None:
        with self._cv:
            self._running = False
            self._cv.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
            self._worker = None

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, msg, compressed: bool) -> None:
        with self.stats.lock:
            self.stats.rates["image"].tick()
            self.stats.received_frames += 1
        with self._cv:
            if self._slot is not None:
                with self.stats.lock:
                    self.stats.dropped_frames += 1  # stale: a newer frame replaces it
            self._slot = (msg, compressed)
            self._cv.notify()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        with self.stats.lock:
            self.stats.rates["camera_info"].tick()
        k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
            self.warn_once("camera_info_uncalibrated",
                           f"CameraInfo on camera_info has no valid intrinsics (k = {list(msg.k)}); "
                           "expected fx, fy > 0. Using WHAM's default intrinsics")
            self._camera_info = None
            return
        self._camera_info = (k, int(msg.width), int(msg.height))

    def _on_imu(self, msg: Imu) -> None:
        with self.stats.lock:
            self.stats.rates["imu"].tick()
            self.stats.received_imu += 1
        gyro = np.array([msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z])
        if not np.all(np.isfinite(gyro)):
            self.warn_once("imu_non_finite", f"Imu on imu has non-finite angular_velocity {gyro.tolist()}; "
                           "expected finite rad/s. Sample ignored")
            return
        acc = np.array([msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z])
        quat = np.array([msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w])
        has_quat = msg.orientation_covariance[0] != -1.0 and np.all(np.isfinite(quat)) \
            and abs(np.linalg.norm(quat) - 1.0) < 1e-3
        has_acc = msg.linear_acceleration_covariance[0] != -1.0 and np.all(np.isfinite(acc))
        self._imu.append(ImuSample(stamp_ns=stamp_ns(msg.header.stamp), angular_velocity=gyro,
                                   linear_acceleration=acc if has_acc else None,
                                   orientation_xyzw=quat if has_quat else None,
                                   frame_id=msg.header.frame_id))

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            with self._cv:
                while self._running and self._slot is None:
                    self._cv.wait()
                if not self._running:
                    return
                msg, compressed = self._slot
                self._slot = None
            try:
                self._process(msg, compressed)
            except Exception as exc:  # keep the node alive whatever the pipeline raises
                with self.stats.lock:
                    self.stats.pipeline_errors += 1
                self.get_logger().error(f"pipeline failed on frame "
                                        f"{stamp_ns(msg.header.stamp)}: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=5.0)

    def _decode(self, msg, compressed: bool) -> Optional[np.ndarray]:
        try:
            if compressed:
                return compressed_to_rgb(msg.format, msg.data)
            return image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                bool(msg.is_bigendian))
        except ImageConversionError as exc:
            text = str(exc)
            cause = ("image_encoding" if "encoding" in text else "image_empty" if "empty" in text
                     else "image_truncated" if "truncated" in text or "step" in text
                     else "image_undecodable")
            self.warn_once(cause, f"dropped image on {'image/compressed' if compressed else 'image'}: {text}")
            return None

    def _process(self, msg, compressed: bool) -> None:
        t_ns = stamp_ns(msg.header.stamp)
        rgb = self._decode(msg, compressed)
        if rgb is None:
            return
        if self._last_stamp_ns is not None:
            if t_ns < self._last_stamp_ns - int(self._values["time_jump_tolerance_s"] * 1e9):
                self.get_logger().warning(
                    f"image time jumped back by {(self._last_stamp_ns - t_ns) * 1e-9:.3f} s "
                    "(bag loop or clock reset): resetting tracks")
                self._pipe.reset()
                self._imu.clear()
                with self.stats.lock:
                    self.stats.resets += 1
            elif t_ns <= self._last_stamp_ns:
                self.warn_once("image_stamp_not_increasing",
                               f"dropped image with stamp {t_ns} ns not after the previous {self._last_stamp_ns} ns")
                return
        frame_id = self._values["camera_frame_id"] or msg.header.frame_id
        k = None
        info = self._camera_info
        h, w = rgb.shape[:2]
        if info is None:
            if self._values["require_camera_info"]:
                self.warn_once("camera_info_missing", "no CameraInfo received on camera_info; "
                               "dropping frames until one arrives (require_camera_info is true)")
                return
            self.warn_once("camera_info_missing", "no CameraInfo received on camera_info; "
                           "using WHAM's default intrinsics (f = image diagonal)")
        elif (info[1], info[2]) != (w, h):
            self.warn_once("camera_info_size_mismatch",
                           f"CameraInfo is for {info[1]}x{info[2]} px but images are {w}x{h} px; "
                           "using WHAM's default intrinsics")
        else:
            k = info[0]
        while self._imu:
            sample = self._imu.popleft()
            if not self._pipe.add_imu(sample):
                self.stats.count_invalid("imu_rejected")
        self._last_stamp_ns = t_ns
        # The 6890-vertex mesh only on frames that publish it (marker due or publish_vertices).
        mesh_due = (self._mesh_rate.due(time.monotonic_ns(), self._values["mesh_rate_hz"])
                    and self._pubs["mesh"].get_subscription_count() > 0)
        t0 = time.perf_counter()
        result = self._pipe.process(CameraFrame(stamp_ns=t_ns, image=rgb, frame_id=frame_id, K=k),
                                    full_mesh=mesh_due or self._values["publish_vertices"])
        processing_ms = (time.perf_counter() - t0) * 1e3
        if result.dropped:  # WHAM's 30 Hz policy skipped it: nothing to publish
            with self.stats.lock:
                self.stats.processed_frames += 1
                self.stats.skipped_frames += 1
            return
        self._publish(result, mesh_due)
        latency_ms = (self.get_clock().now().nanoseconds - t_ns) * 1e-6
        with self.stats.lock:
            self.stats.processed_frames += 1
            self.stats.rates["output"].tick()
            self.stats.active_tracks = len(result.humans)
            self.stats.last_latency_ms = latency_ms
            self.stats.last_processing_ms = processing_ms

    def _publish(self, result: FrameResult, mesh: bool) -> None:
        f, v = self._f, self._values
        self._pubs["humans"].publish(conversions.result_to_msg(
            f, result, v["contact_threshold"], v["publish_vertices"]))
        self._pubs["markers"].publish(markers.skeleton_markers(f, result, v["contact_threshold"]))
        bodies = v["publish_tf"] and bool(result.humans)
        camera = v["publish_camera_tf"] and result.T_world_camera is not None
        if "tf" in self._pubs and (bodies or camera):
            self._pubs["tf"].publish(conversions.tf_msg(f, result, bodies, camera))
        if mesh:
            self._mesh_rate.mark(time.monotonic_ns())
            self._pubs["mesh"].publish(markers.mesh_markers(f, result, getattr(self._pipe, "faces", None)))
        if self._hri is not None:
            ids = [conversions.body_id(h.track_id) for h in sorted(result.humans, key=lambda h: h.track_id)]
            self._pubs["hri"].publish(self._hri(header=conversions.header(f, result.stamp_ns, result.frame_id),
                                                ids=ids))

    def _publish_diagnostics(self) -> None:
        if "diagnostics" in self._pubs:
            self._pubs["diagnostics"].publish(diagnostics_msg(
                self._f, self.stats.snapshot(), self.get_clock().now().nanoseconds, self.get_name()))


def main(args=None) -> int:
    """``ros2 run wham_ros wham_node``: run the node until shutdown."""
    rclpy.init(args=args)
    try:
        node = WhamNode()
    except ParameterException as exc:  # e.g. a string given for a number parameter
        rclpy.logging.get_logger(NODE_NAME).error(f"invalid parameter override: {exc}")
        rclpy.shutdown()
        return 2
    code = 0
    try:
        if node.get_parameter("autostart").value:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise SystemExit(2)
            if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                raise SystemExit(3)
        rclpy.spin(node)
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
