"""Test double for ``wham_ros.pipeline.Pipeline``: realistic FrameResults without models.

Humans are rigid bodies walking on a circle; every array has the shape and frame of the
real pipeline's output so conversions, markers, TF and the node mechanics can be checked
against known values.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import List

import numpy as np

from wham_ros.types import CameraFrame, FrameResult, HumanEstimate, ImuSample

N_VERTS = 30
FACES = np.array([[i, (i + 1) % N_VERTS, (i + 2) % N_VERTS] for i in range(0, N_VERTS, 3)],
                 dtype=np.int64)  # 10 triangles x 3


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


# Camera optical frame -> z-up world (x forward = optical z, y left = -optical x, z up = -optical y).
R_WORLD_CAM = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
T_WORLD_CAM = np.array([0.0, 0.0, 1.5])


def make_human(track_id: int, age: int, t: float, with_vertices: bool = True) -> HumanEstimate:
    """A consistent estimate: camera and world quantities related by (R_WORLD_CAM, T_WORLD_CAM)."""
    rng = np.random.default_rng(track_id)
    trans_cam = np.array([0.5 * track_id - 0.5, 0.2, 3.0 + 0.1 * t])
    root_cam = rot_x(0.1 * track_id) @ rot_z(0.2 * t)
    local = rng.normal(0.0, 0.3, size=(24, 3))  # joints relative to the hip, body frame
    local[0] = 0.0
    joints_cam = trans_cam + local @ root_cam.T  # 24 x 3

    def to_world(p):
        return p @ R_WORLD_CAM.T + T_WORLD_CAM

    coco_cam = joints_cam[:17] + 0.01
    verts_cam = trans_cam + rng.normal(0.0, 0.3, size=(N_VERTS, 3))
    feet_world = to_world(joints_cam[[7, 10, 8, 11]])
    kp = np.concatenate([rng.uniform(0, 100, size=(17, 2)), rng.uniform(0, 1, size=(17, 1))], 1)
    return HumanEstimate(
        track_id=track_id, age=age,
        global_orient_cam=root_cam, global_orient_world=R_WORLD_CAM @ root_cam,
        body_pose=np.stack([rot_z(0.01 * j) for j in range(23)]),
        betas=np.linspace(-1, 1, 10), trans_cam=trans_cam, trans_world=to_world(trans_cam),
        smpl_joints_cam=joints_cam, smpl_joints_world=to_world(joints_cam),
        coco_joints_cam=coco_cam, coco_joints_world=to_world(coco_cam),
        contact=np.array([0.9, 0.2, 0.1, 0.6]), feet_world=feet_world,
        keypoints2d=kp, bbox_xyxy=np.array([10.0, 20.0, 110.0, 220.0]),
        vertices_cam=verts_cam if with_vertices else None,
        root_velocity_world=R_WORLD_CAM @ np.array([0.0, 0.0, 0.1]), heading_rate=0.2 * track_id)


def _open_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class FakeConfig:
    world_frame_id: str = "wham_world"
    publish_vertices: bool = False
    num_people: int = 2
    delay_s: float = 0.0
    #: ``process`` waits until this is set (tests hold the worker inside a frame with it).
    gate: threading.Event = field(default_factory=lambda: _open_event())


@dataclass
class FakePipeline:
    """Pipeline double: records its inputs; `process` returns ``num_people`` humans."""

    cfg: FakeConfig = field(default_factory=FakeConfig)
    frames: List[CameraFrame] = field(default_factory=list)
    imu: List[ImuSample] = field(default_factory=list)
    full_mesh_calls: List = field(default_factory=list)
    resets: int = 0
    faces: np.ndarray = field(default_factory=lambda: FACES.copy())
    providers: dict = field(default_factory=lambda: {"detector": "CPUExecutionProvider",
                                                     "wham": "cpu"})

    def __post_init__(self):
        self._lock = threading.Lock()
        self._ages = {}

    def add_imu(self, sample: ImuSample) -> bool:
        if not np.all(np.isfinite(sample.angular_velocity)):
            return False
        self.imu.append(sample)
        return True

    def reset(self) -> None:
        self.resets += 1
        self._ages.clear()

    def process(self, frame: CameraFrame, full_mesh=None) -> FrameResult:
        """Humans for one frame; vertices when ``full_mesh`` (None: ``cfg.publish_vertices``)."""
        with self._lock:
            self.frames.append(frame)
            self.full_mesh_calls.append(full_mesh)
            self.cfg.gate.wait()
            if self.cfg.delay_s:
                time.sleep(self.cfg.delay_s)
            humans = []
            for tid in range(1, self.cfg.num_people + 1):
                age = self._ages.get(tid, 0) + 1  # WHAM steps, 1 on the first
                self._ages[tid] = age
                humans.append(make_human(tid, age, frame.stamp_ns * 1e-9, with_vertices=(
                    self.cfg.publish_vertices if full_mesh is None else full_mesh)))
            return FrameResult(stamp_ns=frame.stamp_ns, frame_id=frame.frame_id,
                               world_frame_id=self.cfg.world_frame_id, humans=humans,
                               timings_ms={"total": 1.0}, K=frame.K,
                               image_size=(frame.image.shape[1], frame.image.shape[0]))
