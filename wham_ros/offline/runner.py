"""``wham-ros``: run the pipeline offline on a rosbag2 or a video, write an MCAP rosbag2.

The output bag has the live node's topics (``/human_pose``, ``/human_pose/markers``,
``/human_pose/mesh``, ``/human_pose/mesh_faces``, ``/tf``, the REP-155 ``/humans/bodies/...``
topics of :mod:`wham_ros.ros.hri`) plus the input images,
CameraInfo and IMU, so it replays into RViz like a recording of the node. No ROS
installation is needed: messages are serialised by ``rosbags`` from msg/*.msg.

Example:
    wham-ros recording/ -o humans_bag --config config/wham.yaml
    wham-ros walk.mp4 -o humans_bag --frame-id camera_optical_frame
"""
from __future__ import annotations

import argparse
import functools
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from wham_ros.bag.calibration import (CalibrationError, CameraCalibration, load_camera_yaml,
                                      rotation_between)
from wham_ros.bag.io import BagError, InputBag, OutputBag
from wham_ros.bag.typestore import make_typestore
from wham_ros.image_conversion import rgb_to_image_fields
from wham_ros.body.smpl import BodyModelError
from wham_ros.ort_session import ModelFileError
from wham_ros.wham.checkpoint import CheckpointError
from wham_ros.ros import conversions, markers
from wham_ros.ros.depth_input import DepthInput
from wham_ros.ros.factory import RosbagsFactory
from wham_ros.ros.frame_input import FrameInput, RateLimiter, imu_sample, stamp_ns
from wham_ros.ros.hri import Rep155Bodies
from wham_ros.ros.outputs import frame_output_bytes
from wham_ros.ros.params import PARAMS, ParameterError, pipeline_kwargs, validate_all
from wham_ros.ros.serialization import CdrFactory
from wham_ros.geometry.so3 import matrix_to_quat_xyzw
from wham_ros.ros.tf_poses import BagTf, TfUnavailable, static_rotation

LOG = logging.getLogger(__name__)
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
VIDEO_IMAGE_TOPIC = "/camera/image_raw"
VIDEO_CAMERA_INFO_TOPIC = "/camera/camera_info"
IDENTITY_QUAT_XYZW = [0.0, 0.0, 0.0, 1.0]
# A video may announce a frame more than it decodes (estimated counts); fewer is truncation.
VIDEO_COUNT_TOLERANCE = 1
EXIT_INPUT_ENDED_EARLY = 4
# A colour image waits this long (log time) for its depth image, which a camera driver may
# record just after it; then it runs with the nearest depth image kept so far.
DEPTH_LOOKAHEAD_NS = 200_000_000
VIDEO_WRITE_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")  # --render (wham_ros.render.video.FOURCC)
OUT_TOPICS = {
    "humans": ("/human_pose", conversions.HUMAN_ARRAY),
    "markers": ("/human_pose/markers", markers.MARKER_ARRAY),
    "mesh": ("/human_pose/mesh", markers.MARKER_ARRAY),
    "faces": ("/human_pose/mesh_faces", conversions.MESH_FACES),
    "tf": ("/tf", conversions.TF_MESSAGE),
}
PipelineFactory = Callable[[Dict[str, Any]], Any]


class NoFrameProcessed(BagError):
    """The input had images but none could be processed (each was refused; the causes say why)."""


class InputEndedEarly(RuntimeError):
    """The input ended before its announced length (truncated video); the output was written.

    Attributes:
        counts: messages written per topic.
        read: frames read.
        expected: frames the input announced.
    """

    def __init__(self, path, read: int, expected: int, counts: Dict[str, int]) -> None:
        super().__init__(f"video '{path}' ended after {read} of the {expected} frames its "
                         "container announces (truncated or unreadable); the output holds the "
                         f"{read} frames read")
        self.read, self.expected, self.counts = read, expected, counts


def default_pipeline_factory(values: Dict[str, Any], command_args: Sequence[str] = ()):
    """The real ``wham_ros.pipeline.Pipeline`` for parameter values (model files resolved and
    checked as ``wham-ros models check`` does; ``command_args`` go into its fix commands)."""
    import dataclasses

    from wham_ros.models.registry import build_with_models
    from wham_ros.pipeline import Pipeline, PipelineConfig

    accepted = [f.name for f in dataclasses.fields(PipelineConfig)]
    return build_with_models(values, lambda resolved: Pipeline(PipelineConfig(
        **pipeline_kwargs(resolved, accepted, LOG.warning))), command_args=command_args)


