"""Camera frames (+ IMU) -> tracked, world-grounded SMPL humans. No ROS.

The one place the stages are wired together::

    CameraFrame ─► FrontEnd: detect ─► 2D keypoints ─► track ─► WHAM inputs + HMR2.0 features
                                                                         │ FrontEndResult
    ImuSample ──► WhamStage: WorldGrounding (cam_angvel, gravity, world) ▼
                             StreamingWHAM (per-track state) ─► HumanEstimate (camera + world)

:class:`FrontEnd` and :class:`WhamStage` only exchange a :class:`wham_ros.types.FrontEndResult`,
so they can run in one process (:class:`Pipeline`, lowest latency) or as two ROS nodes on
different machines. A frame with an aligned depth image (``CameraFrame.depth``) gets each
person's hip-centre depth in the front-end (``PersonObservation.root_depth_m``), and the
WHAM stage places them there (:mod:`wham_ros.depth`). WHAM steps at 30 Hz (``wham_ros.geometry.frame_rate``); the front-end is
skipped on frames WHAM does not step on.
"""
import logging
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch

from wham_ros.depth.body import BodyDepthConfig, BodyDepthEstimator
from wham_ros.depth.placement import DepthPlacement
from wham_ros.frontend.wham_inputs import (
    bbox_from_keypoints,
    default_intrinsics,
    keypoint_mask,
    normalize_keypoints,
)
from wham_ros.geometry.camera_motion import WHAM_FPS, relative_rotation_to_cam_angvel
from wham_ros.geometry.heading import heading_rate
from wham_ros.geometry.grounding import GroundingConfig, GroundingStep, WorldGrounding
from wham_ros.geometry.imu import ImuConfig
from wham_ros.geometry.so3 import quat_xyzw_to_matrix
from wham_ros.ort_session import OrtOptions, format_placement
from wham_ros.tracking.camera_compensation import CameraCompensation
from wham_ros.tracking.tracker import MultiPersonTracker, TrackerConfig
from wham_ros.types import (
    CameraFrame,
    FrameResult,
    FrontEndResult,
    HumanEstimate,
    ImuSample,
    PersonObservation,
)
from wham_ros.vitpose.keypoints import COCO17_FLIP_INDEX
from wham_ros.wham import (
    FlippedFrame,
    StreamingWHAM,
    WHAMFrame,
    load_network,
    make_track_init,
    outputs_to_host,
)

LOG = logging.getLogger(__name__)

KEYPOINT_BACKENDS = ("vitpose", "mediapipe")


