"""Rest detection and gyro bias: slow pans are motion, rest is found at any time, bounded memory.

The rig (wham_ros.testing.imu_rig) gives exact rates and orientations; the IMU has white noise
(2.5e-4 rad/s/sqrt(Hz), a consumer MEMS gyro), a random-walk bias and jittered stamps.
Tolerances: a bias from >= 3 s of rest at 200-400 Hz is within ~1.5e-4 rad/s per axis (noise
density 2.5e-4 / sqrt(>= 3 s)), 4 sigma -> 6e-4 is the bound used; a 30 s pan after 8 s of rest
integrates within 3 % (bias error ~1e-4 rad/s x 30 s is 1 % of the slowest, 0.01 rad/s, pan).
"""
import numpy as np
import pytest

from wham_ros.geometry.frames import WorldFrame
from wham_ros.geometry.imu import ImuConfig, ImuIntegrator
from wham_ros.geometry.so3 import angle_between, exp_so3, orthonormalize, project_to_so3
from wham_ros.testing.imu_rig import NS, LongRig, NoisyImu, Segment
from wham_ros.types import ImuSample

BIAS_TOL = 6e-4


def _run(rig, imu, integ, every_s=0.25):
    """Feed all samples; record (t, at_rest, bias) every ``every_s`` of IMU time."""
    samples, true_bias = imu.samples(rig)
    log, next_t = [], 0.0
    for s in samples:
        integ.add(s)
        if s.stamp_ns / NS >= next_t:
            log.append((s.stamp_ns / NS, integ.at_rest, integ.bias))
            next_t += every_s
    return samples, true_bias, log


@pytest.mark.parametrize("pan_rad_s", [0.01, 0.03, 0.1])
def test_slow_pan_is_not_rest_and_integrates(pan_rad_s):
    """A steady pan about gravity (the accelerometer does not see it) is never taken for bias."""
    rig = LongRig([Segment("rest", 8.0), Segment("pan", 30.0, (pan_rad_s, 0.0, 0.0)), Segment("rest", 3.0)])
    imu = NoisyImu(rate_hz=400.0, seed=11)
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu))
    samples, true_bias, log = _run(rig, imu, integ)
    at_start = next(b for t, _, b in log if t >= 8.0)
    np.testing.assert_allclose(at_start, true_bias[np.searchsorted([s.stamp_ns for s in samples], 8 * NS)],
                               atol=BIAS_TOL)
    # From the first window without rest samples (8 s + one window + ramp) to the pan's end.
    during = [(t, rest, b) for t, rest, b in log if 9.5 <= t <= 38.0]
    assert not any(rest for _, rest, _ in during)
    for _, _, b in during:  # no update while moving
        np.testing.assert_array_equal(b, during[0][2])
    np.testing.assert_allclose(during[0][2], at_start, atol=1e-4)
    # The pan integrates to the true angle (rest to rest) with the bias learnt before it.
    whole = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu, fixed_bias_rad_s=at_start, buffer_ns=60 * NS))
    for s in samples:
        whole.add(s)
    t0, t1 = int(7.8 * NS), int(38.5 * NS)
    est = whole.relative_rotation(t0, t1).delta_R
    C = rig.orientations(np.array([t0, t1]) / NS)
    true_angle = angle_between(C[0], C[1])
    assert true_angle == pytest.approx(pan_rad_s * 30.0, rel=0.02)
    assert angle_between(np.eye(3), est) == pytest.approx(true_angle, rel=0.03)
    assert integ.at_rest  # the final rest is found again


def test_rest_found_after_the_history_is_full():
    """12 s of motion first (10 s of history are full by then), then rest: the bias is learnt."""
    rig = LongRig([Segment("move", 12.0, (0.6, 0.4, 0.3)), Segment("rest", 5.0)])
    imu = NoisyImu(rate_hz=200.0, seed=3)
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu))
    _, true_bias, log = _run(rig, imu, integ)
    assert not any(rest for t, rest, _ in log if 1.0 < t < 12.0)
    assert integ.at_rest and integ.bias_estimated
    np.testing.assert_allclose(integ.bias, true_bias[-1], atol=BIAS_TOL)
    assert integ.status().bias_source == "estimated"


