"""The node's parameters: one table with default, description and validation (ROS-free).

The node declares every entry with its description (``ros2 param describe``), validates
values on configure and on every runtime change, and maps the ``pipeline`` entries onto
``wham_ros.pipeline.PipelineConfig``. config/wham.yaml documents the same keys.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from wham_ros.ort_session import ARENA_STRATEGIES, OrtOptions
from wham_ros.tracking.tracker import TrackerConfig


_TRACKER = TrackerConfig()  # defaults of the tracker parameters
_ORT = OrtOptions()  # defaults of the execution-provider options
#: PipelineConfig fields that are dataclasses, filled from ``<field>.<name>`` parameters.
_NESTED = {"tracker": TrackerConfig, "ort": OrtOptions}


class ParameterError(ValueError):
    """A parameter value is invalid (the message names the parameter, value and rule)."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default value (sets the ROS type), description, validation."""

    name: str
    default: Any
    description: str
    choices: Optional[Sequence[str]] = None
    min_value: Optional[float] = None
    length: Optional[int] = None
    pipeline_field: Optional[str] = None  # PipelineConfig field it maps to
    read_only: bool = False  # needs a reconfigure (deactivate/cleanup/configure) to change
    item_choices: Optional[Sequence[str]] = None  # a list of distinct strings, each one of these

    def validate(self, value: Any) -> Any:
        """Return ``value`` if valid, else raise :class:`ParameterError`."""
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"parameter '{self.name}' = {value!r} is invalid; "
                                 f"expected one of {', '.join(map(repr, self.choices))}")
        if self.min_value is not None and (not isinstance(value, (int, float))
                                           or not math.isfinite(value)
                                           or value < self.min_value):
            raise ParameterError(f"parameter '{self.name}' = {value!r} is invalid; "
                                 f"expected a finite number >= {self.min_value}")
        if self.item_choices is not None:
            items = list(value) if isinstance(value, (list, tuple)) else None
            if items is None or any(v not in self.item_choices for v in items) or len(set(items)) != len(items):
                raise ParameterError(f"parameter '{self.name}' = {value!r} is invalid; expected a list "
                                     f"of distinct names from {', '.join(map(repr, self.item_choices))}")
        if self.length is not None:
            if len(value) != self.length or not all(math.isfinite(v) for v in value):
                raise ParameterError(f"parameter '{self.name}' = {list(value)!r} is invalid; "
                                     f"expected {self.length} finite numbers")
        return value


