"""WorldGrounding end to end: 60 Hz camera + 400 Hz IMU on a tilted rotating rig.

Tolerances as in test_imu_integrator (cam_angvel 0.02) and test_gravity_frames (camera
orientation in the shared world 5e-3 rad after ~1.5 s of gyro tracking; position 2 cm).
"""
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from geometry_sim import NS, ImuModel, Rig  # noqa: E402

from wham_ros.geometry.camera_motion import relative_rotation_to_cam_angvel  # noqa: E402
from wham_ros.geometry.frames import R_ZUP_YDOWN, make_transform  # noqa: E402
from wham_ros.geometry.gravity import level_rotation  # noqa: E402
from wham_ros.geometry.grounding import GroundingConfig, WorldGrounding  # noqa: E402
from wham_ros.geometry.imu import ImuConfig  # noqa: E402
from wham_ros.geometry.so3 import angle_between  # noqa: E402

DOWN = np.array([0.0, 0.0, -1.0])


def test_imu_stream_end_to_end():
    rig = Rig(rest_s=2.0)  # bias: a rest of one window + half a window (the first half is skipped)
    imu = ImuModel(rate_hz=400.0, seed=33)
    samples = imu.samples(rig, 3.8)
    g = WorldGrounding(GroundingConfig(imu=ImuConfig(R_cam_imu=imu.R_cam_imu)))
    frames = np.round(np.arange(1.9, 3.6, 1 / 60) * NS).astype(np.int64)
    # Interleave: each frame is processed once the IMU has covered its stamp.
    i, steps = 0, []
    for stamp in frames:
        while i < len(samples) and samples[i].stamp_ns <= stamp + 5_000_000:
            g.add_imu(samples[i])
            i += 1
        out = g.on_frame(int(stamp))
        if out.step:
            assert out.valid, out.reason
            steps.append((int(stamp), out.cam_angvel))
    stamps = np.array([s for s, _ in steps])
    np.testing.assert_array_equal(stamps, frames[::2])  # 60 Hz -> every 2nd frame
    C = rig.orientations(stamps / NS)
    truth = relative_rotation_to_cam_angvel(np.swapaxes(C[:-1], -1, -2) @ C[1:])
    np.testing.assert_allclose(np.array([a for _, a in steps[1:]]), truth, atol=0.02)
    np.testing.assert_array_equal(steps[0][1], np.zeros(6))
    # The world is gravity aligned and follows the camera.
    R_shared_sim = R_ZUP_YDOWN @ level_rotation(C[0].T @ DOWN) @ C[0].T
    R_wc, _ = g.world.camera_pose()
    assert g.world.gravity_known
    assert angle_between(R_wc, R_shared_sim @ C[-1]) < 5e-3
    # A track starting now, standing 5 m ahead: init_root upright, placed at its observed position.
    root_sim = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]).T  # columns: left, up, forward (+y)
    root_cam = C[-1].T @ root_sim
    init6 = g.start_track(7, root_cam)
    assert abs(init6[4] + 1.0) < 5e-3  # second row of the level-frame root: body up = -y (y-down world)
    hip_sim = np.array([5.0, 0.5, -0.4])
    assert g.track_update(7, C[-1].T @ hip_sim, np.array([0.02, 0.0, 0.01]))  # first output: placed
    np.testing.assert_allclose(g.to_world(7, np.array([0.02, 0.0, 0.01])), R_shared_sim @ hip_sim, atol=0.02)
    g.end_track(7)
    assert 7 not in g.anchors


def test_no_imu_falls_back_to_camera_frame_world(caplog):
    caplog.set_level(logging.WARNING, logger="wham_ros.geometry.grounding")
    g = WorldGrounding(GroundingConfig(camera_motion="static"))
    with pytest.raises(RuntimeError):
        g.start_track(1, np.eye(3))
    out = g.on_frame(1_000_000_000)
    assert out.step and np.array_equal(out.cam_angvel, np.zeros(6))
    assert not g.world.gravity_known
    assert any("No gravity direction at start" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(g.world.camera_pose()[0], R_ZUP_YDOWN)
    np.testing.assert_allclose(g.start_track(1, np.eye(3)), [1, 0, 0, 0, 1, 0])  # WHAM default init_root
    out = g.on_frame(1_033_333_333)
    assert out.step and np.array_equal(out.cam_angvel, np.zeros(6))
    with pytest.raises(ValueError, match="Unknown camera_motion"):
        WorldGrounding(GroundingConfig(camera_motion="slam"))


def test_tf_mode_uses_tf_orientations():
    """camera_motion 'tf': cam_angvel is the rotation between the TF camera poses of the steps."""
    rig = Rig()
    g = WorldGrounding(GroundingConfig(camera_motion="tf", fixed_frame="odom",
                                       frame_rate_mode="every_frame"))
    frames = np.round(np.arange(0.1, 0.9, 1 / 30) * NS).astype(np.int64)
    C = rig.orientations(frames / NS)
    rows = [g.on_frame(int(s), make_transform(Ci, np.zeros(3))).cam_angvel for s, Ci in zip(frames, C)]
    truth = relative_rotation_to_cam_angvel(np.swapaxes(C[:-1], -1, -2) @ C[1:])
    np.testing.assert_allclose(np.array(rows[1:]), truth, atol=1e-9)
    assert angle_between(g.world.camera_pose()[0], C[-1]) < 1e-9  # the world is the fixed frame


def test_modes_that_would_do_nothing_are_refused():
    with pytest.raises(ValueError, match="orientation"):
        WorldGrounding(GroundingConfig(camera_motion="orientation"))
    with pytest.raises(ValueError, match="fixed_frame"):
        WorldGrounding(GroundingConfig(camera_motion="tf"))


def test_frames_ahead_of_the_imu_are_measured_later():
    """Frames processed before their IMU samples arrived (a lagging IMU callback) are flagged
    invalid and shown extrapolated; once the samples are in, the world is the same as if they had
    been on time (nothing lost or doubled; tolerance: gravity noise of the start, 2e-3 rad)."""
    rig = Rig(rest_s=2.0)
    imu = ImuModel(rate_hz=400.0, seed=34)
    samples = imu.samples(rig, 4.2)
    frames = np.round(np.arange(1.9, 3.9, 1 / 30) * NS).astype(np.int64)
    final = int(frames[-1]) + 33_333_334

    def run(lag_ns):
        g = WorldGrounding(GroundingConfig(imu=ImuConfig(R_cam_imu=imu.R_cam_imu)))
        i, invalid = 0, 0
        for stamp in list(frames) + [final]:
            if stamp == final:
                lag_ns = -5_000_000  # the IMU has caught up
            while i < len(samples) and samples[i].stamp_ns <= stamp - lag_ns:
                g.add_imu(samples[i])
                i += 1
            out = g.on_frame(int(stamp))
            assert out.step
            invalid += not out.valid
        return g.world.camera_pose()[0], invalid, out.valid

    R_on_time, invalid_on_time, _ = run(0)
    R_late, invalid_late, last_valid = run(150_000_000)
    assert invalid_on_time == 0 and invalid_late >= len(frames) - 2 and last_valid
    C = rig.orientations(np.array([frames[0], final]) / NS)
    assert angle_between(C[0], C[1]) > 0.3  # the rig turns meanwhile
    assert angle_between(R_on_time, R_late) < 2e-3
