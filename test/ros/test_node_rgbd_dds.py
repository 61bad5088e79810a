"""The composed node (and the split front-end + WHAM-stage nodes) with an aligned depth stream
over DDS (scenario_rgbd.py): people at their true range while depth comes, monocular and said
on /diagnostics once it stops, a bad depth image refused once."""
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import netns  # noqa: E402

TOLERANCE_M = 0.2


@pytest.fixture(scope="module", params=["composed", "split"])
def scenario(synthetic_models, request):
    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_rgbd.py"), request.param,
                               str(synthetic_models)], timeout=300)
    return netns.result_of(proc, f"scenario_rgbd {request.param}")


def test_people_at_their_depth_range_then_monocular(scenario):
    from wham_ros.testing.depth_scene import make_depth_scene

    scene = make_depth_scene(len(scenario["stamps"]), start_ns=scenario["start_ns"])
    assert [m["stamp"] for m in scenario["humans"]] == scenario["stamps"]  # one per image
    half, before, after = scenario["half"], [], []
    for i, m in enumerate(scenario["humans"]):
        for p in m["people"]:
            if p["age"] <= 3:
                continue
            cx = 0.5 * (p["bbox"][0] + p["bbox"][2])
            hip = min(scene.hips[i].values(), key=lambda h: abs(
                scene.K[0, 0] * h[0] / h[2] + scene.K[0, 2] - cx))
            err = abs(np.linalg.norm(p["root_cam"]) - np.linalg.norm(hip))
            (before if i < half else after).append((p["root_source"], err))
    assert before and after
    assert all(src == "depth" for src, _ in before)
    assert np.mean([err <= TOLERANCE_M for _, err in before]) >= 0.9, before
    assert all(src == "monocular" for src, _ in after)


def test_diagnostics_and_bad_depth(scenario):
    values = scenario["diagnostics"]["values"]
    assert values["depth_topic"] == "/camera/aligned_depth_to_color/image_raw"
    assert int(values["frames_without_depth"]) >= scenario["half"]
    assert 0.0 < float(values["depth_share"]) < 1.0
    assert float(values["depth_age_s"]) > 1.0
    assert scenario["invalid_inputs"] == {"depth_encoding": 1}


def test_paired_with_message_filters(scenario):
    """The node pairs through message_filters (built into the test environment by
    tools/build_ros.sh) when the environment has it."""
    import importlib.util
    import ros_env

    ros_env.activate()
    expected = "CacheStore" if importlib.util.find_spec("message_filters") else "DepthCache"
    assert scenario["pairing"] == expected