PARAMS: List[ParamSpec] = [
    # Inputs.
    ParamSpec("image_transport", "raw", "Subscribe to 'image' (sensor_msgs/Image, raw) or "
              "'image/compressed' (sensor_msgs/CompressedImage, compressed).",
              choices=("raw", "compressed"), read_only=True),
    ParamSpec("sensor_qos_reliability", "best_effort", "Reliability of the image, camera_info "
              "and imu subscriptions (REP-2003 sensor data QoS is best_effort; reliable "
              "publishers match either).", choices=("best_effort", "reliable"), read_only=True),
    ParamSpec("imu_queue_size", 200, "Depth of the imu subscription's queue; samples go to "
              "the world model as they arrive, whatever frames are dropped.",
              min_value=1, read_only=True),
    ParamSpec("imu_history_s", 10.0, "IMU history kept for integration between WHAM steps and "
              "for gravity, s (a time window: memory stays bounded).", min_value=0.5,
              pipeline_field="imu_history_s", read_only=True),
    ParamSpec("require_camera_info", False, "Drop frames until a CameraInfo arrives instead of "
              "using WHAM's default intrinsics (f = image diagonal)."),
    ParamSpec("camera_info_wait_s", 1.0, "When require_camera_info is false but the "
              "camera_info topic has a publisher, the first frames wait this long (image time, "
              "s) for a CameraInfo instead of running on WHAM's default intrinsics (0: no wait).",
              min_value=0.0),
    ParamSpec("max_stamp_ahead_s", 2.0, "Images stamped more than this ahead of the node's "
              "clock (or of the newest IMU stamp when later), s, are dropped and counted as "
              "'image_stamp_future' bad input, so a wrong stamp neither reaches WHAM nor resets "
              "the tracks (0: no check).", min_value=0.0),
    ParamSpec("camera_frame_id", "", "Override of the images' header.frame_id (empty: use it)."),
    ParamSpec("depth_topic", "", "Depth image aligned to the colour image (same frame, size "
              "and intrinsics; 16UC1 mm or 32FC1 m, 0/NaN = no reading), e.g. "
              "/camera/aligned_depth_to_color/image_raw; its CameraInfo is the sibling "
              "camera_info topic. People are then placed at their measured distance. Empty: "
              "monocular only. The offline runner also takes 'auto' (the bag's depth topic in "
              "the colour frame). In split mode, a front-end node parameter.", read_only=True),
    ParamSpec("depth_max_dt_s", 0.02, "Largest stamp difference between a colour image and "
              "the depth image paired with it, s (exact stamps pair first, else the nearest).",
              min_value=0.0, read_only=True),
    ParamSpec("depth_min_m", 0.3, "Depth readings nearer than this are none (the depth "
              "camera's minimum range), m.", min_value=0.0, pipeline_field="depth_min_m",
              read_only=True),
    ParamSpec("depth_max_m", 10.0, "Depth readings farther than this are none, m.",
              min_value=0.0, pipeline_field="depth_max_m", read_only=True),
    # Models and compute.
    ParamSpec("wham_checkpoint", "", "WHAM checkpoint (.pth) path (empty: the model cache, "
              "see wham-ros models list).", pipeline_field="wham_checkpoint", read_only=True),
    ParamSpec("body_model_dir", "", "Directory with the SMPL body model files (empty: the "
              "model cache).", pipeline_field="body_model_dir", read_only=True),
    ParamSpec("detector_onnx", "", "Person detector ONNX model path (empty: the model cache's "
              "YOLOX-L).", pipeline_field="detector_onnx", read_only=True),
    ParamSpec("vitpose_onnx", "", "ViTPose 2D keypoint ONNX model path (empty: the model cache).",
              pipeline_field="vitpose_onnx", read_only=True),
    ParamSpec("hmr2_onnx", "", "HMR2.0 feature/initial pose ONNX model path (empty: the model "
              "cache).", pipeline_field="hmr2_onnx", read_only=True),
    ParamSpec("providers", "auto", "ONNX Runtime execution provider for the front-end models.",
              choices=("auto", "cpu", "cuda", "tensorrt"), pipeline_field="providers",
              read_only=True),
    ParamSpec("ort_device_id", _ORT.device_id, "CUDA device of the TensorRT and CUDA execution "
              "providers and of their I/O binding.", min_value=0, pipeline_field="ort.device_id",
              read_only=True),
    ParamSpec("trt_cache_dir", _ORT.trt_cache_dir, "Directory of the TensorRT engine and timing "
              "caches (created if missing); empty: the model cache's tensorrt/ folder. A cached "
              "engine loads in seconds; a ViT-H build takes minutes.",
              pipeline_field="ort.trt_cache_dir", read_only=True),
    ParamSpec("trt_fp16", _ORT.trt_fp16, "Let TensorRT build fp16 kernels (faster; outputs "
              "then carry fp16 rounding, unlike the exact fp32 path).",
              pipeline_field="ort.trt_fp16", read_only=True),
    ParamSpec("trt_max_workspace_size", _ORT.trt_max_workspace_size, "TensorRT builder "
              "workspace, bytes (0: the provider's default).", min_value=0,
              pipeline_field="ort.trt_max_workspace_size", read_only=True),
    ParamSpec("trt_layer_norm_fp32_fallback", _ORT.trt_layer_norm_fp32_fallback, "With "
              "trt_fp16, keep TensorRT's LayerNorm in fp32 (ViT-H's LayerNorm sums overflow "
              "fp16).", pipeline_field="ort.trt_layer_norm_fp32_fallback", read_only=True),
    ParamSpec("max_people", _ORT.max_people, "People per frame the TensorRT engines are built "
              "for (optimisation profile: 1 to max_people crops, twice that with mirrored "
              "crops); engines are built or loaded from trt_cache_dir at activation, and a "
              "frame with more people runs its crops in chunks of this size.", min_value=1,
              pipeline_field="ort.max_people", read_only=True),
    ParamSpec("ort_gpu_mem_limit", _ORT.gpu_mem_limit, "Byte limit of the CUDA execution "
              "provider's memory arena (0: no limit); set it when WHAM (torch) shares the GPU.",
              min_value=0, pipeline_field="ort.gpu_mem_limit", read_only=True),
    ParamSpec("ort_arena_extend_strategy", _ORT.arena_extend_strategy, "How the CUDA execution "
              "provider's arena grows: 'kNextPowerOfTwo' (fewer, larger allocations) or "
              "'kSameAsRequested' (only what is asked; tighter next to torch).",
              choices=ARENA_STRATEGIES, pipeline_field="ort.arena_extend_strategy",
              read_only=True),
    ParamSpec("crop_backend", "opencv", "Where the ViTPose/HMR2.0 crops are made: 'opencv' "
              "(host, the reference) or 'device' (inside the ONNX graphs, equal crops; needs "
              "models exported with wham-ros export --device-crops).",
              choices=("opencv", "device"), pipeline_field="crop_backend", read_only=True),
    ParamSpec("device", "cpu", "Torch device of the WHAM network ('cpu', 'cuda', 'cuda:1').",
              pipeline_field="device", read_only=True),
    ParamSpec("wham_precision", "fp32", "Weights of the WHAM step: 'fp32' (exact), 'fp16' "
              "(about 2x faster on CPU; world trajectory drift vs fp32 ~7 cm over 20 s) or 'int8' "
              "(CPU only; drift ~1.4 m over 20 s); see doc/benchmarks.md (WHAM core).",
              choices=("fp32", "fp16", "int8"), pipeline_field="wham_precision", read_only=True),
    ParamSpec("wham_cuda_graph", False, "Replay the WHAM step as a CUDA graph per batch-size "
              "bucket (device 'cuda' only; not with flip_eval).",
              pipeline_field="wham_cuda_graph", read_only=True),
    ParamSpec("torch_threads", 1, "CPU threads of torch for WHAM (0: torch's default); one "
              "leaves the other cores to ONNX Runtime.", min_value=0, pipeline_field="torch_threads",
              read_only=True),
    ParamSpec("opencv_threads", 1, "CPU threads of OpenCV for crops, resizes and blurs (0: "
              "OpenCV's default, one per core); one runs them on the calling thread, whose "
              "images are small.", min_value=0, pipeline_field="opencv_threads", read_only=True),
    ParamSpec("imu_to_camera_quat_xyzw", [0.0, 0.0, 0.0, 1.0], "Rotation camera <- IMU as a "
              "quaternion (x, y, z, w): maps IMU-frame vectors into the camera optical frame. "
              "Identity: taken from TF (camera frame <- IMU frame) once both are known.",
              length=4, pipeline_field="camera_imu_quat_xyzw", read_only=True),
    ParamSpec("estimate_gyro_bias", True, "Estimate the gyro bias from bias_sources (rests, "
              "images, TF; false: use gyro_bias).", read_only=True),
    ParamSpec("gyro_bias", [0.0, 0.0, 0.0], "Fixed gyro bias subtracted from "
              "Imu.angular_velocity when estimate_gyro_bias is false, rad/s, IMU frame.",
              length=3, pipeline_field="gyro_bias", read_only=True),
    ParamSpec("gyro_bias_random_walk", 5e-5, "How fast the gyro bias may wander, "
              "rad/s/sqrt(s): the bias estimator's process noise (bias updates come from "
              "bias_sources).", min_value=0.0, pipeline_field="gyro_bias_random_walk",
              read_only=True),
    ParamSpec("bias_sources", ["rest", "image", "tf"], "What may update the gyro bias: 'rest' "
              "(confirmed rests of the IMU, including a short one at the start of the stream), "
              "'image' (the camera rotation between processed images, from the background; "
              "composed node and wham-ros run only) and 'tf' (camera rotations from TF). "
              "Each observation is gated like a rest.", item_choices=("rest", "image", "tf"),
              pipeline_field="bias_sources", read_only=True),
    ParamSpec("drift_warn_deg", 2.0, "/diagnostics turns WARN when the camera orientation "
              "error the gyro may have accumulated since the last rest (1 sigma) exceeds this, "
              "deg.", min_value=0.0),
    ParamSpec("camera_motion", "imu", "Camera rotation source: 'imu' (gyro), 'tf' (the "
              "rotation between images from TF fixed_frame -> camera; needs fixed_frame, no IMU) "
              "or 'static' (a camera that does not rotate).", choices=("imu", "tf", "static"),
              pipeline_field="camera_motion", read_only=True),
    ParamSpec("world_anchor", "start", "Where a track's world positions come from: 'start' "
              "(placed by the camera at its first frame, then WHAM's world trajectory) or "
              "'observed' (WHAM's motion fused every frame with the camera's view through TF, "
              "so WHAM's drift does not accumulate).", choices=("start", "observed"),
              pipeline_field="world_anchor", read_only=True),
    ParamSpec("frame_rate_mode", "resample", "'resample': step WHAM at its 30 Hz training rate; "
              "'every_frame': one WHAM step per image.", choices=("resample", "every_frame"),
              pipeline_field="frame_rate_mode", read_only=True),
    ParamSpec("keypoint_backend", "vitpose", "2D keypoints: 'vitpose' (ONNX) or 'mediapipe'.",
              choices=("vitpose", "mediapipe"), pipeline_field="keypoint_backend", read_only=True),
    ParamSpec("detector_format", "auto", "Detector model family: output layout and input "
              "convention (yolov8/yolov5: RGB [0, 1] centred; yolox/yolox_raw: BGR 0-255 "
              "top-left).", choices=("auto", "yolov8", "yolov5", "yolox", "yolox_raw"),
              pipeline_field="detector_format",
              read_only=True),
    ParamSpec("detector_score_threshold", 0.5, "Minimum person detection score.", min_value=0.0,
              pipeline_field="detector_score_threshold", read_only=True),
    ParamSpec("tracker_min_hits", _TRACKER.min_hits, "Consecutive detected frames before a "
              "person gets a track id and is handed to WHAM.", min_value=1,
              pipeline_field="tracker.min_hits", read_only=True),
    ParamSpec("tracker_max_lost", _TRACKER.max_lost, "Frames a lost track (in view, not "
              "behind a person) is kept before it ends (its WHAM state is then dropped; it can "
              "still get its id back within reid_window_s).", min_value=0,
              pipeline_field="tracker.max_lost", read_only=True),
    ParamSpec("cmc", "gyro", "Camera-motion compensation of the tracker's boxes before "
              "association: 'gyro' (the camera rotation between frames from the integrated gyro, "
              "or TF with camera_motion 'tf'), 'image' (sparse optical flow "
              "on the background, for cameras without a rotation source; a few ms per frame) or "
              "'off'.", choices=("gyro", "image", "off"), pipeline_field="cmc", read_only=True),
    ParamSpec("reid_window_s", _TRACKER.reid_window_s, "How long a person out of view or lost "
              "keeps their id for re-identification, s (0: ended tracks are not "
              "re-identified).", min_value=0.0, pipeline_field="tracker.reid_window_s",
              read_only=True),
    ParamSpec("reid_appearance_gate", _TRACKER.reid_appearance_gate, "Largest Hellinger "
              "distance (0..1) of the torso/leg colour histograms of one person seen twice.",
              min_value=0.0, pipeline_field="tracker.reid_appearance_gate", read_only=True),
    ParamSpec("reid_shape_gate", _TRACKER.reid_shape_gate, "Largest L2 distance of the "
              "HMR2.0 body-shape betas of one person seen twice.", min_value=0.0,
              pipeline_field="tracker.reid_shape_gate", read_only=True),
    ParamSpec("reid_max_speed", _TRACKER.reid_max_speed, "Motion gate: box heights per "
              "second a person may have moved while unseen (plus one box height).",
              min_value=0.0, pipeline_field="tracker.reid_max_speed", read_only=True),
    ParamSpec("reid_margin", _TRACKER.reid_margin, "The best re-identification candidate "
              "must beat the second by this much (sum of gate ratios), else the person gets a "
              "new id: a new id is better than a swapped one.", min_value=0.0,
              pipeline_field="tracker.reid_margin", read_only=True),
    ParamSpec("occlusion_max_lost", _TRACKER.occlusion_max_lost, "Frames a lost track whose "
              "predicted box lies behind a nearer person is kept (beyond tracker_max_lost).",
              min_value=0, pipeline_field="tracker.occlusion_max_lost", read_only=True),
    # Outputs.
    ParamSpec("world_frame_id", "wham_world", "z-up world frame of the *_world fields, TF "
              "parent of body_<id> and frame of the markers when fixed_frame is empty (the "
              "node's own world, fixed where the camera stood at start).",
              pipeline_field="world_frame_id", read_only=True),
    ParamSpec("fixed_frame", "", "A z-up frame of the robot's TF tree (REP-105 'odom' or "
              "'map'): every *_world field, body_<id> TF, marker and velocity is then in it, "
              "people are placed by the camera's TF pose at each image, and the node publishes "
              "no camera transform. Empty: the node's own world_frame_id.",
              pipeline_field="fixed_frame", read_only=True),
    ParamSpec("tf_timeout_s", 5.0, "With a fixed_frame: activate fails (naming the frames TF "
              "has) when the fixed frame has not appeared in TF within this, s.", min_value=0.0,
              read_only=True),
    ParamSpec("tf_wait_s", 0.1, "Longest wait for TF fixed_frame -> camera at an image's "
              "stamp, s; an image without it is still processed and published in the camera "
              "frame, its world outputs skipped (counted on /diagnostics).", min_value=0.0,
              read_only=True),
    ParamSpec("publish_vertices", False, "Fill Human.vertices_cam (6890 x 3 float32, camera "
              "frame) in human_pose.", read_only=True),
    ParamSpec("publish_tf", True, "Broadcast world -> body_<id> on /tf."),
    ParamSpec("publish_camera_tf", True, "Broadcast world_frame_id -> camera optical frame (the "
              "images' frame id) on /tf when fixed_frame is empty. Never with a fixed_frame, nor "
              "when the camera frame already has a TF parent (a frame can have only one)."),
    ParamSpec("mesh_rate_hz", 2.0, "Maximum rate of the SMPL mesh markers on "
              "human_pose/mesh (0 disables; built only while subscribed).", min_value=0.0),
    ParamSpec("contact_threshold", 0.5, "Contact score at or above which a foot is in contact.",
              min_value=0.0),
    ParamSpec("overlay_rate_hz", 2.0, "Maximum rate of human_pose/overlay, the camera image "
              "with the people drawn over it (0 disables; drawn only while subscribed; composed "
              "node only).", min_value=0.0),
    ParamSpec("overlay_mode", "mesh", "What human_pose/overlay draws per person: 'mesh' (shaded "
              "SMPL mesh; computes the mesh on overlay frames) or 'skeleton'.",
              choices=("mesh", "skeleton")),
    ParamSpec("diagnostics_period_s", 1.0, "Period of /diagnostics messages, s.", min_value=0.05,
              read_only=True),
    ParamSpec("time_jump_tolerance_s", 0.0, "An image stamp this far before the previous one "
              "(bag loop, clock reset) resets the tracks, s.", min_value=0.0),
    ParamSpec("flip_eval", False, "WHAM demo's FLIP_EVAL: also run HMR2.0 and WHAM's recurrent "
              "part on the mirrored view and merge pose, shape and contacts (more accurate, about "
              "twice the HMR2.0 and WHAM cost). Set it on both nodes in split mode.",
              pipeline_field="flip_eval", read_only=True),
    ParamSpec("autostart", True, "Configure and activate the lifecycle node at startup "
              "(false: a lifecycle manager drives the transitions).", read_only=True),
]
SPECS: Dict[str, ParamSpec] = {p.name: p for p in PARAMS}