@dataclass
class PipelineConfig:
    """Everything the pipeline needs; the ROS node maps its parameters onto this.

    Attributes:
        wham_checkpoint: official WHAM checkpoint (``wham_vit_bedlam_w_3dpw.pth.tar``).
        body_model_dir: WHAM ``body_models`` directory (``smpl/SMPL_NEUTRAL.npz``, regressors).
        detector_onnx: person detector (YOLOv8/YOLO11/YOLOX ONNX export).
        hmr2_onnx: HMR2.0 encoder exported with ``wham-ros export``.
        vitpose_onnx: ViTPose exported with ``wham-ros export`` (keypoint_backend 'vitpose').
        keypoint_backend: 'vitpose' or 'mediapipe' (BlazePose, weights inside the wheel).
        providers: ONNX Runtime execution provider: 'auto', 'cpu', 'cuda', 'tensorrt'.
        ort: provider options (TensorRT engine/timing cache directory, fp16, workspace,
            CUDA device id) of every front-end session.
        crop_backend: 'opencv' (host crops, the bit-exact reference) or 'device' (crops
            inside the ONNX graphs; models exported with ``wham-ros export --device-crops``).
        device: torch device of WHAM ('cpu', 'cuda', 'cuda:1', ...).
        wham_precision: weights of the WHAM step, 'fp32' (exact), 'fp16' or 'int8'
            (``StreamingWHAM``; speed and error in doc/benchmarks.md).
        wham_cuda_graph: replay the WHAM step as CUDA graphs (CUDA device, no flip_eval).
        detector_format: 'auto', 'yolov8', 'yolov5', 'yolox', 'yolox_raw'.
        detector_score_threshold: minimum person score kept by the detector.
        vitpose_flip_test: average with mirrored crops (WHAM's setting).
        tracker: tracker parameters.
        cmc: camera-motion compensation of the tracker's boxes: 'gyro' (the rotation the
            world grounding measures between frames: integrated gyro or TF),
            'image' (sparse optical flow on the background) or 'off'
            (``wham_ros.tracking.camera_compensation``).
        world_frame_id: name of the z-up world frame (without a fixed frame).
        fixed_frame: a z-up frame of the robot's TF tree (``odom``, ``map``): the world is that
            frame, with the camera pose given per image (``CameraFrame.T_fixed_cam``); empty:
            the pipeline's own ``world_frame_id``.
        camera_motion: 'imu', 'tf' (needs fixed_frame) or 'static'
            (:mod:`wham_ros.geometry.grounding`).
        world_anchor: 'start' or 'observed' (:mod:`wham_ros.geometry.anchoring`).
        frame_rate_mode: 'resample' (step WHAM at 30 Hz) or 'every_frame'.
        camera_imu_quat_xyzw: rotation camera_optical <- imu as a quaternion (x, y, z, w).
        gyro_bias: fixed gyro bias (rad/s, IMU frame) or None to estimate it at rest.
        gyro_bias_random_walk: how fast the gyro bias may wander, rad/s/sqrt(s) (the bias
            estimator's process noise; also widens the at-rest rate test between rests).
        imu_history_s: IMU history kept for integration and gravity (a time window, s).
        bias_sources: what may update the gyro bias: 'rest' (confirmed rests), 'image' (the
            rotation between processed images, composed pipeline only) and 'tf' (camera
            rotations from TF); see ``wham_ros.geometry.grounding``.
        full_mesh: compute the 6890-vertex mesh for every person by default (a call to
            ``process(..., full_mesh=...)`` overrides it per frame).
        flip_eval: WHAM demo's FLIP_EVAL: also run HMR2.0 and WHAM's recurrent part on the
            mirrored view and merge pose, shape and contacts (more accurate, ~2x the HMR2.0
            and WHAM cost).
        depth_min_m, depth_max_m: valid range of the depth camera, m (readings outside it,
            as 0 and NaN, are none); used on frames that come with a depth image.
        torch_threads: CPU threads of torch (WHAM); 0 keeps torch's default. WHAM's per-frame
            products are memory-bound matrix-vector products, so one thread is as fast as two
            and leaves a core to ONNX Runtime (OpenMP threads contending for the same cores
            slowed WHAM ~20x here).
        opencv_threads: CPU threads of OpenCV (crops, letterbox resize, heatmap blur, image
            features); 0 keeps OpenCV's default (one per core). The front-end's images are
            small: with 1 every OpenCV call runs on the calling thread, and the pool's
            workers no longer spin on the other cores after each call (on 2 cores here the
            process's system time fell from 0.59 to 0.12 ms per frame for one person).
    """

    wham_checkpoint: str = ""
    body_model_dir: str = ""
    detector_onnx: str = ""
    hmr2_onnx: str = ""
    vitpose_onnx: str = ""
    keypoint_backend: str = "vitpose"
    providers: str = "auto"
    ort: OrtOptions = field(default_factory=OrtOptions)
    crop_backend: str = "opencv"
    device: str = "cpu"
    wham_precision: str = "fp32"
    wham_cuda_graph: bool = False
    detector_format: str = "auto"
    detector_score_threshold: float = 0.5
    vitpose_flip_test: bool = True
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    cmc: str = "gyro"
    world_frame_id: str = "wham_world"
    fixed_frame: str = ""
    camera_motion: str = "imu"
    world_anchor: str = "start"
    frame_rate_mode: str = "resample"
    camera_imu_quat_xyzw: Sequence[float] = (0.0, 0.0, 0.0, 1.0)
    gyro_bias: Optional[Sequence[float]] = None
    gyro_bias_random_walk: float = 5e-5
    imu_history_s: float = 10.0
    bias_sources: Sequence[str] = ("rest", "image", "tf")
    full_mesh: bool = False
    flip_eval: bool = False
    torch_threads: int = 1
    opencv_threads: int = 1
    depth_min_m: float = 0.3
    depth_max_m: float = 10.0

    def grounding_config(self) -> GroundingConfig:
        """The world-grounding part of this configuration."""
        imu = ImuConfig(R_cam_imu=quat_xyzw_to_matrix(np.asarray(self.camera_imu_quat_xyzw, float)),
                        fixed_bias_rad_s=None if self.gyro_bias is None
                        else np.asarray(self.gyro_bias, dtype=float),
                        estimate_bias=self.gyro_bias is None,
                        bias_random_walk=float(self.gyro_bias_random_walk),
                        buffer_ns=int(self.imu_history_s * 1e9))
        return GroundingConfig(world_frame_id=self.fixed_frame or self.world_frame_id,
                               fixed_frame=self.fixed_frame, camera_motion=self.camera_motion,
                               world_anchor=self.world_anchor, frame_rate_mode=self.frame_rate_mode,
                               imu=imu, bias_sources=tuple(self.bias_sources))


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8 or image.shape[0] < 2 or image.shape[1] < 2:
        got = getattr(image, "shape", None), getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape/dtype {got}")


