"""``wham-ros demo``: synthetic models + recording through the real offline runner; the
command as a user runs it makes no warning, and its output keeps every documented range."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from wham_ros.bag.typestore import make_typestore
from wham_ros.cli.demo import main

ROOT = Path(__file__).resolve().parents[2]


def test_demo_writes_models_recording_and_output(tmp_path, capsys):
    assert main([str(tmp_path / "demo"), "--frames", "6"]) == 0
    out = capsys.readouterr().out
    assert "output bag" in out and "/human_pose/mesh_faces" in out
    for f in ("wham_vit_bedlam_w_3dpw.pth.tar", "detector.onnx", "vitpose.onnx", "hmr2.onnx",
              "body_models/smpl/SMPL_NEUTRAL.npz"):
        assert (tmp_path / "demo" / "models" / f).is_file(), f
    with AnyReader([tmp_path / "demo" / "output"]) as reader:
        conns = [c for c in reader.connections if c.topic == "/human_pose"]
        msgs = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=conns)]
    assert len(msgs) == 6
    assert sorted(h.track_id for h in msgs[-1].humans) == [1, 2]
    # a second run into the same folder refuses to overwrite
    assert main([str(tmp_path / "demo"), "--frames", "6"]) == 2


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``wham-ros demo DIR`` with its defaults, as a user runs it: (DIR, stdout + stderr)."""
    out = tmp_path_factory.mktemp("demo_cli") / "demo"
    proc = subprocess.run([sys.executable, "-m", "wham_ros.cli.main", "demo", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout + proc.stderr


def test_demo_makes_no_warning_of_its_own(demo_run):
    out, text = demo_run
    lines = [line for line in text.splitlines() if "warning" in line.lower()]
    assert lines == []
    # the recording gives the IMU mounting and a camera at rest: both are used, not guessed
    assert "IMU -> camera rotation from the bag's /tf_static" in text


def test_demo_writes_the_video_and_the_picture(demo_run):
    import cv2

    out, text = demo_run
    assert (out / "render.mp4").stat().st_size > 0
    picture = cv2.imread(str(out / "picture.png"))
    assert picture is not None and picture.shape == (240, 640, 3)  # half of overlay | world view
    assert (out / "picture.png").stat().st_size < 300_000
    assert picture.std() > 10  # a drawing, not a blank frame


# Every field of msg/*.msg whose comment gives a numeric range; each is checked below.
CHECKED_RANGES = {("Human", "contact"), ("Human", "keypoint_scores")}


def test_every_documented_range_is_checked():
    documented = set()
    for path in sorted((ROOT / "msg").glob("*.msg")):
        for line in path.read_text().splitlines():
            code, _, comment = line.partition("#")
            if code.split() and re.search(r"\[\s*-?[\d.]+\s*,\s*-?[\d.]+\s*\]", comment):
                documented.add((path.stem, code.split()[1]))
    assert documented == CHECKED_RANGES


def _messages(folder: Path, match):
    with AnyReader([folder], default_typestore=make_typestore()) as reader:
        conns = [c for c in reader.connections if match(c.topic)]
        return [(c.topic, reader.deserialize(raw, c.msgtype))
                for c, _, raw in reader.messages(connections=conns)]


def _in_unit_interval(values) -> bool:
    a = np.asarray(values, dtype=np.float64)
    return bool(np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0)


def test_published_values_keep_their_documented_ranges(demo_run):
    """Every range and relation msg/Human.msg, HumanArray.msg, MeshFaces.msg and the REP-155
    messages document, on the demo's output (the test models' ViTPose heatmap maxima reach
    1.1-1.8: published clipped)."""
    out, _ = demo_run
    arrays = [m for _, m in _messages(out / "output", lambda t: t == "/human_pose")]
    humans = [h for m in arrays for h in m.humans]
    assert len(arrays) == 60 and len(humans) > 60
    clipped = 0
    for m in arrays:
        ids = [h.track_id for h in m.humans]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)  # ascending track_id
        for h in m.humans:
            assert h.world_frame_id == m.world_frame_id and h.header.frame_id == m.header.frame_id
            assert _in_unit_interval(h.contact), h.contact                  # [0, 1]
            assert _in_unit_interval(h.keypoint_scores), h.keypoint_scores  # [0, 1]
            clipped += int(np.sum(h.keypoint_scores == 1.0))
            thr = h.contact_threshold
            assert h.left_foot_contact == bool(h.contact[[0, 1]].max() >= thr)
            assert h.right_foot_contact == bool(h.contact[[2, 3]].max() >= thr)
            assert h.age >= 1 and h.state == (0 if h.age == 1 else 1)
            assert h.body_id == f"b{h.track_id}"
            for pose in (h.root_pose_cam, h.root_pose_world):
                q = pose.orientation
                assert abs(np.linalg.norm([q.x, q.y, q.z, q.w]) - 1.0) < 1e-5  # unit quaternion
            assert len(h.vertices_cam) in (0, 6890 * 3)
            assert np.all(np.isfinite(h.body_pose)) and np.isfinite(h.heading_rate)
    assert clipped > 0  # the raw scores above 1 were there, and were clipped
    (_, faces), = _messages(out / "output", lambda t: t == "/human_pose/mesh_faces")
    assert faces.num_vertices == 6890 and len(faces.triangles) % 3 == 0
    assert faces.triangles.max() < faces.num_vertices
    hri = _messages(out / "output", lambda t: t.endswith(("/skeleton2d", "/roi")))
    assert hri
    for topic, m in hri:  # hri_msgs: "normalized and must belong to [0.,1.]", c in [0, 1]
        if topic.endswith("/roi"):
            assert _in_unit_interval([m.xmin, m.ymin, m.xmax, m.ymax, m.c])
            assert m.xmin <= m.xmax and m.ymin <= m.ymax
        else:
            assert _in_unit_interval([v for p in m.skeleton for v in (p.x, p.y, p.c)])