# Split mode (front-end node + WHAM-stage node): parameters only one of the two uses.
FRONTEND_ONLY = frozenset({
    "image_transport", "require_camera_info", "camera_info_wait_s", "max_stamp_ahead_s",
    "camera_frame_id", "depth_topic", "depth_max_dt_s", "depth_min_m", "depth_max_m",
    "detector_onnx", "vitpose_onnx",
    "hmr2_onnx", "providers", "ort_device_id", "trt_cache_dir", "trt_fp16",
    "trt_max_workspace_size", "trt_layer_norm_fp32_fallback", "max_people", "ort_gpu_mem_limit",
    "ort_arena_extend_strategy", "crop_backend", "keypoint_backend", "detector_format", "detector_score_threshold",
    "tracker_min_hits", "tracker_max_lost", "cmc", "reid_window_s", "reid_appearance_gate",
    "reid_shape_gate", "reid_max_speed", "reid_margin", "occlusion_max_lost"})
WHAM_ONLY = frozenset({
    "imu_queue_size", "wham_checkpoint", "body_model_dir", "device", "wham_precision",
    "wham_cuda_graph", "torch_threads",
    "imu_to_camera_quat_xyzw", "imu_history_s", "gyro_bias_random_walk", "drift_warn_deg", "bias_sources",
    "estimate_gyro_bias", "gyro_bias", "camera_motion", "world_anchor", "world_frame_id",
    "fixed_frame", "tf_timeout_s", "tf_wait_s", "publish_vertices",
    "publish_tf", "publish_camera_tf", "mesh_rate_hz", "contact_threshold"})
