"""REP-155 body topics of the WHAM node over real DDS, against a generated hri_msgs."""
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import netns  # noqa: E402


def test_rep155_topics_over_dds():
    from wham_ros.body.rep155 import JOINT_NAMES

    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_hri.py"), "main"])
    if "No module named 'hri_msgs'" in proc.stderr:
        pytest.skip("no hri_msgs build (run bash tools/build_ros.sh)")
    out = netns.result_of(proc, "REP-155 scenario")
    assert out["tracked"] == ["b1", "b2"]
    # FakePipeline: box (10, 20, 110, 220) px on a 64 x 48 image -> clipped to [0, 1]
    assert out["roi"][:4] == pytest.approx([10 / 64, 20 / 48, 1.0, 1.0])
    assert out["roi"][4] == "test_cam_optical"
    assert out["skeleton_len"] == 18
    assert out["velocity"] == pytest.approx(["test_world", 0.1, 0.0, 0.4])
    assert out["joint_names"] == [f"{n}_b2" for n in JOINT_NAMES]
    assert len(out["joint_positions"]) == 20
    assert out["urdf_root"] == "body_b2"
    assert out["publishers_while_recent"] == 1  # gone 0.03 s: still there
    assert out["publishers_after_timeout"] == 0 and out["body1_publishers"] == 1
    assert out["tracked_last"] == ["b1"]


def test_without_hri_msgs_the_node_says_so_once():
    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_hri.py"), "no_hri"])
    out = netns.result_of(proc, "no-hri scenario")
    assert out["topics"] == []
    assert proc.stderr.count("hri_msgs is not installed") == 1


def test_overlay_only_while_subscribed():
    out = netns.result_of(netns.run_isolated(
        [sys.executable, str(HERE / "scenario_hri.py"), "overlay"]), "overlay scenario")
    assert not any(out["mesh_calls_unsubscribed"])  # no subscriber: no mesh, no drawing
    assert out["mesh_call_subscribed"] is True  # overlay_mode mesh
    o = out["overlay"]
    assert o["stamp"] == 10_000_000_000 + 3 * 33_000_000 and o["frame_id"] == "test_cam_optical"
    assert o["encoding"] == "rgb8" and o["size"] == [64, 48] and o["step"] == 64 * 3
    # the camera image with the people drawn over part of it
    assert 0.02 < out["changed_fraction"] < 0.9