class FrontEnd:
    """Detection, 2D keypoints, tracking, WHAM inputs and HMR2.0 features for one frame.

    Args:
        detector: callable-object with ``detect(image_rgb) -> (N, 5)``.
        keypoints: callable ``(image_rgb, boxes_xyxy (N, 4)) -> (N, 17, 3)``.
        encoder: callable ``(image_rgb, bboxes_cxcys (N, 3)) -> dict`` (HMR2.0 outputs).
        tracker: a :class:`MultiPersonTracker`.
        depth: the depth camera's range (per-person depth on frames with a depth image).
        cmc: camera-motion compensation mode of the tracker ('gyro', 'image', 'off').
    """

    def __init__(self, detector, keypoints, encoder, tracker: MultiPersonTracker,
                 flip_eval: bool = False, depth: Optional[BodyDepthConfig] = None, cmc: str = "gyro"):
        self.detector, self.keypoints, self.encoder, self.tracker = detector, keypoints, encoder, tracker
        self.flip_eval = flip_eval
        self.body_depth = BodyDepthEstimator(depth)
        self.compensation = CameraCompensation(cmc)
        self._emitted: set = set()
        self._warned_no_K = False
        self.last_boxes = np.zeros((0, 4))  # (N, 4) xyxy person detections of the last frame

    def process(self, frame: CameraFrame, camera_rotation: Optional[np.ndarray] = None) -> FrontEndResult:
        """Run the front-end on one frame.

        Args:
            frame: the image.
            camera_rotation: (3, 3) camera rotation since the previous front-end frame,
                ``R_{t-1} R_t^T`` (R world -> camera; :class:`GroundingStep.delta_R`), for
                ``cmc`` 'gyro'; None when not measured (compensation skipped, said once).

        Raises:
            ValueError: a malformed image.
        """
        _check_image(frame.image)
        H, W = frame.image.shape[:2]
        K = self._intrinsics(frame, W, H)
        t = {"t0": time.perf_counter()}
        dets = self.detector.detect(frame.image)
        self.last_boxes = np.asarray(dets[:, :4], dtype=np.float64).reshape(-1, 4)
        t["detect"] = time.perf_counter()
        kps = self.keypoints(frame.image, dets[:, :4]) if len(dets) else np.zeros((0, 17, 3), np.float32)
        t["keypoints"] = time.perf_counter()
        H_img = self.compensation.homography(frame.image, K, camera_rotation, dets[:, :4])

        def shape_of(idx):  # HMR2.0 betas of re-identification candidates (rarely called)
            return self.encoder(frame.image, bbox_from_keypoints(kps[list(idx)].astype(np.float32)))["betas"]

        people = self.tracker.update(dets, kps, stamp_s=frame.stamp_ns * 1e-9, image=frame.image,
                                     homography=H_img, shape_of=shape_of)
        # WHAM keeps the state of tracks unseen for up to max_lost frames (a person out of
        # view longer restarts WHAM when back, so the state is dropped now).
        live = self.tracker.ids_seen_within(self.tracker.config.max_lost)
        # A re-identified person restarts WHAM under the old id: end it, then start anew.
        ended = sorted((self._emitted - live) | {p.track_id for p in people
                                                 if p.reidentified and p.track_id in self._emitted})
        self._emitted -= set(ended)
        for tid in ended:
            self.body_depth.end_track(tid)
        t["track"] = time.perf_counter()
        obs: List[PersonObservation] = []
        if people:
            kp = np.stack([p.keypoints for p in people]).astype(np.float32)  # N x 17 x 3 (smoothed)
            bbox = bbox_from_keypoints(kp)  # N x 3 [cx, cy, s]
            x = normalize_keypoints(kp, bbox, (W, H))
            mask = keypoint_mask(kp)
            enc = self.encoder(frame.image, bbox, flip=self.flip_eval)
            self.tracker.observe_shapes({p.track_id: enc["betas"][i] for i, p in enumerate(people)})
            if self.flip_eval:  # WHAM demo: flip_kp / flip_bbox, HMR2.0 on the mirrored crop
                fkp = kp[:, COCO17_FLIP_INDEX].copy()
                fkp[..., 0] = W - fkp[..., 0]
                fbbox = bbox.copy()
                fbbox[:, 0] = W - fbbox[:, 0]
                fx, fmask = normalize_keypoints(fkp, fbbox, (W, H)), keypoint_mask(fkp)
            for i, p in enumerate(people):
                new = p.track_id not in self._emitted
                self._emitted.add(p.track_id)
                ob = PersonObservation(
                    track_id=p.track_id, bbox_xyxy=np.asarray(p.box_xyxy, np.float32), keypoints=kp[i],
                    bbox_cxcys=bbox[i], x=x[i], mask=mask[i], features=enc["features"][i],
                    init_global_orient=enc["global_orient"][i, 0], init_body_pose=enc["body_pose"][i],
                    init_betas=enc["betas"][i], is_new=new)
                if self.flip_eval:
                    ob.flipped_x, ob.flipped_mask = fx[i], fmask[i]
                    ob.flipped_features = enc["flipped_features"][i]
                    ob.flipped_init_global_orient = enc["flipped_global_orient"][i, 0]
                    ob.flipped_init_body_pose = enc["flipped_body_pose"][i]
                    ob.flipped_init_betas = enc["flipped_betas"][i]
                obs.append(ob)
        t["encode"] = time.perf_counter()
        stages = ["detect", "keypoints", "track", "encode"]
        if frame.depth is not None:
            for ob in obs:
                ob.root_depth_m = self.body_depth.estimate(ob.track_id, frame.stamp_ns, frame.depth,
                                                           ob.bbox_xyxy, ob.keypoints)
            t["depth"] = time.perf_counter()
            stages.append("depth")
        prev, timings = t["t0"], {}
        for s in stages:
            timings[s] = (t[s] - prev) * 1e3
            prev = t[s]
        return FrontEndResult(frame.stamp_ns, frame.frame_id, K, (W, H), obs, ended, timings)

    def tracking_status(self) -> Dict:
        """Tracker counters for diagnostics: ``reidentified`` (people who got their earlier
        id back), ``reid_ambiguous`` (new ids given because two earlier people fit),
        ``remembered_ids`` (ended people that can still be re-identified), ``cmc`` (mode) and
        ``cmc_skipped_frames`` (frames without a measured rotation in 'gyro' mode)."""
        tr = self.tracker
        return {"reidentified": tr.num_reidentified, "reid_ambiguous": tr.num_reid_ambiguous,
                "remembered_ids": len(tr.remembered_ids), "cmc": self.compensation.mode,
                "cmc_skipped_frames": self.compensation.skipped_frames}

    @property
    def providers(self) -> Dict[str, str]:
        """ONNX Runtime execution provider per front-end model, with the node placement
        where it was profiled (GPU providers, at load)."""
        out = {}
        for name, obj in (("detector", self.detector), ("keypoints", self.keypoints),
                          ("encoder", self.encoder)):
            obj = obj if hasattr(obj, "provider") else getattr(obj, "__self__", None)
            placement = getattr(obj, "placement", None)
            out[name] = getattr(obj, "provider", "cpu") + (
                f" (nodes: {format_placement(placement)})" if placement else "")
        return out

    def reset(self) -> None:
        """Forget all tracks; new tracks get ids after the old ones (never reused)."""
        self.tracker.reset()
        self.compensation.reset()
        self._emitted.clear()
        self.body_depth.reset()

    @property
    def next_track_id(self) -> int:
        """The id the next new track will get."""
        return self.tracker.next_id

    def continue_track_ids(self, next_id: int) -> None:
        """Number new tracks from ``next_id`` on (the ids of an earlier front-end continue)."""
        self.tracker.continue_ids(next_id)

    def _intrinsics(self, frame: CameraFrame, W: int, H: int) -> np.ndarray:
        if frame.K is not None and np.all(np.isfinite(frame.K)) and frame.K[0, 0] > 0:
            return np.asarray(frame.K, dtype=np.float64)
        if not self._warned_no_K:
            LOG.warning("No camera intrinsics: using WHAM's default f = sqrt(W^2 + H^2) = %.1f px, "
                        "principal point at the image centre", np.hypot(W, H))
            self._warned_no_K = True
        return default_intrinsics(W, H).astype(np.float64)


