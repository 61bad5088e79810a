"""Time of every output message builder for 1 and 4 people (no ROS graph needed).

Each builder goes from the pipeline's ``FrameResult`` to the serialised CDR bytes the node
publishes and the runner writes (:mod:`wham_ros.ros.outputs`, :class:`CdrFactory`):
``human_array`` (HumanArray without vertices), ``human_array_vertices`` (with the 6890
vertices per person), ``skeleton_markers``, ``mesh_markers`` (SMPL TRIANGLE_LIST, 41,328
points per person), ``tf``, and ``frame_outputs`` (all of a frame that publishes the mesh,
rotations shared). ``mesh_markers_objects`` is the same mesh built as ``rosbags`` message
objects and serialised by rosbags (the object path, for comparison).

Times are the building thread's CPU time (``time.thread_time``; the builders are
single-threaded), so other processes on a shared machine do not inflate them.

Run: ``.venv/bin/python bench/bench_ros.py [--iters N] [--json]`` (``--json`` prints
``{"mesh_markers": {"1": ms, "4": ms}, ...}``, medians).
"""
import argparse
import json
import statistics
import time

import numpy as np

from wham_ros.bag.typestore import make_typestore
from wham_ros.ros import conversions, markers
from wham_ros.ros.factory import RosbagsFactory
from wham_ros.ros.outputs import frame_output_bytes
from wham_ros.ros.serialization import CdrFactory
from wham_ros.types import FrameResult, HumanEstimate

N_VERTICES, N_FACES = 6890, 13776  # SMPL
VALUES = {"contact_threshold": 0.5, "publish_vertices": False, "publish_tf": True,
          "publish_camera_tf": True}


def rotations(rng, n):
    """(n, 3, 3) random rotation matrices."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q *= np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1
    return q


def human(rng, track_id: int) -> HumanEstimate:
    """An estimate with the real pipeline's shapes (values random)."""
    return HumanEstimate(
        track_id=track_id, age=5, global_orient_cam=rotations(rng, 1)[0],
        global_orient_world=rotations(rng, 1)[0], body_pose=rotations(rng, 23),
        betas=rng.normal(size=10), trans_cam=rng.normal(size=3), trans_world=rng.normal(size=3),
        smpl_joints_cam=rng.normal(size=(24, 3)), smpl_joints_world=rng.normal(size=(24, 3)),
        coco_joints_cam=rng.normal(size=(17, 3)), coco_joints_world=rng.normal(size=(17, 3)),
        contact=rng.uniform(size=4), feet_world=rng.normal(size=(4, 3)),
        keypoints2d=rng.uniform(0, 500, size=(17, 3)), bbox_xyxy=np.array([10.0, 20, 200, 400]),
        vertices_cam=rng.normal(size=(N_VERTICES, 3)))


def frame(people: int) -> FrameResult:
    rng = np.random.default_rng(people)
    return FrameResult(stamp_ns=1_700_000_000_000_000_000, frame_id="camera_optical_frame",
                       world_frame_id="world", humans=[human(rng, i + 1) for i in range(people)],
                       T_world_camera=np.eye(4))


def builders(typestore, faces):
    f = CdrFactory(typestore)
    rb = RosbagsFactory(typestore)
    return {
        "human_array": lambda r: f.serialize(conversions.result_to_msg(f, r, 0.5, False)),
        "human_array_vertices": lambda r: f.serialize(conversions.result_to_msg(f, r, 0.5, True)),
        "skeleton_markers": lambda r: f.serialize(markers.skeleton_markers(f, r, 0.5)),
        "mesh_markers": lambda r: f.serialize(markers.mesh_markers(f, r, faces)),
        "tf": lambda r: f.serialize(conversions.tf_msg(f, r, True, True)),
        "frame_outputs": lambda r: frame_output_bytes(f, r, VALUES, faces, mesh=True),
        "mesh_markers_objects": lambda r: typestore.serialize_cdr(
            markers.mesh_markers(rb, r, faces), markers.MARKER_ARRAY),
    }


def run(iters: int) -> dict:
    """{builder: {"1": median ms, "4": median ms}}."""
    typestore = make_typestore()
    faces = np.random.default_rng(0).integers(0, N_VERTICES, size=(N_FACES, 3))
    out = {}
    for name, build in builders(typestore, faces).items():
        out[name] = {}
        for people in (1, 4):
            result = frame(people)
            build(result)  # warm-up (layouts, buffers)
            times = []
            for _ in range(iters if name != "mesh_markers_objects" else max(1, iters // 10)):
                t0 = time.thread_time()
                build(result)
                times.append((time.thread_time() - t0) * 1e3)
            out[name][str(people)] = statistics.median(times)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=50, help="timed builds per builder and size")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    res = run(args.iters)
    if args.json:
        print(json.dumps(res))
        return
    print("| message builder (to CDR bytes) | 1 person ms | 4 people ms |")
    print("|---|---|---|")
    for name, ms in res.items():
        print(f"| {name} | {ms['1']:.2f} | {ms['4']:.2f} |")


if __name__ == "__main__":
    main()
