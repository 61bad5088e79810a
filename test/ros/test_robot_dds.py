"""On a simulated robot over DDS (scenario_robot.py, in a loopback-only network namespace):
the composed node with ``fixed_frame: odom``, the real Pipeline and the synthetic models, a
robot driving and panning its head while it publishes, and a client whose real
``tf2_ros.Buffer`` looks every body frame up in odom at its stamp -- with the gyro, and with
``camera_motion: tf`` and no IMU.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import netns  # noqa: E402

from wham_ros.testing.robot_world import RobotWorld  # noqa: E402


@pytest.fixture(scope="module")
def tf2():
    """The real tf2_ros (a ROS installation's) for the client; skipped with the reason when absent."""
    import ros_env

    ok, reason = ros_env.tf2_check()
    if not ok:
        pytest.skip(reason)


@pytest.fixture(scope="module", params=["imu", "tf"])
def run(request, tf2, synthetic_models):
    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_robot.py"), str(synthetic_models),
                               request.param], timeout=400)
    return netns.result_of(proc, f"scenario_robot {request.param}")


def test_outputs_in_odom_and_body_frames_resolve_while_driving(run):
    arrays = run["arrays"]
    assert len(arrays) >= 3
    assert all(a["world_frame_id"] == "odom" for a in arrays)
    lookups = run["lookups"]
    assert lookups and not [e for e in lookups if "error" in e]
    assert any(e["during_drive"] for e in lookups)  # looked up while the robot still drove
    for e in lookups:  # the body frame in odom is the published world root
        np.testing.assert_allclose(e["odom_body"], e["root_world"], atol=1e-5)
    world = RobotWorld(start_ns=run["start_ns"])
    for e in (e for e in lookups if e["age"] == 1):  # placed where the camera saw it
        T = world.T_odom_cam((e["stamp"] - run["start_ns"]) * 1e-9)
        np.testing.assert_allclose(e["root_world"], T[:3, :3] @ e["root_cam"] + T[:3, 3], atol=0.02)


def test_gyro_and_tf_disagreement_on_diagnostics(run):
    g = run["grounding"]
    assert g["fixed_frame"] == "odom" and g["world_skipped_frames"] == 0
    if g["camera_motion"] == "imu":
        # The simulated gyro agrees with TF (no bias, no noise) only through the IMU mount, which
        # the node took from TF (imu_to_camera_quat_xyzw left at identity; the mount is not).
        assert not np.allclose(RobotWorld().R_cam_imu(), np.eye(3))
        assert g["gyro_tf_disagreement_deg_s"] is not None and g["gyro_tf_disagreement_deg_s"] < 0.5
    else:
        assert g["gyro_tf_disagreement_deg_s"] is None


def test_no_frame_gets_a_second_parent(run):
    parents = {}
    for parent, child in run["tf_pairs"]:
        parents.setdefault(child, set()).add(parent)
    assert all(len(p) == 1 for p in parents.values()), parents
    assert "camera_optical_frame" not in parents  # on /tf_static only, never re-published
    assert {c for c, p in parents.items() if p == {"odom"}} >= {"base_link"}
    assert any(c.startswith("body_") for c in parents)


def test_fixed_frame_that_never_appears_fails_activate(tf2, synthetic_models):
    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_robot.py"), str(synthetic_models),
                               "missing"], timeout=120)
    out = netns.result_of(proc, "scenario_robot missing")
    assert out["activate"] == "FAILURE" and out["state"] == "inactive"
    assert out["elapsed_s"] >= 3.0
    assert ("fixed_frame 'map' did not appear in TF within tf_timeout_s=3 s; TF has base_link, "
            "camera_link, camera_optical_frame, head_pan_link, imu_link, odom") in proc.stderr


def test_without_a_fixed_frame_the_camera_frame_keeps_its_parent(tf2, synthetic_models):
    """The node's own wham_world: bodies under it, but no wham_world -> camera transform, since
    the robot's tree already parents the camera frame."""
    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_robot.py"), str(synthetic_models),
                               "nofixed"], timeout=400)
    out = netns.result_of(proc, "scenario_robot nofixed")
    assert len(out["arrays"]) >= 3 and all(a["world_frame_id"] == "wham_world" for a in out["arrays"])
    parents = {}
    for parent, child in out["tf_pairs"]:
        parents.setdefault(child, set()).add(parent)
    assert "camera_optical_frame" not in parents  # the robot's is on /tf_static only
    assert {c for c, p in parents.items() if p == {"wham_world"}} >= {"body_b1"}
    assert ("camera frame 'camera_optical_frame' already has the TF parent 'camera_link'"
            in proc.stderr)