class WhamStage:
    """World grounding + streaming WHAM: front-end results in, grounded humans out.

    Args:
        engine: a :class:`StreamingWHAM`.
        grounding: a :class:`WorldGrounding`.
        full_mesh: compute vertices for every person unless a call says otherwise.
    """

    def __init__(self, engine: StreamingWHAM, grounding: WorldGrounding, full_mesh: bool = False):
        self.engine, self.grounding, self.full_mesh = engine, grounding, full_mesh
        self.depth = DepthPlacement()
        # Per track: camera rotation R_last R_now^T since the track's last WHAM step, so a
        # track that was not observed for some frames gets the whole rotation of the gap.
        self._pending_rotation: Dict[int, np.ndarray] = {}

    @property
    def world_frame_id(self) -> str:
        return self.grounding.config.world_frame_id

    def add_imu(self, sample: ImuSample) -> bool:
        """Feed one IMU sample as it arrives (any thread); False (warned) if rejected."""
        return self.grounding.add_imu(sample)

    def grounding_status(self) -> Dict:
        """Gyro bias, rest state, gravity and drift (see :meth:`WorldGrounding.status`)."""
        return self.grounding.status()

    def observe_image(self, stamp_ns: int, image: np.ndarray, K: np.ndarray, boxes_xyxy=()) -> None:
        """Give a processed image (people's boxes masked) to the image gyro-bias source."""
        self.grounding.observe_image(stamp_ns, image, K, boxes_xyxy)

    def observe_camera_rotation(self, t0_ns: int, t1_ns: int, delta_R: np.ndarray, std_rad: float):
        """Camera rotation ``C(t0)^T C(t1)`` (3, 3) known from TF: a gyro-bias observation (any thread).

        See :meth:`WorldGrounding.observe_camera_rotation`; returns its ``BiasObservation``.
        """
        return self.grounding.observe_camera_rotation(t0_ns, t1_ns, delta_R, std_rad, "tf")

    def set_camera_imu_rotation(self, R_cam_imu: np.ndarray) -> None:
        """IMU -> camera optical rotation (3, 3), e.g. from TF once it is known; any thread."""
        self.grounding.set_camera_imu_rotation(R_cam_imu)

    def decide(self, stamp_ns: int, T_fixed_cam: Optional[np.ndarray] = None) -> GroundingStep:
        """Frame-rate policy and camera motion for a frame (call once per frame).

        Args:
            stamp_ns: the image stamp.
            T_fixed_cam (np.ndarray | None): (4, 4) camera pose in the fixed frame at that
                stamp (see :attr:`wham_ros.types.CameraFrame.T_fixed_cam`).
        """
        return self.grounding.on_frame(stamp_ns, T_fixed_cam)

    def process(self, fe: FrontEndResult, step: Optional[GroundingStep] = None,
                full_mesh: Optional[bool] = None) -> FrameResult:
        """Advance WHAM for every observed person and express the outputs in world frames.

        Args:
            fe: front-end result of one frame.
            step: this frame's :meth:`decide` result (computed here if None).
            full_mesh: compute the (6890, 3) ``vertices_cam`` on this frame (None: the
                ``full_mesh`` given at construction). The mesh costs time; ask only on the
                frames that publish it.
        """
        t0 = time.perf_counter()
        step = step if step is not None else self.decide(fe.stamp_ns)
        result = FrameResult(fe.stamp_ns, fe.frame_id, self.world_frame_id,
                             K=np.asarray(fe.K, np.float64), image_size=tuple(fe.res))
        for tid in fe.ended_track_ids:
            self.engine.end_track(tid)
            self.grounding.end_track(tid)
            self.depth.end_track(tid)
            self._pending_rotation.pop(tid, None)
        if not step.step:
            result.dropped, result.skipped_reason = True, step.reason
            return result
        result.camera_motion_valid = step.valid
        if not step.world_valid:
            result.world_frame_id = ""  # this frame's world outputs are skipped, not guessed
        for tid in self.engine.track_ids:  # accumulate in time order: R_a R_b^T = prod of steps
            self._pending_rotation[tid] = self._pending_rotation[tid] @ step.delta_R
        res = np.array(fe.res, dtype=np.float32)
        frames: Dict[int, WHAMFrame] = {}
        for ob in fe.observations:
            if self.engine.flip_eval and ob.flipped_x is None:
                LOG.warning("flip_eval is on but track %d has no mirrored view (front-end "
                            "without flip_eval?); skipped", ob.track_id)
                continue
            if ob.track_id not in self.engine:
                if ob.init_global_orient is None:
                    LOG.warning("track %d has no initial pose; waiting for one", ob.track_id)
                    continue
                self._start(ob)  # its first frame sees no camera motion (init_root is now)
            frames[ob.track_id] = WHAMFrame(ob.x, ob.mask, ob.features,
                                            relative_rotation_to_cam_angvel(
                                                self._pending_rotation[ob.track_id]),
                                            fe.K, ob.bbox_cxcys, res)
            self._pending_rotation[ob.track_id] = np.eye(3)
        flipped = {ob.track_id: FlippedFrame(ob.flipped_x, ob.flipped_mask, ob.flipped_features)
                   for ob in fe.observations if ob.track_id in frames} \
            if self.engine.flip_eval else None
        mesh = self.full_mesh if full_mesh is None else full_mesh
        outs = outputs_to_host(self.engine.step(frames, full_mesh=mesh, flipped=flipped))
        by_id = {ob.track_id: ob for ob in fe.observations}
        K = np.asarray(fe.K, np.float64)
        to_world = self.grounding.world.camera_to_world if step.world_valid else None
        for tid, out in outs.items():  # one device -> host copy for all tracks (above)
            human = self._human(tid, by_id[tid], out, step.world_valid)
            result.humans.append(self.depth.apply(human, fe.stamp_ns, by_id[tid].root_depth_m, K,
                                                  to_world))
        if step.world_valid:
            result.T_world_camera = self.grounding.world.T_world_cam()
        result.timings_ms["wham"] = (time.perf_counter() - t0) * 1e3
        return result

    def _start(self, ob: PersonObservation) -> None:
        init_root = self.grounding.start_track(ob.track_id, np.asarray(ob.init_global_orient, float))
        smpl = self.engine.net.smpl
        kp, pose6, _ = make_track_init(
            smpl, torch.as_tensor(ob.init_global_orient)[None], torch.as_tensor(ob.init_body_pose)[None],
            torch.as_tensor(ob.init_betas)[None], torch.as_tensor(ob.x)[None])
        flipped_init = None
        if self.engine.flip_eval:  # the mirrored pass starts from the mirrored HMR2.0 estimate
            fkp, fpose6, froot = make_track_init(
                smpl, torch.as_tensor(ob.flipped_init_global_orient)[None],
                torch.as_tensor(ob.flipped_init_body_pose)[None],
                torch.as_tensor(ob.flipped_init_betas)[None], torch.as_tensor(ob.flipped_x)[None])
            flipped_init = (fkp[0], fpose6[0], froot[0], ob.flipped_features)
        self.engine.start_track(ob.track_id, kp[0], pose6[0], init_root, first_features=ob.features,
                                flipped_init=flipped_init)
        self._pending_rotation[ob.track_id] = np.eye(3)
        LOG.info("WHAM track %d started", ob.track_id)

    def _human(self, tid: int, ob: PersonObservation, o: Dict[str, np.ndarray],
               world_valid: bool = True) -> HumanEstimate:
        g = self.grounding
        world_valid = g.track_update(tid, o["trans_cam"], o["trans_world"], world_valid)
        R_cam, R_w = o["poses_root_cam"][0], o["poses_root_world"]
        t_cam = o["trans_cam"]
        # hip-centred points, one array: 1 hip (origin) + 24 SMPL joints + 17 COCO + 4 feet
        n_smpl, n_feet = len(o["smpl_joints_cam"]), len(o["feet_cam"])
        points = np.concatenate([np.zeros((1, 3)), o["smpl_joints_cam"], o["joints_cam"][:17], o["feet_cam"]])
        cam = points[1:1 + n_smpl + 17] + t_cam
        human = HumanEstimate(
            track_id=tid, age=self.engine.age(tid),
            global_orient_cam=R_cam, global_orient_world=np.full((3, 3), np.nan),
            body_pose=o["poses_body"], betas=o["betas"], trans_cam=t_cam,
            trans_world=np.full(3, np.nan),
            smpl_joints_cam=cam[:n_smpl], smpl_joints_world=np.full((n_smpl, 3), np.nan),
            coco_joints_cam=cam[n_smpl:], coco_joints_world=np.full((17, 3), np.nan),
            contact=o["contact"], feet_world=np.full((n_feet, 3), np.nan),
            keypoints2d=np.asarray(ob.keypoints), bbox_xyxy=np.asarray(ob.bbox_xyxy),
            vertices_cam=o["verts_cam"] + t_cam if "verts_cam" in o else None,
            root_velocity_world=np.full(3, np.nan), heading_rate=float("nan"))
        if not world_valid:  # no camera pose in the fixed frame: NaN, not a guess
            return human
        # Hip-centred points posed with the camera root -> world root (R_w R_cam^T), at the
        # WHAM y-down world hip of the track, then into the shared world
        world = g.to_world(tid, points @ (R_w @ R_cam.T).T + o["trans_world"])
        human.trans_world = world[0]
        human.smpl_joints_world = world[1:1 + n_smpl]
        human.coco_joints_world = world[1 + n_smpl:1 + n_smpl + 17]
        human.feet_world = world[1 + n_smpl + 17:]
        human.global_orient_world = g.rotation_to_world(tid, R_w)
        human.root_velocity_world = g.vector_to_world(tid, o["vel_world_refined"]) * WHAM_FPS
        human.heading_rate = 0.0 if self.engine.age(tid) == 1 else heading_rate(
            g.rotation_to_world(tid, o["poses_root_world_prev"]), human.global_orient_world, WHAM_FPS)
        return human

    def reset(self) -> None:
        """Forget all tracks and the world (e.g. when time jumps backwards); the IMU model stays."""
        self.engine.reset()
        self._pending_rotation.clear()
        self.grounding.reset()
        self.depth.reset()