def test_first_rest_with_unknown_bias_and_bias_bound():
    """Before any bias is known, a steady rate above max_bias_rad_s is motion, not bias."""
    integ = ImuIntegrator(ImuConfig(max_bias_rad_s=0.05))
    for k in range(1200):  # 3 s at 400 Hz of a steady 0.08 rad/s rotation
        integ.add(ImuSample(k * 2_500_000, np.array([0.0, 0.0, 0.08])))
    assert not integ.at_rest and not integ.bias_estimated
    for k in range(1200, 2400):  # then 0.03 rad/s: a believable bias
        integ.add(ImuSample(k * 2_500_000, np.array([0.0, 0.0, 0.03])))
    assert integ.at_rest and np.allclose(integ.bias, [0.0, 0.0, 0.03])


def test_status_reports_drift_since_rest():
    rig = LongRig([Segment("rest", 4.0), Segment("pan", 20.0, (0.05, 0.0, 0.0)), Segment("rest", 3.0)])
    imu = NoisyImu(rate_hz=200.0, seed=5)
    samples, _ = imu.samples(rig)
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu))
    unknown = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu))
    seen = {}
    for s in samples:
        integ.add(s)
        t = s.stamp_ns / NS
        for mark in (3.9, 14.0, 23.9, 26.9):
            if mark not in seen and t >= mark:
                seen[mark] = integ.status()
    s0, s1, s2, s3 = (seen[m] for m in (3.9, 14.0, 23.9, 26.9))
    assert s0.at_rest and s0.bias_source == "estimated" and s0.drift_since_rest_rad < 1e-3
    assert not s1.at_rest and 9.0 < s1.time_since_rest_s < 11.0
    assert s0.drift_since_rest_rad < s1.drift_since_rest_rad < s2.drift_since_rest_rad < np.radians(1.0)
    assert s3.at_rest and s3.drift_since_rest_rad < 1e-3 and s3.time_since_rest_s < 0.5
    assert s3.heading_drift_rad >= s2.drift_since_rest_rad * 0.99  # the pan's drift stays in the heading
    # Moving from the start: the bias is unknown, the possible drift grows with max_bias_rad_s.
    moving = LongRig([Segment("move", 10.0, (0.6, 0.4, 0.3))])
    for s in imu.samples(moving)[0]:
        unknown.add(s)
    st = unknown.status()
    assert st.bias_source == "unknown" and st.drift_since_rest_rad > np.radians(30.0)


def test_history_is_a_bounded_time_window():
    integ = ImuIntegrator(ImuConfig(buffer_ns=2 * NS, max_samples=5000))
    for k in range(20_000):  # 20 s at 1 kHz
        integ.add(ImuSample(k * 1_000_000, np.zeros(3)))
    assert len(integ) == 2001
    fast = ImuIntegrator(ImuConfig(buffer_ns=2 * NS, max_samples=5000))
    for k in range(20_000):  # 10 kHz: the sample cap holds first
        fast.add(ImuSample(k * 100_000, np.zeros(3)))
    assert len(fast) == 5000


def test_orthonormalize_matches_svd_projection():
    rng = np.random.default_rng(0)
    R = exp_so3(rng.normal(size=(50, 3)))
    noisy = R + rng.normal(0.0, 3e-5, R.shape)  # within is_rotation's 1e-4
    np.testing.assert_allclose(orthonormalize(noisy, iterations=2), project_to_so3(noisy), atol=1e-12)
    # Composing many steps keeps the camera orientation on SO(3) without any SVD.
    world = WorldFrame()
    step = exp_so3(np.array([0.01, -0.02, 0.015]))
    for _ in range(20_000):
        world.apply_relative_rotation(step)
    R_wc = world.camera_pose()[0]
    assert np.abs(R_wc.T @ R_wc - np.eye(3)).max() < 1e-14
    expected = WorldFrame().camera_pose()[0] @ exp_so3(20_000 * np.array([0.01, -0.02, 0.015]))
    assert angle_between(R_wc, expected) < 1e-9


def test_fixed_bias_rest_uses_the_integrated_angle():
    """A fixed bias a little off (2e-3 rad/s) still finds rest; a 0.01 rad/s pan is still motion."""
    rig = LongRig([Segment("rest", 3.0), Segment("pan", 10.0, (0.01, 0.0, 0.0)), Segment("rest", 3.0)])
    imu = NoisyImu(rate_hz=400.0, seed=8)
    off = imu.bias0_rad_s + np.array([0.002, 0.0, 0.0])
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu, fixed_bias_rad_s=off))
    _, _, log = _run(rig, imu, integ)
    assert all(rest for t, rest, _ in log if 1.2 < t < 3.0)
    assert not any(rest for t, rest, _ in log if 4.5 < t < 12.5)
    assert integ.at_rest and integ.status().bias_source == "fixed"
