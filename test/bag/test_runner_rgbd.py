"""``wham-ros run`` on a RealSense-like RGB-D recording with the real pipeline.

The synthetic scene (:mod:`wham_ros.testing.depth_scene`) has two people at known positions
3.8-5.6 m away in front of a wall, a static camera and an aligned depth image. The test
models' keypoints are not a body's (most fall outside the box), and WHAM's monocular
distance on them is far off, so only the depth placement can put people at their range.
"""
import numpy as np
import pytest

from synthetic_set import load_paths
from test_runner import read_back
from test_runner_e2e import write_config
from wham_ros.offline.runner import main
from wham_ros.testing.depth_scene import (COLOUR_FRAME, PEOPLE, TOPICS, make_depth_scene,
                                          write_rgbd_bag)

N_FRAMES = 20
TOLERANCE_M = 0.2


@pytest.fixture(scope="module")
def scene():
    return make_depth_scene(N_FRAMES)


def _position(pose):
    return np.array([pose.position.x, pose.position.y, pose.position.z])


def ranges(bag, scene):
    """Per Human past its third frame: (root_source, |error of the range| m, frame index)."""
    out = []
    for i, (_, msg) in enumerate(bag["/human_pose"]):
        for h in msg.humans:
            if h.age <= 3:
                continue
            # the person whose true hip projects nearest the box centre
            cx = 0.5 * (h.bbox_xyxy[0] + h.bbox_xyxy[2])
            p = min(scene.hips[i], key=lambda k: abs(
                scene.K[0, 0] * scene.hips[i][k][0] / scene.hips[i][k][2] + scene.K[0, 2] - cx))
            err = abs(np.linalg.norm(_position(h.root_pose_cam)) - np.linalg.norm(scene.hips[i][p]))
            out.append((h.root_source, err, i))
    return out


def run_bag(tmp_path, typestore, synthetic_models, scene, encoding, depth_frames=None,
            args=("--depth-topic", "auto"), **config):
    write_rgbd_bag(tmp_path / "in", typestore, scene, encoding, depth_frames=depth_frames)
    cfg = write_config(tmp_path / "wham.yaml", load_paths(synthetic_models), mesh_rate_hz=0.0,
                       camera_motion="static", **config)
    rc = main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--config", str(cfg),
               "--no-progress", *args])
    assert rc == 0
    bag = read_back(tmp_path / "out", typestore)
    assert [t for t, _ in bag["/human_pose"]] == scene.stamps_ns  # a HumanArray per image
    assert all(m.header.frame_id == COLOUR_FRAME for _, m in bag["/human_pose"])
    return bag


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_people_at_their_depth_range(tmp_path, typestore, synthetic_models, scene, encoding, caplog):
    """10 % holes (0 in 16UC1, NaN in 32FC1); the colour topic and the aligned depth found by
    themselves (no --image-topic, depth_topic auto)."""
    caplog.set_level("INFO")
    bag = run_bag(tmp_path, typestore, synthetic_models, scene, encoding)
    assert f"image topic {TOPICS['color']} (rgb8, colour)" in caplog.text
    assert f"depth topic {TOPICS['aligned']}" in caplog.text
    rows = ranges(bag, scene)
    assert len(rows) >= 2 * (N_FRAMES - 6)
    good = [err <= TOLERANCE_M for _, err, _ in rows]
    assert np.mean(good) >= 0.9, rows
    assert all(src == "depth" for src, _, _ in rows)
    check_velocities(bag, scene)
    # Monocular, WHAM's synthetic estimate is nowhere near (the depth placement did the work).
    mono = run_monocular(tmp_path, typestore, synthetic_models, scene)
    assert np.mean([err > TOLERANCE_M for _, err, _ in mono]) > 0.5


def check_velocities(bag, scene):
    """Human.root_velocity_world (and REP-155 velocity) is the rate of the published world
    positions, and with depth the true walking speed, along the range (level static camera:
    world x is the camera's forward axis; across it people follow WHAM's ray, which the test
    models make jitter), once its 0.3 s window is past the track's start."""
    dt = (scene.stamps_ns[1] - scene.stamps_ns[0]) * 1e-9
    for tid, (_, z0, z1) in zip((1, 2), PEOPLE):  # red (1) on the left, green (2)
        speed = (z1 - z0) / ((scene.stamps_ns[-1] - scene.stamps_ns[0]) * 1e-9)
        rows = [h for _, m in bag["/human_pose"] for h in m.humans if h.track_id == tid]
        p = np.array([_position(h.root_pose_world) for h in rows])
        v = np.array([[h.root_velocity_world.x, h.root_velocity_world.y, h.root_velocity_world.z]
                      for h in rows])
        rep155 = [m.twist.linear for _, m in bag[f"/humans/bodies/b{tid}/velocity"]]
        np.testing.assert_allclose(v, [[t.x, t.y, t.z] for t in rep155])
        late = [i for i, h in enumerate(rows) if h.age >= 12]
        assert len(late) >= 3
        for i in late:  # along the range (world x), where depth places them
            moved = (p[i, 0] - p[i - 6, 0]) / (6 * dt)
            assert abs(v[i, 0] - moved) < 0.2 and abs(v[i, 0] - speed) < 0.2, (tid, i, v[i], moved)


def run_monocular(tmp_path, typestore, synthetic_models, scene):
    cfg = write_config(tmp_path / "mono.yaml", load_paths(synthetic_models), mesh_rate_hz=0.0,
                       camera_motion="static")
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "mono"), "--config", str(cfg),
                 "--no-progress", "--no-inputs"]) == 0
    bag = read_back(tmp_path / "mono", typestore)
    assert all(h.root_source == "monocular" for _, m in bag["/human_pose"] for h in m.humans)
    return ranges(bag, scene)


def test_depth_stream_that_stops_half_way(tmp_path, typestore, synthetic_models, scene):
    """depth_topic from the config; after the stream stops every frame runs monocular."""
    half = N_FRAMES // 2
    bag = run_bag(tmp_path, typestore, synthetic_models, scene, "16UC1", depth_frames=half,
                  args=(), depth_topic=TOPICS["aligned"])
    rows = ranges(bag, scene)
    before = [r for r in rows if r[2] < half]
    after = [r for r in rows if r[2] >= half]
    assert before and after
    assert all(src == "depth" for src, _, _ in before)
    assert np.mean([err <= TOLERANCE_M for _, err, _ in before]) >= 0.9
    assert all(src == "monocular" for src, _, _ in after)
    # World positions keep the last depth correction: no jump when depth stops.
    for tid in (1, 2):
        world = [(i, _position(h.root_pose_world)) for i, (_, m) in enumerate(bag["/human_pose"])
                 for h in m.humans if h.track_id == tid]
        steps = [np.linalg.norm(b - a) for (_, a), (_, b) in zip(world, world[1:])]
        assert max(steps) < 0.3, steps