def build_frontend(cfg: PipelineConfig) -> FrontEnd:
    """Load the front-end models named in ``cfg`` (ONNX Runtime, no download).

    Raises:
        wham_ros.ort_session.ModelFileError: a missing or unreadable model file.
        ValueError: an unknown backend name.
    """
    _apply_threads(cfg)
    from wham_ros.detect.detector import load_detector
    from wham_ros.hmr2.onnx_backend import HMR2Onnx

    detector = load_detector("yolo_onnx", model_path=cfg.detector_onnx, providers=cfg.providers,
                             output_format=cfg.detector_format,
                             score_threshold=cfg.detector_score_threshold, options=cfg.ort)
    upload = None  # with device crops, ViTPose and HMR2.0 share one image upload per frame
    if cfg.keypoint_backend == "vitpose":
        from wham_ros.vitpose.onnx_backend import VitPoseOnnx
        keypoints = VitPoseOnnx(cfg.vitpose_onnx, providers=cfg.providers,
                                flip_test=cfg.vitpose_flip_test, options=cfg.ort,
                                crop_backend=cfg.crop_backend)
        upload = keypoints.upload
    elif cfg.keypoint_backend == "mediapipe":
        from wham_ros.frontend.mediapipe_pose import MediaPipePose
        keypoints = MediaPipePose().estimate
    else:
        raise ValueError(f"Unknown keypoint_backend '{cfg.keypoint_backend}'; expected one of "
                         f"{KEYPOINT_BACKENDS}")
    encoder = HMR2Onnx(cfg.hmr2_onnx, providers=cfg.providers, options=cfg.ort,
                       crop_backend=cfg.crop_backend, upload=upload)
    return FrontEnd(detector, keypoints, encoder, MultiPersonTracker(cfg.tracker), cfg.flip_eval,
                    BodyDepthConfig(cfg.depth_min_m, cfg.depth_max_m), cfg.cmc)