# Parameters of the composed node only (they need both the image and WHAM's output).
COMPOSED_ONLY = frozenset({"overlay_rate_hz", "overlay_mode"})
ROLES = ("composed", "frontend", "wham")


def params_for(role: str) -> List[ParamSpec]:
    """The parameters a node declares: all for 'composed', a subset for 'frontend' / 'wham'.

    Raises:
        ValueError: an unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"Unknown node role '{role}'; expected one of {ROLES}")
    skip = {"composed": frozenset(), "frontend": WHAM_ONLY | COMPOSED_ONLY,
            "wham": FRONTEND_ONLY | COMPOSED_ONLY}[role]
    return [p for p in PARAMS if p.name not in skip]


def validate_all(values: Dict[str, Any]) -> Dict[str, Any]:
    """Validate every known parameter in ``values`` and their combinations; raises
    :class:`ParameterError`."""
    for name, value in values.items():
        if name in SPECS:
            SPECS[name].validate(value)
    if values.get("camera_motion") == "tf" and not values.get("fixed_frame", ""):
        raise ParameterError("parameter 'camera_motion' = 'tf' reads the camera rotation from TF "
                             "fixed_frame -> camera; set 'fixed_frame' (e.g. odom) or use "
                             "camera_motion 'imu' or 'static'")
    return values


def pipeline_kwargs(values: Dict[str, Any], accepted: Optional[Sequence[str]] = None,
                    warn: Callable[[str], None] = lambda msg: None) -> Dict[str, Any]:
    """PipelineConfig keyword arguments from parameter ``values``.

    Args:
        values: parameter name -> value.
        accepted: PipelineConfig's field names; entries it lacks are skipped with a warning
            (None: pass everything).
        warn: called with a message for each skipped entry.
    """
    out: Dict[str, Any] = {}
    nested: Dict[str, Dict[str, Any]] = {}
    for spec in PARAMS:
        if spec.pipeline_field is None or spec.name not in values:
            continue
        value = values[spec.name]
        if spec.pipeline_field in ("wham_checkpoint", "body_model_dir", "detector_onnx",
                                   "vitpose_onnx", "hmr2_onnx") and value == "":
            continue  # keep PipelineConfig's default path
        if accepted is not None and spec.pipeline_field.split(".")[0] not in accepted:
            warn(f"parameter '{spec.name}' has no PipelineConfig field "
                 f"'{spec.pipeline_field}' in this version; ignored")
            continue
        if "." in spec.pipeline_field:
            outer, inner = spec.pipeline_field.split(".", 1)
            nested.setdefault(outer, {})[inner] = value
            continue
        out[spec.pipeline_field] = list(value) if isinstance(value, (list, tuple)) else value
    for outer, kwargs in nested.items():
        out[outer] = _NESTED[outer](**kwargs)
    if "gyro_bias" in out and values.get("estimate_gyro_bias", True):
        out["gyro_bias"] = None  # PipelineConfig: None = estimate at rest
    # full_mesh stays False: the node and the runner ask for vertices per frame, with
    # process(frame, full_mesh=...), only when publish_vertices is on or a mesh marker is due.
    return out
