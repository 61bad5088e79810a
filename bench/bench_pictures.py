"""Time of the picture and REP-155 outputs per frame, for 1 and 4 people (no ROS graph).

* ``overlay_mesh`` / ``overlay_skeleton``: :func:`wham_ros.render.overlay.render_overlay` on a
  640 x 480 image (``human_pose/overlay``, ``--render`` left half); the mesh is the synthetic
  SMPL template (6890 vertices, 13776 triangles) about 3 m in front of the camera.
* ``world_view``: :class:`wham_ros.render.world_view.WorldView` (``--render`` right half).
* ``rep155``: every REP-155 message of a frame (ids, roi, skeleton2d, velocity, joint_states;
  the URDF only on a body's first frame, not timed) as ``rosbags`` messages.

Times are the calling thread's CPU time (``time.thread_time``), medians.

Run: ``.venv/bin/python bench/bench_pictures.py [--iters N] [--json]``.
"""
import argparse
import json
import statistics
import time

import numpy as np

from wham_ros.bag.typestore import make_typestore
from wham_ros.render.overlay import render_overlay
from wham_ros.render.world_view import WorldView
from wham_ros.ros.factory import RosbagsFactory
from wham_ros.ros.hri import Rep155Bodies
from wham_ros.testing.synthetic_wham import synthetic_smpl_arrays
from wham_ros.types import FrameResult, HumanEstimate

W, H = 640, 480
K = np.array([[600.0, 0.0, W / 2], [0.0, 600.0, H / 2], [0.0, 0.0, 1.0]])


def human(template: np.ndarray, track_id: int, x: float) -> HumanEstimate:
    """A person standing upright (SMPL y up -> camera -y) ``x`` m right, 3 m ahead."""
    flip = np.diag([1.0, -1.0, -1.0])  # SMPL body (y up, z forward) -> camera optical, facing it
    trans = np.array([x, 0.2, 3.0])
    verts = template @ flip.T
    verts = verts - verts.mean(0) + trans
    joints = verts[np.linspace(0, len(verts) - 1, 24).astype(int)]
    world = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    return HumanEstimate(
        track_id=track_id, age=2, global_orient_cam=flip, global_orient_world=world @ flip,
        body_pose=np.stack([np.eye(3)] * 23), betas=np.zeros(10), trans_cam=trans,
        trans_world=world @ trans, smpl_joints_cam=joints, smpl_joints_world=joints @ world.T,
        coco_joints_cam=joints[:17], coco_joints_world=joints[:17] @ world.T,
        contact=np.array([0.9, 0.1, 0.2, 0.8]), feet_world=joints[[7, 10, 8, 11]] @ world.T,
        keypoints2d=np.concatenate([np.random.default_rng(track_id).uniform(0, 480, (17, 2)),
                                    np.full((17, 1), 0.9)], 1),
        bbox_xyxy=np.array([100.0, 50.0, 300.0, 450.0]), vertices_cam=verts)


def timed(fn, iters: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(iters):
        t0 = time.thread_time()
        fn()
        times.append((time.thread_time() - t0) * 1e3)
    return statistics.median(times)


def run(iters: int) -> dict:
    smpl = synthetic_smpl_arrays()
    template, faces = np.asarray(smpl["v_template"], float), np.asarray(smpl["f"], np.int64)
    image = np.full((H, W, 3), 90, np.uint8)
    f = RosbagsFactory(make_typestore())
    out = {}
    for people in (1, 4):
        result = FrameResult(1, "cam", "world", K=K, image_size=(W, H), T_world_camera=np.eye(4),
                             humans=[human(template, i + 1, -0.9 + 0.6 * i) for i in range(people)])
        bodies = Rep155Bodies()
        bodies.update(f, result)  # URDFs (first frame)
        view = WorldView(W, H)
        for name, fn in (("overlay_mesh", lambda: render_overlay(image, result, faces)),
                         ("overlay_skeleton", lambda: render_overlay(image, result, faces, mode="skeleton")),
                         ("world_view", lambda: view.render(result, faces)),
                         ("rep155", lambda: bodies.update(f, result))):
            out.setdefault(name, {})[str(people)] = timed(fn, iters)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=10, help="timed runs per output and size")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    res = run(args.iters)
    if args.json:
        print(json.dumps(res))
        return
    print("| output (640 x 480) | 1 person ms | 4 people ms |")
    print("|---|---|---|")
    for name, ms in res.items():
        print(f"| {name} | {ms['1']:.1f} | {ms['4']:.1f} |")


if __name__ == "__main__":
    main()
