"""Camera motion sources -> cam_angvel: WHAM's causal convention, parity with the demo's rows.

Tolerances: parity with the reference ``cam_angvel`` (float32, computed from DPVO quaternions)
2e-6 absolute (the fixture's own float32 rounding is <= 1.1e-6); slerp-interpolated
orientations at 100 Hz vs truth 5e-3 (cam_angvel units, ~1.7e-4 rad; slerp error
of a rate changing by up to 5 rad/s^2 over 10 ms is ~6e-5 rad); IMU source as in
test_imu_integrator (0.02).
"""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from geometry_sim import NS, ImuModel, Rig, feed, frame_stamps_ns, true_relative_rotations  # noqa: E402

from wham_ros.geometry.camera_motion import (  # noqa: E402
    ImuCameraMotion, OrientationCameraMotion, StaticCameraMotion, relative_rotation_to_cam_angvel)
from wham_ros.geometry.imu import ImuConfig, ImuIntegrator  # noqa: E402
from wham_ros.geometry.rotations import matrix_to_rotation_6d  # noqa: E402
from wham_ros.geometry.so3 import exp_so3, matrix_to_quat_xyzw, quat_xyzw_to_matrix  # noqa: E402

DATA = Path(__file__).parent / "data" / "wham_T24_geometry.npz"


def test_formula_matches_wham_definition_with_world_to_camera_rotations():
    """cam_angvel_t = (6D(R_{t-1} R_t^T) - 6D(I)) * 30 with R world->camera (torch reference 6D)."""
    rng = np.random.default_rng(0)
    C_prev = exp_so3(rng.normal(size=3))
    C_cur = C_prev @ exp_so3(np.array([0.0, 0.02, 0.0]))  # camera yaws about its own y (optical) axis
    R_prev, R_cur = C_prev.T, C_cur.T  # world -> camera
    expected = (matrix_to_rotation_6d(torch.from_numpy(R_prev @ R_cur.T)).numpy()
                - np.array([1, 0, 0, 0, 1, 0])) * 30
    ours = relative_rotation_to_cam_angvel(C_prev.T @ C_cur)
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    # Sign: +0.02 rad about optical y -> R = [[c,0,s],[0,1,0],[-s,0,c]] -> row 0 = (c-1, 0, s) * 30.
    np.testing.assert_allclose(ours[[0, 2]], [(np.cos(0.02) - 1) * 30, np.sin(0.02) * 30], atol=1e-12)


def test_orientation_source_reproduces_reference_rows_causally():
    """Reference demo rows look one frame ahead: demo[t] = ours[t + 1]; ours[0] = 0."""
    d = np.load(DATA)
    slam, ref = d["raw_slam"], d["cam_angvel"]  # (T, 7) [t, q_xyzw] camera->world; (T, 6)
    assert float(d["raw_fps"]) == 30.0
    src = OrientationCameraMotion()
    stamps = (np.arange(len(slam)) * NS / 30).astype(np.int64)
    for s, q in zip(stamps, slam[:, 3:]):
        assert src.add(int(s), q)
    ours = [src.step(None, int(stamps[0])).cam_angvel]
    for a, b in zip(stamps[:-1], stamps[1:]):
        m = src.step(int(a), int(b))
        assert m.valid
        ours.append(m.cam_angvel)
    ours = np.array(ours)
    np.testing.assert_array_equal(ours[0], np.zeros(6))
    np.testing.assert_allclose(ours[1:], ref[:-1], atol=2e-6)
    assert np.abs(ref[:-1]).max() > 0.05  # the fixture camera does rotate


def test_static_source_gives_zeros():
    src = StaticCameraMotion()
    for prev in (None, 0):
        m = src.step(prev, 33_000_000)
        np.testing.assert_array_equal(m.cam_angvel, np.zeros(6))
        assert m.valid


def test_imu_source_matches_truth():
    rig = Rig()
    imu = ImuModel(rate_hz=250.0, seed=21)
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu, fixed_bias_rad_s=imu.bias_rad_s))
    feed(integ, imu.samples(rig, 2.0))
    src = ImuCameraMotion(integ)
    stamps = frame_stamps_ns(1.9)
    truth = relative_rotation_to_cam_angvel(true_relative_rotations(rig, stamps))
    ours = np.array([src.step(int(a), int(b)).cam_angvel for a, b in zip(stamps[:-1], stamps[1:])])
    np.testing.assert_allclose(ours, truth, atol=0.02)
    np.testing.assert_array_equal(src.step(None, int(stamps[0])).cam_angvel, np.zeros(6))


def test_orientation_source_interpolates_between_samples():
    rig = Rig()
    t = np.arange(0.0, 2.0, 0.01)  # 100 Hz odometry
    C = rig.orientations(t)
    src = OrientationCameraMotion()
    for ti, Ci in zip(t, C):
        src.add(int(round(ti * NS)), matrix_to_quat_xyzw(Ci))
    stamps = frame_stamps_ns(1.9, jitter_s=0.003)
    truth = relative_rotation_to_cam_angvel(true_relative_rotations(rig, stamps))
    ours = np.array([src.step(int(a), int(b)).cam_angvel for a, b in zip(stamps[:-1], stamps[1:])])
    np.testing.assert_allclose(ours, truth, atol=5e-3)
    late = src.step(int(stamps[-1]), int(2.5 * NS))
    assert not late.valid


def test_orientation_source_rejects_bad_input():
    src = OrientationCameraMotion()
    assert not src.step(0, 10).valid  # nothing received yet
    assert src.add(100, np.array([0.0, 0.0, 0.0, 1.0]))
    assert not src.add(200, np.array([np.nan, 0.0, 0.0, 1.0]))
    assert not src.add(200, np.zeros(4))
    assert not src.add(200, np.diag([1.0, 1.0, -1.0]))  # reflection
    assert not src.add(100, np.array([0.0, 0.0, 0.0, 1.0]))  # duplicate stamp
    assert not src.add(50, np.array([0.0, 0.0, 0.0, 1.0]))  # backwards
    assert src.add(300, quat_xyzw_to_matrix(np.array([0.0, 0.0, 0.1, 1.0])))
    assert src.rejected.counts == {"bad_orientation": 3, "bad_stamp": 2}