def _apply_threads(cfg: PipelineConfig) -> None:
    """Set torch's and OpenCV's CPU threads to ``cfg.torch_threads`` / ``cfg.opencv_threads``
    (0: leave the library's default). Both are process-wide settings."""
    if cfg.torch_threads > 0 and torch.get_num_threads() != cfg.torch_threads:
        LOG.info("torch CPU threads: %d -> %d", torch.get_num_threads(), cfg.torch_threads)
        torch.set_num_threads(cfg.torch_threads)
    if cfg.opencv_threads > 0 and cv2.getNumThreads() != cfg.opencv_threads:
        LOG.info("OpenCV CPU threads: %d -> %d", cv2.getNumThreads(), cfg.opencv_threads)
        # OpenCV's 0 is "no worker threads": every call on the caller's thread (it then
        # reports 1 thread)
        cv2.setNumThreads(0 if cfg.opencv_threads == 1 else cfg.opencv_threads)


def build_wham_stage(cfg: PipelineConfig) -> WhamStage:
    """Load WHAM (strict, safe) and set up world grounding.

    Raises:
        wham_ros.wham.CheckpointError, wham_ros.body.BodyModelError: bad model files.
    """
    _apply_threads(cfg)
    net = load_network(cfg.wham_checkpoint, cfg.body_model_dir, device=cfg.device)
    engine = StreamingWHAM(net, cfg.flip_eval, precision=cfg.wham_precision,
                           cuda_graph=cfg.wham_cuda_graph)
    return WhamStage(engine, WorldGrounding(cfg.grounding_config()),
                     cfg.full_mesh)


