"""What the WHAM nodes share: parameters, lifecycle, the latest-input worker, diagnostics,
IMU delivery and the human outputs.

:class:`PipelineNodeBase` is a lifecycle node (REP-2003-style managed node): parameters are
read and publishers created on configure, models are built and subscriptions made on
activate, and both are released on deactivate / cleanup. Image callbacks only store the
newest input; one worker thread processes it, and an input replaced before the worker took it
is counted as dropped. IMU samples go to the world model as they arrive (the pipeline's
``add_imu`` is thread-safe), whatever frames are dropped. Outputs are built and published on a
separate publisher thread (:class:`wham_ros.ros.publish_queue.PublishQueue`), so a slow
subscriber or a mesh never delays the next frame; the human outputs are published as CDR bytes
(:mod:`wham_ros.ros.outputs`). Subclasses (``node.WhamNode``, ``split_nodes.FrontEndNode``,
``split_nodes.WhamStageNode``) say what they subscribe to, build and publish.
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import functools
import gc
import threading
import time
import traceback
import weakref
from typing import Any, Callable, Dict, List, Optional

import numpy as np
from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn
from rclpy.task import Future
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from sensor_msgs.msg import Imu

from wham_ros.ros import conversions, log_bridge, markers
from wham_ros.ros.diagnostics import NodeStats, camera_rate_warning, diagnostics_msg
from wham_ros.ros.factory import RclpyFactory
from wham_ros.ros.frame_input import RateLimiter, imu_sample, stamp_ns
from wham_ros.ros.hri import Rep155Publisher
from wham_ros.ros.outputs import frame_output_bytes
from wham_ros.ros.params import SPECS, ParameterError, params_for, validate_all
from wham_ros.ros.publish_queue import PublishQueue
from wham_ros.ros.serialization import CdrFactory
from wham_ros.ros.tf_poses import NodeTf
from wham_ros.types import FrameResult

# (parameter values, warn) -> the object a node runs (Pipeline, FrontEnd or WhamStage).
Factory = Callable[[Dict[str, Any], Callable[[str], None]], Any]
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
WORKER_STOP_TIMEOUT_S = 10.0  # longest wait for the frame in progress on deactivate/shutdown
# Processed frames waiting for the publisher thread; older ones are dropped (counted).
PUBLISH_QUEUE_DEPTH = 2
PARENT_CHECK_PERIOD_S = 1.0  # how often TF is asked who parents the camera frame
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def release_memory() -> None:
    """Give freed model memory back: garbage-collect, empty torch's CUDA cache, and on
    glibc return the heap's free pages to the system (``malloc_trim``), so the resident
    size of an inactive node drops instead of keeping the models' peak.
    """
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name)
        if hasattr(libc, "malloc_trim"):  # glibc only
            libc.malloc_trim(0)


def logs_exceptions(callback):
    """Log the traceback of a lifecycle callback that raises (rclpy turns it into a silent ERROR)."""
    @functools.wraps(callback)
    def wrapper(self, state):
        try:
            return callback(self, state)
        except Exception:
            self.get_logger().error(f"{callback.__name__} raised:\n{traceback.format_exc()}")
            return TransitionCallbackReturn.ERROR
    return wrapper


class PipelineNodeBase(LifecycleNode):
    """Lifecycle, parameters, latest-input worker and diagnostics of a WHAM node.

    The core's ``logging`` records (``wham_ros.*``) go to this node's logger
    (:mod:`wham_ros.ros.log_bridge`) from construction to shutdown. Shutdown publishes a
    last ``/diagnostics`` status saying so, stops the timer and completes :attr:`finished`,
    which ends :func:`wham_ros.ros.node.spin_lifecycle_node` (the process exits).

    Args:
        node_name: default node name.
        role: 'composed', 'frontend' or 'wham' (which parameters are declared).
        factory: builds what the node runs from its parameter values (on activate).
        **kwargs: passed to ``LifecycleNode`` (e.g. ``parameter_overrides``).
    """

    CHECKS_CAMERA_RATE = False  # True for nodes fed by a camera (composed, front-end)

    def __init__(self, node_name: str, role: str, factory: Factory, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._factory = factory
        self._specs = params_for(role)
        for spec in self._specs:
            self.declare_parameter(spec.name, spec.default, ParameterDescriptor(
                description=spec.description,
                additional_constraints=(f"one of {', '.join(spec.choices)}" if spec.choices else "")))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._f = RclpyFactory()
        self.stats = NodeStats()
        self._warned: set = set()
        self._values: Dict[str, Any] = {}
        self._pipe = None
        self._pubs: Dict[str, Any] = {}
        self._subs: list = []
        self._diag_timer = None
        # Latest-input slot shared by the callbacks and the worker.
        self._cv = threading.Condition()
        self._slot = None
        self._slot_received_ns = 0  # time.monotonic_ns() when the slot's input arrived
        self._active = False  # the worker takes inputs only while active
        self._busy = False  # the worker is processing an input
        self._quit = False
        # One worker and one publisher thread for the node's lifetime (started on the first
        # activate): new threads per activation leave their malloc arenas behind (~5 MB per
        # cycle measured with the synthetic models).
        self._worker: Optional[threading.Thread] = None
        self._publisher: Optional[PublishQueue] = None
        self.finished = Future()  # done after the shutdown transition
        self._next_track_id = 1  # track ids continue across activations (never reused)
        self._tf: Optional[NodeTf] = None  # tf2 buffer + listener while active (see _start_tf)
        self._imu_frame = ""  # frame id of the IMU samples (R_cam_imu from TF)
        self._imu_mount_pending = False  # R_cam_imu still to be taken from TF (see _start_tf)
        self._camera_parent = None  # (monotonic s, the camera frame's parent in TF) last seen
        self._log_handler: Optional[log_bridge.RosLogHandler] = log_bridge.install(self.get_logger())

    # ------------------------------------------------------------------ subclass hooks
    def _create_publishers(self) -> None:
        """Add this node's publishers to ``self._pubs`` (on configure)."""
        raise NotImplementedError

    def _create_subscriptions(self, sensor: QoSProfile) -> List[Any]:
        """This node's subscriptions (on activate); ``sensor`` is the sensor-data QoS."""
        raise NotImplementedError

    def _on_built(self) -> None:
        """Called after the factory built ``self._pipe`` (publish latched data, providers)."""

    def _process(self, item) -> None:
        """Process one input taken from the slot (worker thread)."""
        raise NotImplementedError

    def _merge_replaced(self, old, new):
        """The slot content when ``new`` replaces the unprocessed ``old`` (default: ``new``)."""
        return new

    # ------------------------------------------------------------------ parameters
    def _read_parameters(self) -> Dict[str, Any]:
        values = {spec.name: self.get_parameter(spec.name).value for spec in self._specs}
        return validate_all(values)

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

    def warn_once(self, cause: str, text: str, key: Optional[str] = None) -> None:
        """Count an invalid input under ``cause``; log ``text`` the first time for ``key``.

        Args:
            cause: the ``invalid_input.<cause>`` counter on /diagnostics.
            text: what was received, what was expected.
            key: what makes a warning new (default ``cause``; e.g. one per unknown encoding).
        """
        self.stats.count_invalid(cause)
        key = key or cause
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warning(f"{text} (further '{cause}' inputs are counted on "
                                      "/diagnostics, not logged)")

    def note_reset(self, reason: str) -> None:
        """Log a track reset with its ``reason`` and count it on /diagnostics."""
        self.get_logger().warning(f"{reason}: resetting tracks (new track ids continue "
                                  "after the old ones)")
        with self.stats.lock:
            self.stats.resets += 1
            self.stats.last_reset_reason = reason

    # ------------------------------------------------------------------ lifecycle
    @logs_exceptions
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self._values = self._read_parameters()
        except ParameterError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._pubs = {"diagnostics": self.create_publisher(
            self._f.cls("diagnostic_msgs/msg/DiagnosticArray"), "/diagnostics", RELIABLE)}
        self._create_publishers()
        self._diag_timer = self.create_timer(self._values["diagnostics_period_s"],
                                             self._publish_diagnostics)
        self._set_state("inactive")
        self.get_logger().info("configured")
        return TransitionCallbackReturn.SUCCESS

    @logs_exceptions
    def on_activate(self, state: State) -> TransitionCallbackReturn:
        if not self._start_tf():  # first: TF (a camera mount, a parent) arrives while models load
            return TransitionCallbackReturn.FAILURE
        try:
            self._pipe = self._factory(dict(self._values), self.get_logger().warning)
        except Exception as exc:  # model loading reports ModelFileError & co. with a reason
            self.get_logger().error(f"activate failed: cannot build the pipeline: {exc}")
            self.stats.pipeline_errors += 1
            if self._tf is not None:
                self._tf.close()
                self._tf = None
            return TransitionCallbackReturn.FAILURE
        self.stats.providers = {k: str(v) for k, v in getattr(self._pipe, "providers", {}).items()}
        if hasattr(self._pipe, "continue_track_ids"):  # runs a tracker (composed, front-end)
            self._pipe.continue_track_ids(self._next_track_id)
        self._on_built()
        sensor = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                            reliability=qos_profile_sensor_data.reliability,
                            durability=qos_profile_sensor_data.durability)
        if self._values["sensor_qos_reliability"] == "reliable":
            sensor.reliability = ReliabilityPolicy.RELIABLE
        self._subs = self._create_subscriptions(sensor)
        if self._publisher is None:
            self._publisher = PublishQueue(f"{self.get_name()}_publisher", PUBLISH_QUEUE_DEPTH,
                                           self._on_publish_error)
        with self._cv:
            self._active = True
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name=f"{self.get_name()}_worker",
                                            daemon=True)
            self._worker.start()
            # A process that exits without the shutdown transition still ends the threads
            # before the interpreter (and the native libraries they used) are torn down.
            node = weakref.ref(self)
            atexit.register(lambda: node() is not None and node()._stop_worker())
        self._set_state("active")
        self.get_logger().info(f"activated; execution providers: {self.stats.providers}")
        return TransitionCallbackReturn.SUCCESS

    @logs_exceptions
    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._release()
        self._set_state("inactive")
        self.get_logger().info("deactivated; models released")
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        """Stop the worker and drop subscriptions, models, tracks and buffered inputs."""
        self._park_worker()
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._next_track_id = getattr(self._pipe, "next_track_id", self._next_track_id)
        self._pipe = None  # the models, sessions, tracks and WHAM states with it
        if self._tf is not None:
            self._tf.close()
            self._tf = None
        self._release_inputs()
        with self.stats.lock:
            self.stats.active_tracks = 0
        release_memory()

    def _release_inputs(self) -> None:
        """Forget per-stream input state held between frames (subclasses extend)."""

    # ------------------------------------------------------------------ TF
    def _start_tf(self) -> bool:
        """Listen to TF when the node needs it (a fixed frame, the IMU mount, or to see whether
        the camera frame has a parent before publishing one); False (logged) when the fixed
        frame does not appear within ``tf_timeout_s``."""
        v = self._values
        fixed = v.get("fixed_frame", "")
        mount = (v.get("camera_motion") == "imu"
                 and [float(q) for q in v.get("imu_to_camera_quat_xyzw", [])] == [0.0, 0.0, 0.0, 1.0])
        self._imu_mount_pending = mount  # a set imu_to_camera_quat_xyzw is never overridden
        self._camera_parent = None
        if not fixed and not mount and not v.get("publish_camera_tf", False):
            return True
        try:
            self._tf = NodeTf(self)
        except ImportError as exc:  # tf2_ros comes with every ROS 2 installation
            if fixed:
                self.get_logger().error(
                    f"activate failed: fixed_frame '{fixed}' needs tf2_ros ({exc}); install "
                    "ros-<distro>-tf2-ros")
                return False
            if "tf2_missing" not in self._warned:  # said once per process, not an input error
                self._warned.add("tf2_missing")
                self.get_logger().warning(
                    f"tf2_ros is not importable ({exc}): the IMU mount comes from "
                    "imu_to_camera_quat_xyzw alone, and with publish_camera_tf the camera TF is "
                    "published without looking for a parent in the tree")
            return True
        if fixed and not self._tf.wait_for_frame(fixed, v["tf_timeout_s"]):
            frames = self._tf.frames()
            self.get_logger().error(
                f"activate failed: fixed_frame '{fixed}' did not appear in TF within "
                f"tf_timeout_s={v['tf_timeout_s']:g} s; TF has "
                + (", ".join(frames) if frames else "no frames (is anything publishing /tf?)"))
            self._tf.close()
            self._tf = None
            return False
        if fixed:
            self.get_logger().info(f"fixed_frame {fixed}: camera poses from TF at each image stamp")
        return True

    def camera_pose(self, frame_id: str, stamp: int):
        """(4, 4) pose of ``frame_id`` in the fixed frame at ``stamp`` from TF, or None (no fixed
        frame, or TF has none within ``tf_wait_s``: warned once per cause, counted)."""
        self._camera_imu_rotation(frame_id)
        fixed = self._values.get("fixed_frame", "")
        if not fixed or self._tf is None:
            return None
        T, cause, text = self._tf.pose(fixed, frame_id, stamp, self._values["tf_wait_s"])
        if T is None:
            self.warn_once(f"world_skipped_{cause}",
                           f"no transform {fixed} <- {frame_id} at {stamp * 1e-9:.3f} s ({text}): "
                           "the image is processed and published in the camera frame, its world "
                           "outputs are skipped")
        return T

    def _camera_imu_rotation(self, camera_frame: str) -> None:
        """Give the pipeline R_cam_imu from TF once the IMU and camera frames are known
        (``imu_to_camera_quat_xyzw`` left at identity; a set parameter overrides TF)."""
        if not self._imu_mount_pending or self._tf is None or not self._imu_frame:
            return
        if self._imu_frame == camera_frame:
            self._imu_mount_pending = False
            return
        R = self._tf.rotation(camera_frame, self._imu_frame)
        setter = getattr(self._pipe, "set_camera_imu_rotation", None)
        if R is not None and setter is not None:
            setter(R)
            self._imu_mount_pending = False
            self.get_logger().info(f"IMU -> camera rotation from TF ({self._imu_frame} -> "
                                   f"{camera_frame})")

    def output_values(self, frame_id: str) -> Dict[str, Any]:
        """The parameters for one frame's outputs: ``publish_camera_tf`` off when TF already
        has a parent for the camera frame other than the node's world (never re-parent)."""
        values = self._values
        if values["publish_camera_tf"] and not values.get("fixed_frame") and self._tf is not None:
            now = time.monotonic()
            if self._camera_parent is None or now - self._camera_parent[0] > PARENT_CHECK_PERIOD_S:
                self._camera_parent = (now, self._tf.parent(frame_id))  # (a YAML dump of TF)
            parent = self._camera_parent[1]
            if parent and parent != values["world_frame_id"]:
                self.warn_once("camera_frame_has_parent",
                               f"camera frame '{frame_id}' already has the TF parent '{parent}': "
                               f"no {values['world_frame_id']} -> {frame_id} transform is published "
                               "(set fixed_frame, e.g. odom, to place people in the robot's tree)")
                return {**values, "publish_camera_tf": False}
        return values

    @logs_exceptions
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

    @logs_exceptions
    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        if self.finished.done():
            return TransitionCallbackReturn.SUCCESS
        self._release()
        self._set_state("finalized")
        if self.context.ok():  # (after Ctrl-C the context is already shut down)
            self._publish_diagnostics()  # the last status: "node is shut down"
            if "diagnostics" in self._pubs:  # let reliable subscribers have it before exit
                self._pubs["diagnostics"].wait_for_all_acked(Duration(seconds=1.0))
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        self.get_logger().info("shut down")
        if self._log_handler is not None:
            log_bridge.uninstall(self._log_handler)
            self._log_handler = None
        self.finished.set_result(True)
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        if hasattr(self, "_cv"):  # else construction failed (e.g. a bad parameter override)
            self._stop_worker()
        super().destroy_node()

    def _set_state(self, name: str) -> None:
        with self.stats.lock:
            self.stats.state = name

    def _park_worker(self) -> None:
        """Stop taking inputs, drop the pending one, wait for the current one to finish and
        for its outputs to be published."""
        with self._cv:
            self._active = False
            self._slot = None
            self._cv.notify_all()
            self._cv.wait_for(lambda: not self._busy, timeout=WORKER_STOP_TIMEOUT_S)
        if self._publisher is not None:
            self._publisher.join(WORKER_STOP_TIMEOUT_S)

    def _stop_worker(self) -> None:
        """End the worker thread (shutdown)."""
        self._park_worker()
        with self._cv:
            self._quit = True
            self._cv.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=WORKER_STOP_TIMEOUT_S)
            self._worker = None
        if self._publisher is not None:
            self._publisher.stop()
            self._publisher = None

    # ------------------------------------------------------------------ inputs and worker
    def _submit(self, item) -> None:
        """Store the newest input for the worker; a replaced one is counted as dropped."""
        with self.stats.lock:
            self.stats.received_frames += 1
        with self._cv:
            if self._slot is not None:
                with self.stats.lock:
                    self.stats.dropped_frames += 1  # stale: a newer input replaces it
                item = self._merge_replaced(self._slot, item)
                self.get_logger().debug("input replaced before processing (worker busy): dropped")
            self._slot = item
            self._slot_received_ns = time.monotonic_ns()
            self._cv.notify_all()  # the worker (and nobody else waits but a deactivate)

    def _on_imu(self, msg: Imu) -> None:
        with self.stats.lock:
            self.stats.stamp_rates["imu"].tick(stamp_ns(msg.header.stamp))
            self.stats.received_imu += 1
        sample = imu_sample(msg, self.warn_once)
        if sample is not None:
            self._imu_frame = sample.frame_id
        pipe = self._pipe  # None while inactive
        if sample is not None and pipe is not None and not pipe.add_imu(sample):
            self.stats.count_invalid("imu_rejected")

    def _work(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._quit or (self._active and self._slot is not None))
                if self._quit:
                    return
                item, self._slot = self._slot, None
                self._busy = True
                waited_ns = time.monotonic_ns() - self._slot_received_ns
            self.stats.add_timing("input_wait", waited_ns * 1e-6)
            try:
                self._process(item)
            except Exception as exc:  # keep the node alive whatever the pipeline raises
                with self.stats.lock:
                    self.stats.pipeline_errors += 1
                self.get_logger().error(f"processing failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=5.0)
                self.get_logger().debug(f"processing failed:\n{traceback.format_exc()}")
            finally:
                item = None  # do not hold the last input while idle
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _count_processed(self, stamp: int, processing_ms: float, tracks: int,
                         skipped: bool = False) -> None:
        with self.stats.lock:
            self.stats.processed_frames += 1
            self.stats.rates["processed"].tick()
            if skipped:
                self.stats.skipped_frames += 1
            else:
                self.stats.active_tracks = tracks
                self.stats.timings["processing"].add(processing_ms)
        self.get_logger().debug(
            f"frame {stamp * 1e-9:.3f}: skipped (30 Hz policy)" if skipped else
            f"frame {stamp * 1e-9:.3f}: {tracks} tracks, processing {processing_ms:.1f} ms")

    def _publish_later(self, stamp_ns: int, publish: Callable[[], None]) -> None:
        """Run ``publish()`` on the publisher thread; times it and the frame's latency.

        Args:
            stamp_ns: the frame's image stamp (latency = node clock at publish - stamp).
            publish: builds and publishes the frame's messages.
        """
        def job(waited_ns: int) -> None:
            t0 = time.perf_counter()
            publish()
            publish_ms = (time.perf_counter() - t0) * 1e3
            latency_ms = (self.get_clock().now().nanoseconds - stamp_ns) * 1e-6
            with self.stats.lock:
                self.stats.rates["output"].tick()
                timings = self.stats.timings
                timings["publish_wait"].add(waited_ns * 1e-6)
                timings["publish"].add(publish_ms)
                timings["latency"].add(latency_ms)

        publisher = self._publisher
        if publisher is None:  # not active
            return
        publisher.put(job)
        with self.stats.lock:
            self.stats.publish_dropped_frames = publisher.dropped

    def _on_publish_error(self, exc: Exception) -> None:
        with self.stats.lock:
            self.stats.pipeline_errors += 1
        self.get_logger().error(f"publishing failed: {type(exc).__name__}: {exc}",
                                throttle_duration_sec=5.0)

    def _publish_diagnostics(self) -> None:
        snap = self.stats.snapshot()
        if self.CHECKS_CAMERA_RATE and snap["state"] == "active":
            self._check_camera_rate(snap)
        if "diagnostics" in self._pubs:
            status = getattr(self._pipe, "grounding_status", None)  # the world model, if it has one
            snap["grounding"] = status() if status is not None else None
            tracking = getattr(self._pipe, "tracking_status", None)  # the tracker, if it runs one
            snap["tracking"] = tracking() if tracking is not None else None
            snap["drift_warn_deg"] = self._values.get("drift_warn_deg")
            self._pubs["diagnostics"].publish(diagnostics_msg(
                self._f, snap, self.get_clock().now().nanoseconds, self.get_name()))

    def _check_camera_rate(self, snap: dict) -> None:
        """Warn once per kind when WHAM gets fewer than ~30 frames/s (see
        :func:`wham_ros.ros.diagnostics.camera_rate_warning`)."""
        warning = camera_rate_warning(snap)
        if warning is not None and warning[0] not in self._warned:
            self._warned.add(warning[0])
            self.get_logger().warning(warning[1])


class HumanOutputs:
    """The human outputs of the composed and the WHAM-stage node (created on configure).

    ``human_pose`` (HumanArray), ``human_pose/markers`` (skeleton + contacts),
    ``human_pose/mesh`` (SMPL TRIANGLE_LIST, at most ``mesh_rate_hz``, only while subscribed),
    ``human_pose/mesh_faces`` (latched), ``/tf`` and, with hri_msgs, the REP-155 body topics
    (:mod:`wham_ros.ros.hri`). HumanArray, markers, mesh and TF go out as CDR bytes built on
    the publisher thread; the REP-155 messages are published there too.
    """

    def __init__(self, node: PipelineNodeBase) -> None:
        self.node, f = node, node._f
        self.pubs = {
            "humans": node.create_publisher(f.cls(conversions.HUMAN_ARRAY), "human_pose", RELIABLE),
            "markers": node.create_publisher(f.cls(markers.MARKER_ARRAY), "human_pose/markers", RELIABLE),
            "mesh": node.create_publisher(f.cls(markers.MARKER_ARRAY), "human_pose/mesh", RELIABLE),
            "faces": node.create_publisher(f.cls(conversions.MESH_FACES), "human_pose/mesh_faces", LATCHED),
        }
        try:
            self.pubs["tf"] = node.create_publisher(f.cls(conversions.TF_MESSAGE), "/tf",
                                                    QoSProfile(depth=100))
        except (ImportError, AttributeError):
            node.get_logger().warning("tf2_msgs is not installed: no TF will be broadcast")
        self.hri = Rep155Publisher.create(node, RELIABLE, LATCHED)  # None without hri_msgs
        self._mesh_rate = RateLimiter()  # mesh markers, wall time (monotonic)
        self.faces: Optional[np.ndarray] = None
        from wham_ros.bag.typestore import make_typestore

        self._cdr = CdrFactory(make_typestore())  # used on the publisher thread only

    def publish_faces(self, faces: Optional[np.ndarray]) -> None:
        """Publish the (F, 3) SMPL triangles once (latched)."""
        self.faces = faces
        if faces is not None:
            n_verts = int(np.asarray(faces).max()) + 1
            self.pubs["faces"].publish(conversions.faces_to_msg(
                self.node._f, faces, n_verts, self.node.get_clock().now().nanoseconds))

    def mesh_due(self, values: Dict[str, Any]) -> bool:
        """True when the next result should carry a mesh marker (rate and a subscriber)."""
        return (self._mesh_rate.due(time.monotonic_ns(), values["mesh_rate_hz"])
                and self.pubs["mesh"].get_subscription_count() > 0)

    def publish(self, result: FrameResult, values: Dict[str, Any], mesh: bool) -> None:
        """Queue one frame's humans, markers, TF (and the mesh marker when ``mesh``) for the
        publisher thread (called by the worker)."""
        if mesh:
            self._mesh_rate.mark(time.monotonic_ns())
        values = dict(values)
        self.node._publish_later(result.stamp_ns, lambda: self._send(result, values, mesh))

    def _send(self, result: FrameResult, values: Dict[str, Any], mesh: bool) -> None:
        """Build and publish one frame's messages (publisher thread)."""
        data = frame_output_bytes(self._cdr, result, values, self.faces, mesh)
        for name, payload in data.items():
            if name in self.pubs:
                self.pubs[name].publish(payload)
        if self.hri is not None:
            self.hri.publish(result)