def load_parameters(config: Optional[str], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Node parameter defaults, merged with a ROS parameter YAML, then ``overrides``.

    The YAML is the node's (``<node name or /**>: ros__parameters: {...}``); every
    ``ros__parameters`` block in it is merged in file order.

    Raises:
        ParameterError: unknown keys or invalid values.
    """
    values = {p.name: p.default for p in PARAMS}
    if config:
        import yaml

        with open(config, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
        blocks = [v["ros__parameters"] for v in doc.values()
                  if isinstance(v, dict) and "ros__parameters" in v]
        if not blocks:
            raise ParameterError(f"{config}: no 'ros__parameters' block found; expected "
                                 "'<node>: {ros__parameters: {...}}' as in config/wham.yaml")
        for block in blocks:
            unknown = set(block) - set(values)
            if unknown:
                raise ParameterError(f"{config}: unknown parameter(s) {sorted(unknown)}")
            values.update(block)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return validate_all(values)


class _Warnings:
    """Warn once per cause (or per ``key``, e.g. per unknown encoding), count every occurrence."""

    def __init__(self) -> None:
        self.counts: Dict[str, int] = {}
        self._logged: set = set()

    def __call__(self, cause: str, text: str, key: Optional[str] = None) -> None:
        if (key or cause) not in self._logged:
            self._logged.add(key or cause)
            LOG.warning("%s (further '%s' occurrences are only counted)", text, cause)
        self.counts[cause] = self.counts.get(cause, 0) + 1


def _video_frames(path: Path, fps: Optional[float]) -> Tuple[Iterator[Tuple[int, np.ndarray]], int]:
    """(iterator of (stamp_ns, RGB frame), frame count or 0) for a video file."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise BagError(f"cannot open video '{path}' with OpenCV")
    rate = fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def gen():
        i = 0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    return
                yield int(round(i * 1e9 / rate)), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                i += 1
        finally:
            cap.release()

    return gen(), count


class _Progress:
    """tqdm when installed, else a one-line counter on stderr."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.n, self.enabled = total, 0, enabled
        self._bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total or None, unit="frame", desc="wham-ros")
            except ImportError:
                self._bar = None
        self._t0 = time.monotonic()

    def update(self) -> None:
        self.n += 1
        if self._bar is not None:
            self._bar.update(1)
        elif self.enabled:
            rate = self.n / max(time.monotonic() - self._t0, 1e-9)
            sys.stderr.write(f"\rwham-ros: {self.n}/{self.total or '?'} frames ({rate:.1f} fps)")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            sys.stderr.write("\n")


class OfflineRunner:
    """Feeds frames (and IMU) through a pipeline and writes the node's topics to a bag.

    Args:
        pipeline: object with ``process``, ``add_imu``, ``reset``, ``faces``.
        values: node parameter values (see wham_ros.ros.params).
        out: the output bag.
    """

    def __init__(self, pipeline, values: Dict[str, Any], out: OutputBag,
                 camera_info_expected: bool = False, tf: Optional[BagTf] = None) -> None:
        self.pipe = pipeline
        self.tf = tf  # the bag's TF (fixed_frame): camera pose per image
        self.values = values
        self.out = out
        self.f = RosbagsFactory(out.typestore)
        self.cdr = CdrFactory(out.typestore)
        self.warn = _Warnings()
        self.input = FrameInput(self.warn, lambda: camera_info_expected)
        self.mesh_rate = RateLimiter()  # mesh markers, in message time
        self.rep155 = Rep155Bodies()
        # Outputs besides the bag (--render, --export): add(frame, result), close(), needs_mesh.
        self.sinks: List[Any] = []
        self.frames = 0
        self.skipped = 0
        self.resets = 0
        self.depth: Optional[DepthInput] = None  # set when a depth topic is used
        self.people = self.people_from_depth = 0

    def write_faces(self, stamp_ns: int) -> None:
        faces = getattr(self.pipe, "faces", None)
        if faces is not None:
            topic, msgtype = OUT_TOPICS["faces"]
            msg = conversions.faces_to_msg(self.f, faces, int(np.asarray(faces).max()) + 1, stamp_ns)
            self.out.write(topic, msgtype, msg, stamp_ns, latched=True)

    def camera_info(self, msg) -> None:
        self.input.set_camera_info(msg)

    def imu(self, msg) -> None:
        sample = imu_sample(msg, self.warn)
        if sample is not None and not self.pipe.add_imu(sample):
            self.warn("imu_rejected", "the pipeline rejected an IMU sample")

    def image(self, msg, compressed: bool, topic: str, log_time_ns: Optional[int] = None) -> bool:
        """Process one Image / CompressedImage and write its outputs; False when skipped.

        ``log_time_ns`` (a bag's recording time) is the clock an image stamp may not be far
        ahead of (``max_stamp_ahead_s``); None: not checked (video stamps are generated).
        """
        decision = self.input.image(msg, compressed, self.values, topic, now_ns=log_time_ns)
        if decision.jumped_back_ns:
            LOG.warning("image time jumped back by %.3f s: resetting tracks",
                        decision.jumped_back_ns * 1e-9)
            self.pipe.reset()
            self.resets += 1
            self.mesh_rate.reset()
            if self.depth is not None:
                self.depth.reset()
        frame = decision.frame
        if frame is None:
            return False
        if self.tf is not None:
            fixed = self.values["fixed_frame"]
            frame.T_fixed_cam, cause, text = self.tf.pose(fixed, frame.frame_id, frame.stamp_ns)
            if frame.T_fixed_cam is None:
                self.warn(cause, f"no transform {fixed} <- {frame.frame_id} at {frame.stamp_ns} ns "
                                 f"({text}): the image is processed, its world outputs skipped")
        if self.depth is not None:
            frame = self.depth.attach(frame, msg.header.frame_id)
        # The 6890-vertex mesh only on frames that publish it (marker due or publish_vertices).
        mesh_due = self.mesh_rate.due(frame.stamp_ns, self.values["mesh_rate_hz"])
        sink_mesh = any(s.needs_mesh for s in self.sinks)
        result = self.pipe.process(frame, full_mesh=mesh_due or sink_mesh or self.values["publish_vertices"])
        self.frames += 1
        if result.dropped:  # WHAM's 30 Hz policy skipped it: no output
            self.skipped += 1
            return False
        self.write_result(result, mesh_due)
        self.people += len(result.humans)
        self.people_from_depth += sum(h.root_source == "depth" for h in result.humans)
        for sink in self.sinks:
            sink.add(frame, result)
        return True

    def write_result(self, result, mesh: bool) -> None:
        """Write one frame's outputs as the node publishes them (the same CDR bytes)."""
        if mesh:
            self.mesh_rate.mark(result.stamp_ns)
        data = frame_output_bytes(self.cdr, result, self.values, getattr(self.pipe, "faces", None),
                                  mesh)
        if not result.world_frame_id:
            self.warn("world_skipped", "frames without a camera pose in the fixed frame publish "
                                       "no markers, body TF or velocities")
        for name, payload in data.items():
            topic, msgtype = OUT_TOPICS[name]
            self.out.write_raw(topic, msgtype, payload, result.stamp_ns)
        for m in self.rep155.update(self.f, result)[0]:
            self.out.write(m.topic, m.msgtype, m.msg, result.stamp_ns, latched=m.latched)


def camera_info_msg(f, calib: CameraCalibration, stamp_ns: int, frame_id: str, width: int,
                    height: int):
    """``sensor_msgs/CameraInfo`` of ``calib`` for images of ``width`` x ``height`` px."""
    calib = calib.for_image(width, height)
    P = np.zeros((3, 4))
    P[:, :3] = calib.K
    return f.new("sensor_msgs/msg/CameraInfo", header=conversions.header(f, stamp_ns, frame_id),
                 width=calib.width, height=calib.height,
                 distortion_model=calib.distortion_model, d=np.asarray(calib.D, np.float64),
                 k=calib.K.reshape(-1), r=np.eye(3).reshape(-1), p=P.reshape(-1))


def imu_to_camera_from_tf(source: InputBag, values: Dict[str, Any]) -> Dict[str, Any]:
    """``values`` with ``imu_to_camera_quat_xyzw`` from the bag's ``/tf_static`` (looked up with
    tf2; without a ROS installation, the chain of static rotations) when it has the IMU ->
    camera chain and the parameter is left at identity; warns when the IMU frame differs from
    the camera frame and neither gives the rotation."""
    if source.imu_topic is None or values["camera_motion"] != "imu":
        return values
    camera = values["camera_frame_id"] or source.first_frame_id(source.image_topic)
    imu = source.first_frame_id(source.imu_topic)
    if camera is None or imu is None or imu == camera:
        return values
    given = [float(v) for v in values["imu_to_camera_quat_xyzw"]] != IDENTITY_QUAT_XYZW
    try:
        R = static_rotation((m for _, m in source.tf_messages("/tf_static")), camera, imu)
        q = None if R is None else matrix_to_quat_xyzw(R)
    except TfUnavailable:  # no ROS here: the fixed mount is a chain of static rotations
        q = rotation_between(((t.header.frame_id, t.child_frame_id,
                               [t.transform.rotation.x, t.transform.rotation.y,
                                t.transform.rotation.z, t.transform.rotation.w])
                              for _, m in source.tf_messages("/tf_static") for t in m.transforms),
                             camera, imu)
    if q is not None and not given:
        LOG.info("IMU -> camera rotation from the bag's /tf_static (%s -> %s): quaternion "
                 "xyzw %s", imu, camera, np.round(q, 6).tolist())
        return {**values, "imu_to_camera_quat_xyzw": q.tolist()}
    if q is not None:
        LOG.warning("imu_to_camera_quat_xyzw %s is used, not the bag's /tf_static rotation %s "
                    "(%s -> %s)", list(values["imu_to_camera_quat_xyzw"]),
                    np.round(q, 6).tolist(), imu, camera)
    elif not given:
        LOG.warning("IMU frame '%s' differs from camera frame '%s', but the bag's /tf_static "
                    "has no rotation between them and imu_to_camera_quat_xyzw is not set: "
                    "assuming they are aligned (identity); set imu_to_camera_quat_xyzw in "
                    "--config if they are not", imu, camera)
    return values


def tf_setup(source: InputBag, values: Dict[str, Any]) -> Tuple[Dict[str, Any], Optional[BagTf]]:
    """Check the bag's TF tree against ``fixed_frame`` / ``publish_camera_tf``; the tf2 buffer.

    Returns:
        (values, BagTf or None): ``publish_camera_tf`` turned off when the camera frame already
        has a parent in the bag's tree (a frame has one parent); a buffer with a fixed frame.

    Raises:
        BagError: ``fixed_frame`` is not a frame of the bag's TF (the message names them).
        TfUnavailable: a fixed frame without tf2 installed.
    """
    fixed = values["fixed_frame"]
    if not fixed and not values["publish_camera_tf"]:
        return values, None
    parents = source.tf_children()  # child -> parent, whole bag
    frames = sorted(set(parents) | set(parents.values()))
    camera = values["camera_frame_id"] or source.first_frame_id(source.image_topic)
    if fixed and fixed not in frames:
        raise BagError(f"fixed_frame '{fixed}' is not a frame of the bag's /tf or /tf_static; "
                       f"its frames: {', '.join(frames) or 'none (no TF in the bag)'}")
    if not fixed:
        if camera in parents:
            LOG.warning("camera frame '%s' already has the TF parent '%s' in the bag: no %s -> %s "
                        "transform is written (a frame has one parent); set fixed_frame (e.g. "
                        "odom) to place people in the robot's tree", camera, parents[camera],
                        values["world_frame_id"], camera)
            values = {**values, "publish_camera_tf": False}
        return values, None
    tf = BagTf((m for _, m in source.tf_messages("/tf_static")), source.tf_messages("/tf"),
               lookahead_ns=int(values["tf_wait_s"] * 1e9))
    LOG.info("fixed_frame %s: camera poses from the bag's TF (%s)", fixed, " -> ".join(
        _chain(parents, camera)) if camera else "camera frame unknown")
    return values, tf


def _chain(parents: Dict[str, str], frame: str) -> List[str]:
    """``frame``'s ancestors up to its root, root first."""
    chain = [frame]
    while chain[-1] in parents and len(chain) <= len(parents):
        chain.append(parents[chain[-1]])
    return chain[::-1]


def _discard(out: OutputBag) -> None:
    """Close and delete a partly written output (a rerun may then use the same name)."""
    try:
        out.close()
    except Exception as exc:  # a half-written bag may refuse to close; it is deleted anyway
        LOG.debug("closing the discarded output failed: %s", exc)
    shutil.rmtree(out.path, ignore_errors=True)


def run(input_path: str, output: str, values: Dict[str, Any], image_topic: Optional[str] = None,
        camera_info_topic: Optional[str] = None, imu_topic: Optional[str] = None,
        video_fps: Optional[float] = None, frame_id: str = "camera_optical_frame",
        max_frames: Optional[int] = None, copy_inputs: bool = True, progress: bool = True,
        pipeline_factory: Optional[PipelineFactory] = None, render: Optional[str] = None,
        export_dir: Optional[str] = None, bvh_up: str = "z",
        camera_calibration: Optional[CameraCalibration] = None) -> Dict[str, int]:
    """Process a bag or a video into an MCAP rosbag2.

    Inputs and the output name are checked before the models load; on an error the output
    directory is removed, so the same command can be rerun.

    Args:
        input_path: rosbag2 directory / .mcap file, or a video file.
        output: output bag directory (must not exist).
        values: node parameters (:func:`load_parameters`).
        image_topic, camera_info_topic, imu_topic: bag topics (None: the first colour (else
            grey) image topic, the CameraInfo beside it, the first Imu topic). The aligned
            depth topic is ``values['depth_topic']`` ('' none, 'auto' the bag's).
        video_fps: frame rate for video stamps (None: the file's).
        frame_id: camera optical frame for video input.
        max_frames: stop after this many processed frames.
        copy_inputs: also write the input images, CameraInfo and IMU.
        progress: show a progress bar.
        pipeline_factory: ``values -> pipeline`` (default: the real Pipeline).
        render: also write this video: the overlay beside the world view
            (:class:`wham_ros.render.video.VideoRenderer`; every frame computes the mesh).
        export_dir: also write ``track_<id>.npz`` / ``.bvh`` here (:mod:`wham_ros.export.tracks`).
        bvh_up: up axis of the BVH files, 'z' or 'y'.
        camera_calibration: intrinsics for an input without CameraInfo (a video, or a bag
            without a CameraInfo topic); None: WHAM's default (f = image diagonal).

    Returns:
        Messages written per topic.

    Raises:
        BagError: a missing or unreadable input, an existing output.
        NoFrameProcessed: the input had images but none could be processed (output removed).
        InputEndedEarly: a video ended before its announced frame count (output written).
    """
    path = Path(input_path)
    if not path.exists():
        what = "video" if path.suffix.lower() in VIDEO_SUFFIXES else "bag"
        raise BagError(f"input {what} '{path}' does not exist")
    if Path(output).exists():
        raise BagError(f"output '{output}' already exists; choose a new directory")
    is_video = path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES
    if is_video and values["fixed_frame"]:
        raise BagError(f"fixed_frame '{values['fixed_frame']}' needs the camera's pose from TF; a "
                       "video has no TF: leave fixed_frame empty")
    if is_video and values["camera_motion"] != "static":
        LOG.warning("a video has no IMU or camera orientations: camera_motion '%s' -> 'static' "
                    "(WHAM then assumes a camera that does not rotate)", values["camera_motion"])
        values = {**values, "camera_motion": "static"}
    if is_video and values["depth_topic"]:
        LOG.warning("a video has no depth stream: depth_topic '%s' is ignored", values["depth_topic"])
    source = None if is_video else InputBag(path, image_topic, camera_info_topic, imu_topic,
                                            include_tf=copy_inputs, depth_topic=values["depth_topic"] or None)
    if source is not None and source.image_choice:
        LOG.info("%s", source.image_choice)
    try:
        if source is not None and camera_calibration is not None and source.has_camera_info:
            raise BagError(f"the bag has CameraInfo on '{source.camera_info_topic}'; "
                           "--camera-info / --fx are for inputs without one")
        tf = None
        if source is not None:
            values = imu_to_camera_from_tf(source, values)
            values, tf = tf_setup(source, values)
        frames, total = _video_frames(path, video_fps) if is_video else (None, 0)
        pipe = (pipeline_factory or default_pipeline_factory)(values)
        out = OutputBag(output, make_typestore())
        try:
            runner = OfflineRunner(pipe, values, out, camera_info_expected=bool(
                source is not None and source.has_camera_info), tf=tf)
            runner.sinks = _sinks(pipe, values, render, export_dir, bvh_up, video_fps)
            if source is not None and source.depth_topic:
                runner.depth = DepthInput(runner.warn, values["depth_max_dt_s"], source.depth_topic)
            if is_video:
                read, stopped = _run_video(runner, out, frames, total, path, frame_id, max_frames,
                                           copy_inputs, progress, camera_calibration)
            else:
                _run_bag(runner, out, source, max_frames, copy_inputs, progress,
                         camera_calibration)
            for sink in runner.sinks:
                sink.close()
            if runner.frames == 0 and (read if is_video else source.num_images) \
                    and max_frames != 0:
                raise NoFrameProcessed(
                    f"none of the images of '{source.image_topic if source else path}' could be "
                    "processed: " + (", ".join(f"{c} x{n}" for c, n in sorted(runner.warn.counts.items()))
                                     or "no reason recorded") + "; see the warnings above")
            _log_depth_summary(runner)
        except Exception:
            _discard(out)
            raise
    finally:
        if source is not None:
            source.close()
    out.close()
    LOG.info("wrote %s: %s", output, out.counts)
    if is_video and not stopped and total > 0 and read < total - VIDEO_COUNT_TOLERANCE:
        raise InputEndedEarly(path, read, total, dict(out.counts))
    return dict(out.counts)


def _log_depth_summary(runner: OfflineRunner) -> None:
    """One line on how many people the depth stream placed."""
    if runner.depth is not None:
        d = runner.depth
        LOG.info("depth: %d images received (%d refused), %d of %d frames paired, %d of %d "
                 "people placed from depth", d.received, d.refused, d.paired, d.paired + d.unpaired,
                 runner.people_from_depth, runner.people)


def _run_video(runner: OfflineRunner, out: OutputBag, frames, total: int, path: Path,
               frame_id: str, max_frames: Optional[int], copy_inputs: bool, progress: bool,
               calib: Optional[CameraCalibration]) -> Tuple[int, bool]:
    """Feed a video's frames; returns (frames read, stopped at max_frames)."""
    bar = _Progress(min(total, max_frames or total), progress)
    read, stopped = 0, False
    for t, rgb in frames:
        if max_frames is not None and runner.frames >= max_frames:
            stopped = True
            break
        if read == 0:
            runner.write_faces(t)
        read += 1
        if calib is not None:
            info = camera_info_msg(runner.f, calib, t, frame_id, rgb.shape[1], rgb.shape[0])
            runner.camera_info(info)
            if copy_inputs:
                out.write(VIDEO_CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo", info, t)
        img = runner.f.new("sensor_msgs/msg/Image", header=conversions.header(runner.f, t, frame_id),
                           **rgb_to_image_fields(rgb))
        if copy_inputs:
            out.write(VIDEO_IMAGE_TOPIC, "sensor_msgs/msg/Image", img, t)
        runner.image(img, False, str(path))
        bar.update()
    bar.close()
    return read, stopped


def _run_bag(runner: OfflineRunner, out: OutputBag, source: InputBag, max_frames: Optional[int],
             copy_inputs: bool, progress: bool, calib: Optional[CameraCalibration]) -> None:
    """Feed a bag's images, CameraInfo, IMU and depth in log-time order.

    With a depth topic, an image waits (up to :data:`DEPTH_LOOKAHEAD_NS` of log time) until
    a depth image that may pair with it was read, as a driver may record depth just after
    colour.
    """
    bar = _Progress(min(source.num_images, max_frames or source.num_images), progress)
    first = True
    pending: List[Any] = []  # images waiting for their depth image (log-time order)

    def release(log_time_ns: Optional[int]) -> None:
        """Process the waiting images whose depth came or that waited long enough (None: all)."""
        while pending and (log_time_ns is None or runner.depth is None
                           or _depth_covers(runner.depth, pending[0])
                           or log_time_ns - pending[0].log_time_ns > DEPTH_LOOKAHEAD_NS):
            if max_frames is not None and runner.frames >= max_frames:
                pending.clear()
                return
            image(pending.pop(0))

    def image(rec) -> None:
        if calib is not None and runner.input.camera_info is None:
            if rec.kind == "compressed" and calib.width is None:
                raise BagError("--fx/--fy for a CompressedImage bag need --camera-info "
                               "(with the image size) instead")
            size = ((rec.msg.width, rec.msg.height) if rec.kind == "image"
                    else (calib.width, calib.height))
            runner.camera_info(camera_info_msg(runner.f, calib, rec.log_time_ns,
                                               rec.msg.header.frame_id, *size))
        runner.image(rec.msg, rec.kind == "compressed", rec.topic, rec.log_time_ns)
        bar.update()

    for rec in source:
        release(rec.log_time_ns)
        if max_frames is not None and runner.frames >= max_frames:
            break
        if first:
            runner.write_faces(rec.log_time_ns)
            first = False
        if copy_inputs:
            out.write_raw(rec.topic, rec.msgtype, rec.raw, rec.log_time_ns,
                          msgdef=source.msgdef(rec.topic), latched=rec.topic == "/tf_static")
        if rec.kind == "tf":
            continue  # copied only: the runner's tf2 buffer reads TF on its own
        if rec.kind == "camera_info":
            runner.camera_info(rec.msg)
        elif rec.kind == "imu":
            runner.imu(rec.msg)
        elif rec.kind == "depth":
            runner.depth.add(rec.msg)
        elif rec.kind == "depth_camera_info":
            runner.depth.set_camera_info(rec.msg)
        else:
            pending.append(rec)
        release(rec.log_time_ns)
    release(None)
    bar.close()


def _depth_covers(depth: DepthInput, rec) -> bool:
    """A depth image that may pair with the image (stamped at or after its stamp less
    ``depth_max_dt_s``) was read."""
    return depth.store.wait_until_covered(stamp_ns(rec.msg.header.stamp), 0.0)


def _sinks(pipe, values: Dict[str, Any], render: Optional[str], export_dir: Optional[str],
           bvh_up: str, video_fps: Optional[float]) -> List[Any]:
    """The runner's outputs besides the bag (--render video, --export tracks)."""
    sinks: List[Any] = []
    if render:
        from wham_ros.render.video import VideoRenderer

        sinks.append(VideoRenderer(render, video_fps or 30.0, getattr(pipe, "faces", None),
                                   values["contact_threshold"]))
    if export_dir:
        from wham_ros.export.tracks import TrackExporter

        sinks.append(TrackExporter(export_dir, bvh_up))
    return sinks


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of ``wham-ros``."""
    p = argparse.ArgumentParser(prog="wham-ros run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="rosbag2 directory or .mcap file (MCAP or sqlite3), or a video file")
    p.add_argument("-o", "--output", required=True, help="output MCAP rosbag2 directory (must not exist)")
    p.add_argument("--config", help="node parameter YAML (config/wham.yaml format)")
    p.add_argument("--image-topic", help="image topic (default: the first colour, else grey, "
                   "Image/CompressedImage topic; never a depth topic)")
    p.add_argument("--camera-info-topic", help="CameraInfo topic (default: the one beside the "
                   "image topic, else the first CameraInfo topic)")
    p.add_argument("--depth-topic", help="aligned depth Image topic, or 'auto' (the bag's depth "
                   "topic in the colour frame); overrides the config's depth_topic")
    p.add_argument("--imu-topic", help="Imu topic (default: first Imu topic)")
    p.add_argument("--fps", type=float, help="video frame rate for stamps (default: from the file)")
    p.add_argument("--frame-id", default="camera_optical_frame", help="camera frame for video input")
    p.add_argument("--camera-info", metavar="YAML",
                   help="camera intrinsics (ROS camera_calibration YAML) for a video or a bag "
                        "without CameraInfo (default: WHAM's f = image diagonal)")
    p.add_argument("--fx", type=float, help="focal length x, px (instead of --camera-info)")
    p.add_argument("--fy", type=float, help="focal length y, px (default: --fx)")
    p.add_argument("--cx", type=float, help="principal point x, px (default: image centre)")
    p.add_argument("--cy", type=float, help="principal point y, px (default: image centre)")
    p.add_argument("--providers", choices=("auto", "cpu", "cuda", "tensorrt"),
                   help="ONNX Runtime execution provider (overrides the config)")
    p.add_argument("--device", help="torch device of WHAM, e.g. cpu or cuda (overrides the config)")
    p.add_argument("--world-frame-id", help="world frame (overrides the config)")
    p.add_argument("--fixed-frame", help="a z-up frame of the bag's TF tree (odom, map) for every "
                   "world output, camera poses from the bag's /tf (overrides the config)")
    p.add_argument("--publish-vertices", action="store_true", default=None,
                   help="fill Human.vertices_cam")
    p.add_argument("--mesh-rate-hz", type=float, help="mesh marker rate in message time (0: none)")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--no-inputs", action="store_true", help="do not copy the input topics")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--render", metavar="VIDEO", help="also write a video (.mp4/.avi): the camera "
                   "overlay beside a world view (ground, meshes, trails, camera)")
    p.add_argument("--export", metavar="DIR", help="also write track_<id>.npz (SMPL parameters) "
                   "and track_<id>.bvh (animation) per track into DIR")
    p.add_argument("--bvh-up", choices=("z", "y"), default="z",
                   help="up axis of the exported BVH files (default: z, the ROS world's)")
    return p


def calibration_from_args(args) -> Optional[CameraCalibration]:
    """``--camera-info`` or ``--fx/--fy/--cx/--cy`` -> intrinsics (None when neither is given).

    Raises:
        CalibrationError: both given, ``--fy/--cx/--cy`` without ``--fx``, a bad YAML file.
    """
    focal = [args.fx, args.fy, args.cx, args.cy]
    if args.camera_info and any(v is not None for v in focal):
        raise CalibrationError("give either --camera-info or --fx/--fy/--cx/--cy, not both")
    if args.camera_info:
        return load_camera_yaml(args.camera_info)
    if args.fx is None:
        if any(v is not None for v in focal):
            raise CalibrationError("--fy, --cx and --cy need --fx")
        return None
    return CameraCalibration.from_focal(args.fx, args.fy, args.cx, args.cy)


def main(argv=None, pipeline_factory: Optional[PipelineFactory] = None) -> int:
    """Entry point of ``wham-ros``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.render and Path(args.render).suffix.lower() not in VIDEO_WRITE_SUFFIXES:
        parser.error(f"--render {args.render}: the video must end in one of "
                     f"{', '.join(VIDEO_WRITE_SUFFIXES)}")
    if pipeline_factory is None and args.config:  # fix commands name the same config
        pipeline_factory = functools.partial(default_pipeline_factory,
                                             command_args=["--config", args.config])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        calibration = calibration_from_args(args)
        values = load_parameters(args.config, {
            "providers": args.providers, "device": args.device,
            "world_frame_id": args.world_frame_id, "fixed_frame": args.fixed_frame,
            "publish_vertices": args.publish_vertices,
            "mesh_rate_hz": args.mesh_rate_hz, "depth_topic": args.depth_topic})
        counts = run(args.input, args.output, values, args.image_topic, args.camera_info_topic,
                     args.imu_topic, args.fps, args.frame_id, args.max_frames,
                     not args.no_inputs, not args.no_progress, pipeline_factory,
                     args.render, args.export, args.bvh_up, camera_calibration=calibration)
    except InputEndedEarly as exc:
        LOG.warning("%s", exc)
        print(f"wham-ros: wrote {args.output} (incomplete input: {exc.read} of {exc.expected} "
              "frames): " + ", ".join(f"{t} {n}" for t, n in sorted(exc.counts.items())))
        return EXIT_INPUT_ENDED_EARLY
    except (BagError, ParameterError, CalibrationError, TfUnavailable, OSError) as exc:
        LOG.error("%s", exc)
        return 2
    except (ModelFileError, CheckpointError, BodyModelError) as exc:
        LOG.error("cannot load the models: %s", exc)
        return 3
    print(f"wham-ros: wrote {args.output}: " + ", ".join(f"{t} {n}" for t, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
