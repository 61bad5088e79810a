"""The WHAM nodes end to end with the real Pipeline and the synthetic model set, over DDS.

Scenario runs (scenario_real.py, in a loopback-only network namespace) play a synthetic
scene (a red and a green person, a panning camera with a 200 Hz IMU) into the nodes.
``composed``: the composed node gets raw rgb8/bgr8 images, then, after a lifecycle
reconfigure, jpeg/png CompressedImages. ``split``: the raw case through the front-end node
and the WHAM-stage node.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import netns  # noqa: E402

CAMERA_FRAME = "scene_cam_optical"
CASES = ("raw", "compressed")


@pytest.fixture(scope="module")
def scenario(synthetic_models):
    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_real.py"), "composed",
                               str(synthetic_models)], timeout=240)
    return netns.result_of(proc, "scenario_real composed"), proc.stderr


@pytest.fixture(scope="module")
def split(synthetic_models):
    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_real.py"), "split",
                               str(synthetic_models)], timeout=240)
    return netns.result_of(proc, "scenario_real split")


@pytest.mark.parametrize("case", CASES)
def test_two_people_with_stable_ids_and_image_stamps(scenario, case):
    out = scenario[0][case]
    assert [m["stamp"] for m in out["humans"]] == out["stamps"]  # one HumanArray per image
    # min_hits = 2: nobody on the first frame, then the red and green person: ids 1, 2, and
    # after the reactivation 3, 4 (ids are never reused within the process).
    ids = [1, 2] if case == "raw" else [3, 4]
    assert [[p["track_id"] for p in m["people"]] for m in out["humans"]] == [[]] + [ids] * 6
    for i, m in enumerate(out["humans"]):
        assert m["frame_id"] == CAMERA_FRAME and m["world_frame_id"] == "wham_world"
        for p in m["people"]:
            assert p["body_id"] == f"b{p['track_id']}" and p["age"] == i
            assert p["frame_id"] == CAMERA_FRAME and p["world_frame_id"] == "wham_world"
    last = {p["track_id"]: p for p in out["humans"][-1]["people"]}
    assert last[ids[0]]["bbox"][0] < 160 < last[ids[1]]["bbox"][0]  # red left, green right


@pytest.mark.parametrize("case", CASES)
def test_plausible_bodies(scenario, case):
    for m in scenario[0][case]["humans"]:
        for p in m["people"]:
            assert p["trans_cam"][2] > 0.5  # in front of the camera
            assert p["n_smpl"] == [24, 24] and p["n_coco"] == [17, 17]
            assert len(p["contact"]) == 4 and p["n_contact_points"] == 4
            assert all(0.0 <= c <= 1.0 for c in p["contact"])
            assert p["quat_world_norm"] == pytest.approx(1.0, abs=1e-6)
            assert p["finite"] and p["n_vertices"] == 0  # publish_vertices is false
            assert np.all(np.isfinite(p["trans_world"]))


@pytest.mark.parametrize("case", CASES)
def test_tf_bodies_and_camera(scenario, case):
    out = scenario[0][case]
    by_stamp = {}
    for stamp, parent, child, quat in out["tf"]:
        assert parent == (child[:-len("_smpl")] if child.endswith("_smpl") else "wham_world")
        assert np.linalg.norm(quat) == pytest.approx(1.0, abs=1e-6)
        by_stamp.setdefault(stamp, set()).add(child)
    stamps = out["stamps"]
    assert by_stamp[stamps[0]] == {CAMERA_FRAME}  # nobody yet, but the camera is placed
    ids = (1, 2) if case == "raw" else (3, 4)  # ids continue after the reactivation
    for t in stamps[1:]:
        assert by_stamp[t] == {f"body_b{ids[0]}", f"body_b{ids[1]}", f"body_b{ids[0]}_smpl",
                               f"body_b{ids[1]}_smpl", CAMERA_FRAME}


def test_camera_tf_follows_the_pan(scenario):
    """The scene pans at 0.2 rad/s about the optical y axis (z up in the world)."""
    out = scenario[0]["raw"]
    cams = [np.array(q) for _, _, child, q in out["tf"] if child == CAMERA_FRAME]
    dot = abs(float(np.dot(cams[0], cams[-1])))
    angle = 2.0 * np.arccos(min(dot, 1.0))
    assert angle == pytest.approx(0.2 * 6 / 30, abs=2e-3)


@pytest.mark.parametrize("case", CASES)
def test_skeleton_and_contact_markers(scenario, case):
    out = scenario[0][case]
    assert len(out["markers"]) == len(out["stamps"])
    a, b = (1, 2) if case == "raw" else (3, 4)  # ids continue after the reactivation
    for arr in out["markers"][1:]:
        body = {(ns, mid): (typ, n) for ns, mid, typ, frame, n in arr[1:]}
        assert body == {("skeleton", a): (5, 46), ("contacts", a): (7, 4),
                        ("skeleton", b): (5, 46), ("contacts", b): (7, 4)}
        assert all(frame == "wham_world" for _, _, _, frame, _ in arr)


def test_mesh_markers_while_subscribed(scenario):
    """mesh_rate_hz 1000 and a subscriber: vertices on every frame, a TRIANGLE_LIST of
    13776 x 3 corners per person."""
    out = scenario[0]["raw"]
    assert out["full_mesh_calls"] == [True] * len(out["stamps"])
    assert len(out["mesh"]) == len(out["stamps"])
    assert out["mesh"][0] == [["", 0, 0, 0]]  # nobody yet: DELETEALL only
    for arr in out["mesh"][1:]:
        assert arr[1:] == [["mesh", 1, 11, 13776 * 3], ["mesh", 2, 11, 13776 * 3]]


def test_no_mesh_without_subscriber(scenario):
    """Without a mesh subscriber (and publish_vertices false) no vertices are computed."""
    out = scenario[0]["compressed"]
    assert out["full_mesh_calls"] == [False] * len(out["stamps"])
    assert out["mesh"] == []


def test_latched_faces(scenario):
    assert scenario[0]["faces"] == {"num_vertices": 6890, "n_triangles": 13776}


def test_diagnostics_report_providers_and_counts(scenario):
    out, log = scenario
    values = out["diagnostics"]["values"]
    assert out["diagnostics"]["name"] == "wham: pipeline"
    for stage in ("detector", "keypoints", "encoder"):
        assert values[f"execution_provider.{stage}"] == "CPUExecutionProvider"
    assert values["execution_provider.wham"] == "cpu"
    assert int(values["received_frames"]) == 7 and int(values["dropped_frames"]) == 0
    assert int(values["active_tracks"]) == 2 and int(values["pipeline_errors"]) == 0
    assert out["invalid_inputs"] == {}
    assert "activated; execution providers" in log


def test_split_nodes_give_the_composed_result(scenario, split):
    composed, out = scenario[0]["raw"], split["raw"]
    assert out["stamps"] == composed["stamps"]
    for a, b in zip(out["humans"], composed["humans"]):
        assert (a["stamp"], a["frame_id"], a["world_frame_id"]) == (b["stamp"], b["frame_id"],
                                                                    b["world_frame_id"])
        assert [p["track_id"] for p in a["people"]] == [p["track_id"] for p in b["people"]]
        for pa, pb in zip(a["people"], b["people"]):
            assert pa["age"] == pb["age"]
            np.testing.assert_allclose(pa["trans_cam"], pb["trans_cam"], atol=1e-4)
            np.testing.assert_allclose(pa["trans_world"], pb["trans_world"], atol=1e-4)
            np.testing.assert_allclose(pa["contact"], pb["contact"], atol=1e-4)
    assert sorted(t[:3] for t in out["tf"]) == sorted(t[:3] for t in composed["tf"])
    assert out["markers"] == composed["markers"]
    assert out["mesh"] == composed["mesh"] and split["faces"] == scenario[0]["faces"]


def test_split_observation_messages(split):
    obs = split["observations"]
    assert [m["stamp"] for m in obs] == split["raw"]["stamps"]
    assert [m["ids"] for m in obs] == [[]] + [[1, 2]] * 6
    for m in obs:
        assert m["frame_id"] == CAMERA_FRAME and m["size"] == [320, 240] and m["ended"] == []
        assert m["k"] == [400.0, 0.0, 160.0, 0.0, 400.0, 120.0, 0.0, 0.0, 1.0]  # the CameraInfo
    fe, stage = split["stats"]["frontend"], split["stats"]["stage"]
    assert fe["providers"] == {s: "CPUExecutionProvider" for s in ("detector", "keypoints", "encoder")}
    assert stage["providers"] == {"wham": "cpu"}
    assert fe["processed_frames"] == stage["processed_frames"] == 7
    assert stage["received_imu"] > 0 and fe["received_imu"] == 0