class Pipeline:
    """Front-end and WHAM stage composed in one process.

    Args:
        cfg: configuration (models are loaded here).
        frontend, wham: already-built stages (instead of loading from ``cfg``).
    """

    def __init__(self, cfg: Optional[PipelineConfig] = None, frontend: Optional[FrontEnd] = None,
                 wham: Optional[WhamStage] = None):
        self.cfg = cfg or PipelineConfig()
        _apply_threads(self.cfg)
        self.frontend = frontend or build_frontend(self.cfg)
        self.wham = wham or build_wham_stage(self.cfg)

    @property
    def faces(self) -> np.ndarray:
        """(13776, 3) int64 SMPL triangle indices."""
        return self.wham.engine.net.smpl.faces.cpu().numpy()

    @property
    def providers(self) -> Dict[str, str]:
        """Execution provider / device per stage."""
        return {"wham": str(self.wham.engine.net.device), **self.frontend.providers}

    def add_imu(self, sample: ImuSample) -> bool:
        """Feed one IMU sample as it arrives (validated; thread-safe against ``process``)."""
        return self.wham.add_imu(sample)

    def grounding_status(self) -> Dict:
        """Gyro bias, rest state, gravity and drift of the world model."""
        return self.wham.grounding_status()

    def observe_camera_rotation(self, t0_ns: int, t1_ns: int, delta_R: np.ndarray, std_rad: float):
        """Camera rotation from TF as a gyro-bias observation (see :meth:`WhamStage.observe_camera_rotation`)."""
        return self.wham.observe_camera_rotation(t0_ns, t1_ns, delta_R, std_rad)

    def set_camera_imu_rotation(self, R_cam_imu: np.ndarray) -> None:
        """IMU -> camera optical rotation (3, 3), e.g. from TF once it is known; any thread."""
        self.wham.set_camera_imu_rotation(R_cam_imu)

    def tracking_status(self) -> Dict:
        """Tracker counters (see :meth:`FrontEnd.tracking_status`)."""
        return self.frontend.tracking_status()

    def process(self, frame: CameraFrame, full_mesh: Optional[bool] = None) -> FrameResult:
        """Process one camera frame (the front-end is skipped when WHAM does not step).

        Args:
            frame: the image (RGB) with its stamp, frame id and intrinsics.
            full_mesh: compute ``vertices_cam`` on this frame (None: ``cfg.full_mesh``).

        Raises:
            ValueError: a malformed image.
        """
        _check_image(frame.image)
        step = self.wham.decide(frame.stamp_ns, frame.T_fixed_cam)
        if not step.step:
            return FrameResult(frame.stamp_ns, frame.frame_id, self.wham.world_frame_id,
                               dropped=True, skipped_reason=step.reason)
        fe = self.frontend.process(frame, step.delta_R if step.valid else None)
        result = self.wham.process(fe, step, full_mesh)
        t0 = time.perf_counter()
        self.wham.observe_image(frame.stamp_ns, frame.image, fe.K, self.frontend.last_boxes)
        result.timings_ms = {**fe.timings_ms, **result.timings_ms,
                             "image_rotation": (time.perf_counter() - t0) * 1e3}
        return result

    def reset(self) -> None:
        """Forget tracks, tracker state and the world (e.g. a bag loops and time goes back).

        Track ids are not reused: new tracks are numbered after the old ones.
        """
        self.frontend.reset()
        self.wham.reset()

    @property
    def next_track_id(self) -> int:
        """The id the next new track will get."""
        return self.frontend.next_track_id

    def continue_track_ids(self, next_id: int) -> None:
        """Number new tracks from ``next_id`` on (see :meth:`FrontEnd.continue_track_ids`)."""
        self.frontend.continue_track_ids(next_id)
