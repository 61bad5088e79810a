"""ImuIntegrator against a simulated rig: accuracy, bias, extrinsic, gaps and bad input.

Tolerances (per camera frame, 30 Hz, rig rates up to ~1.5 rad/s, gyro noise 0.005 rad/s
per sample, stamps jittered by +-30 % of the IMU period):
    * ROT_TOL_RAD = 6e-4 rad (0.034 deg) max geodesic error of ``C_{t-1}^T C_t``; the noise
      alone gives ~1.1e-4 rad rms (sigma * sqrt(T_frame * T_imu) per axis), discretisation
      (noise-free) < 1e-5 rad.
    * ANGVEL_TOL = 0.02 max |error| of a ``cam_angvel`` component (30 x the 6D error).
    * Bias estimated from a 2 s rest at 400 Hz: within 1.5e-3 rad/s per axis (~7 sigma).
"""
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from geometry_sim import ImuModel, Rig, feed, frame_stamps_ns, true_relative_rotations  # noqa: E402

from wham_ros.geometry.camera_motion import relative_rotation_to_cam_angvel  # noqa: E402
from wham_ros.geometry.imu import ImuConfig, ImuError, ImuIntegrator  # noqa: E402
from wham_ros.geometry.so3 import angle_between, exp_so3  # noqa: E402
from wham_ros.types import ImuSample  # noqa: E402

ROT_TOL_RAD = 6e-4
ANGVEL_TOL = 0.02
BIAS_TOL_RAD_S = 1.5e-3


def _integrate_all(integ, stamps):
    results = [integ.relative_rotation(a, b) for a, b in zip(stamps[:-1], stamps[1:])]
    return np.array([r.delta_R for r in results]), np.array([r.valid for r in results])


@pytest.mark.parametrize("rate_hz", [200.0, 400.0])
def test_relative_rotation_matches_truth(rate_hz):
    rig = Rig()
    imu = ImuModel(rate_hz=rate_hz, seed=int(rate_hz))
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu, fixed_bias_rad_s=imu.bias_rad_s))
    assert feed(integ, imu.samples(rig, 3.2)) > 0
    stamps = frame_stamps_ns(3.1, jitter_s=0.003)
    est, valid = _integrate_all(integ, stamps)
    truth = true_relative_rotations(rig, stamps)
    err = angle_between(truth, est)
    assert valid.all()
    assert err.max() < ROT_TOL_RAD, err.max()
    # The rig really rotates: per-frame rotations are ~50x the tolerance.
    assert angle_between(truth, np.eye(3)).max() > 50 * ROT_TOL_RAD
    d_angvel = relative_rotation_to_cam_angvel(truth) - relative_rotation_to_cam_angvel(est)
    assert np.abs(d_angvel).max() < ANGVEL_TOL


def test_constant_rate_is_exact_for_any_boundaries():
    """A constant rate integrates to exp(w dt) whatever the sample / frame alignment."""
    w_cam = np.array([0.3, -1.1, 0.7])
    R_ci = exp_so3(np.array([0.2, 0.5, -2.0]))
    integ = ImuIntegrator(ImuConfig(R_cam_imu=R_ci, estimate_bias=False))
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.uniform(1e6, 6e6, 400)).astype(np.int64)
    for ti in t:
        integ.add(ImuSample(int(ti), R_ci.T @ w_cam))
    for a, b in [(t[3] + 123, t[40] - 77), (t[10], t[11]), (t[100] + 1, t[100] + 2_000_000)]:
        r = integ.relative_rotation(int(a), int(b))
        assert r.valid
        np.testing.assert_allclose(r.delta_R, exp_so3(w_cam * (b - a) / 1e9), atol=1e-12)


def test_bias_estimated_at_rest_then_used():
    bias = np.array([0.03, -0.04, 0.02])
    rig = Rig(rest_s=2.0)
    imu = ImuModel(rate_hz=400.0, bias_rad_s=bias, seed=7)
    samples = imu.samples(rig, 4.0)
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu))
    feed(integ, samples)
    assert integ.bias_estimated
    np.testing.assert_allclose(integ.bias, bias, atol=BIAS_TOL_RAD_S)
    assert not integ.at_rest  # the rig moves at the end
    stamps = frame_stamps_ns(3.9, start_s=2.0)
    est, _ = _integrate_all(integ, stamps)
    truth = true_relative_rotations(rig, stamps)
    assert angle_between(truth, est).max() < ROT_TOL_RAD
    # Without any bias correction the same frames are clearly worse (the test can fail).
    raw = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu, estimate_bias=False))
    feed(raw, samples)
    est_raw, _ = _integrate_all(raw, stamps)
    assert angle_between(truth, est_raw).max() > 2 * ROT_TOL_RAD


def test_fixed_bias_parameter_wins_over_estimator():
    bias = np.array([0.01, 0.0, -0.01])
    integ = ImuIntegrator(ImuConfig(fixed_bias_rad_s=bias))
    feed(integ, ImuModel(rate_hz=200.0, bias_rad_s=np.array([0.05, 0.05, 0.05])).samples(Rig(rest_s=3.0), 2.0))
    np.testing.assert_array_equal(integ.bias, bias)
    with pytest.raises(ImuError):
        ImuIntegrator(ImuConfig(fixed_bias_rad_s=np.array([np.nan, 0.0, 0.0])))


def test_extrinsic_is_applied():
    """A non-trivial camera<-IMU rotation is needed; identity or the transpose fail."""
    rig = Rig()
    imu = ImuModel(rate_hz=400.0, seed=11)
    samples = imu.samples(rig, 2.0)
    stamps = frame_stamps_ns(1.9)
    truth = true_relative_rotations(rig, stamps)
    errors = {}
    for name, R in [("true", imu.R_cam_imu), ("identity", np.eye(3)), ("transpose", imu.R_cam_imu.T)]:
        integ = ImuIntegrator(ImuConfig(R_cam_imu=R, fixed_bias_rad_s=imu.bias_rad_s))
        feed(integ, samples)
        errors[name] = angle_between(truth, _integrate_all(integ, stamps)[0]).max()
    assert errors["true"] < ROT_TOL_RAD
    assert errors["identity"] > 20 * ROT_TOL_RAD and errors["transpose"] > 20 * ROT_TOL_RAD
    # The extrinsic can also be set later (e.g. when TF appears).
    integ = ImuIntegrator(ImuConfig(fixed_bias_rad_s=imu.bias_rad_s))
    integ.set_extrinsic(imu.R_cam_imu)
    feed(integ, samples)
    assert angle_between(truth, _integrate_all(integ, stamps)[0]).max() < ROT_TOL_RAD
    with pytest.raises(ImuError):
        integ.set_extrinsic(np.diag([1.0, 1.0, -1.0]))


def test_gaps_flag_frames_invalid():
    rig = Rig()
    imu = ImuModel(rate_hz=300.0, gaps_s=[(1.00, 1.09), (2.00, 2.03)], seed=5)
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu, fixed_bias_rad_s=imu.bias_rad_s,
                                    max_gap_ns=50_000_000))
    feed(integ, imu.samples(rig, 3.0))
    stamps = frame_stamps_ns(2.9)
    est, valid = _integrate_all(integ, stamps)
    lo, hi = stamps[:-1] / 1e9, stamps[1:] / 1e9
    touches_big_gap = (hi > 1.00) & (lo < 1.09)
    assert not valid[touches_big_gap].any()
    assert valid[~touches_big_gap].all()  # the 30 ms gap is below max_gap_ns
    err = angle_between(true_relative_rotations(rig, stamps), est)
    assert err[valid].max() < ROT_TOL_RAD
    # Across the 30 ms gap the interpolated rate is still a close estimate.
    small_gap = (hi > 2.00) & (lo < 2.03)
    assert small_gap.any() and err[small_gap].max() < 3 * ROT_TOL_RAD


def test_interval_edge_cases():
    integ = ImuIntegrator()
    r = integ.relative_rotation(0, 10)
    assert not r.valid and "no IMU data" in r.reason
    for k in range(20):
        integ.add(ImuSample(1_000_000_000 + k * 5_000_000, np.array([0.0, 0.0, 1.0])))
    t_last = 1_000_000_000 + 19 * 5_000_000
    assert integ.relative_rotation(1_010_000_000, 1_010_000_000).valid
    back = integ.relative_rotation(1_020_000_000, 1_010_000_000)
    assert not back.valid and np.array_equal(back.delta_R, np.eye(3))
    assert integ.relative_rotation(t_last - 10_000_000, t_last + 15_000_000).valid  # short hold
    late = integ.relative_rotation(t_last - 10_000_000, t_last + 100_000_000)
    assert not late.valid and "after" in late.reason
    assert integ.covers(t_last) and not integ.covers(t_last + 1)


def _clean_stream(n=300, dt_ns=2_500_000, seed=0, start_ns=1_000_000_000):
    rng = np.random.default_rng(seed)
    return [ImuSample(start_ns + k * dt_ns, rng.normal(0.0, 0.5, 3), rng.normal(0.0, 0.1, 3) + [0, 0, 9.8])
            for k in range(n)]


def test_bad_samples_rejected_with_warning_and_do_not_poison(caplog):
    clean = _clean_stream(start_ns=30_000_000_000)
    ref = ImuIntegrator(ImuConfig(estimate_bias=False))
    feed(ref, clean)
    bad = [
        ("non_finite", ImuSample(clean[50].stamp_ns + 1, np.array([np.nan, 0.0, 0.0]))),
        ("non_finite", ImuSample(clean[51].stamp_ns + 1, np.array([0.0, np.inf, 0.0]))),
        ("bad_shape", ImuSample(clean[52].stamp_ns + 1, np.zeros(0))),  # zero-length
        ("bad_shape", ImuSample(clean[53].stamp_ns + 1, np.zeros(2))),
        ("bad_shape", ImuSample(clean[54].stamp_ns + 1, "fast")),
        ("spike", ImuSample(clean[55].stamp_ns + 1, np.array([0.0, 500.0, 0.0]))),
        ("duplicate", ImuSample(clean[56].stamp_ns, np.array([3.0, 3.0, 3.0]))),
        ("bad_stamp", ImuSample(-5, np.zeros(3))),
        ("bad_stamp", ImuSample(30.5e9, np.zeros(3))),  # float, not int ns
        ("late", ImuSample(clean[57].stamp_ns - 20_000_000_000, np.zeros(3))),  # time went back 20 s
    ]
    integ = ImuIntegrator(ImuConfig(estimate_bias=False))
    caplog.set_level(logging.WARNING, logger="wham_ros.geometry.imu")
    feed(integ, clean[:100])
    for _, sample in bad:
        assert integ.add(sample) is False
    for _, sample in bad:  # repeated: counted but no new warning
        integ.add(sample)
    feed(integ, clean[100:])
    expected = {}
    for cause, _ in bad:
        expected[cause] = expected.get(cause, 0) + 2
    assert integ.rejected.counts == expected
    warned = [r.getMessage() for r in caplog.records]
    for cause in expected:
        assert sum(f"({cause}, 1 so far)" in m for m in warned) == 1, cause
    assert any("expected <= max_rate_rad_s" in m for m in warned)
    assert len(integ) == len(ref)
    for a, b in [(30_050_000_000, 30_300_000_000), (30_100_000_000, 30_133_333_333)]:
        np.testing.assert_array_equal(integ.relative_rotation(a, b).delta_R, ref.relative_rotation(a, b).delta_R)


def test_bad_accel_and_orientation_keep_the_gyro():
    integ = ImuIntegrator()
    s = ImuSample(1000, np.array([0.1, 0.0, 0.0]), linear_acceleration=np.array([np.nan, 0, 9.8]),
                  orientation_xyzw=np.zeros(4))
    assert integ.add(s)
    assert integ.rejected.counts == {"bad_accel": 1, "bad_orientation": 1}
    gyro, accel, stamps, orient = integ.recent(1000, 10)
    assert gyro.shape == (1, 3) and accel.shape == (0, 3) and orient is None


def test_out_of_order_samples_are_inserted():
    clean = _clean_stream(seed=1)
    ref = ImuIntegrator(ImuConfig(estimate_bias=False))
    feed(ref, clean)
    order = np.arange(len(clean))
    for k in range(10, len(clean) - 1, 7):  # swap neighbours
        order[k], order[k + 1] = order[k + 1], order[k]
    integ = ImuIntegrator(ImuConfig(estimate_bias=False))
    assert feed(integ, clean, order) == len(clean)
    np.testing.assert_array_equal(integ.relative_rotation(1_010_000_000, 1_700_000_000).delta_R,
                                  ref.relative_rotation(1_010_000_000, 1_700_000_000).delta_R)


def test_clock_jump_back_resets_buffer(caplog):
    integ = ImuIntegrator(ImuConfig(estimate_bias=False, clock_reset_samples=20))
    feed(integ, _clean_stream(n=100, seed=2, start_ns=60_000_000_000))
    caplog.set_level(logging.WARNING, logger="wham_ros.geometry.imu")
    restarted = _clean_stream(n=100, seed=3, start_ns=30_000_000_000)  # a bag that loops: 30 s back
    feed(integ, restarted)
    assert any("clock jumped back" in r.getMessage() for r in caplog.records)
    assert integ.rejected.counts["late"] == 20
    assert len(integ) == 80 and integ.newest_stamp_ns == restarted[-1].stamp_ns


def test_extrapolation_past_the_newest_sample_holds_its_rate_exactly():
    """An interval wholly after the newest sample integrates that sample's rate: the same
    bits as an interval between two samples of that same rate."""
    rng = np.random.default_rng(3)
    held = ImuIntegrator(ImuConfig())
    for k in range(50):
        held.add(ImuSample(10**9 + k * 5_000_000, rng.normal(size=3) * 0.5))
    last = held._stamps[-1]
    for _ in range(200):
        a = last + int(rng.integers(0, 20_000_000))
        b = a + int(rng.integers(1, 50_000_000))
        bridge = ImuIntegrator(ImuConfig())
        for t, w in zip(held._stamps, held._gyro):
            bridge.add(ImuSample(t, w))
        bridge.add(ImuSample(b + 1_000_000, held._gyro[-1]))  # the same rate after the interval
        got, want = held.relative_rotation(a, b), bridge.relative_rotation(a, b)
        np.testing.assert_array_equal(got.delta_R, want.delta_R)
    assert held.relative_rotation(last, last + 10**9).valid is False  # far beyond: not valid


def test_integration_does_not_depend_on_the_epoch():
    """Stamps since 1970 (about 1.7e18 ns, beyond float64's integer range) give the rotations
    of the same samples near zero: interpolation weights are taken in integer nanoseconds."""
    rng = np.random.default_rng(4)
    rates = rng.normal(size=(200, 3)) * 0.5
    offsets = np.arange(200) * 5_000_000 + rng.integers(0, 1000, 200)
    near, epoch = ImuIntegrator(ImuConfig()), ImuIntegrator(ImuConfig())
    base = 1_700_000_000 * 10**9 + 123
    for w, t in zip(rates, offsets):
        near.add(ImuSample(10**9 + int(t), w))
        epoch.add(ImuSample(base + int(t), w))
    for _ in range(300):
        a = int(rng.integers(-50_000_000, 1_000_000_000))
        b = a + int(rng.integers(1, 80_000_000))
        want = near.relative_rotation(10**9 + a, 10**9 + b)
        got = epoch.relative_rotation(base + a, base + b)
        np.testing.assert_allclose(got.delta_R, want.delta_R, rtol=0, atol=1e-15)
        assert (got.valid, got.n_samples) == (want.valid, want.n_samples)


def test_exp_product_equals_the_product_of_exponentials():
    from wham_ros.geometry.so3 import exp_so3_product

    rng = np.random.default_rng(5)
    for n in (0, 1, 3, 8):
        vecs = rng.normal(size=(n, 3)) * rng.choice([1e-9, 1e-3, 0.5, 3.0], size=(n, 1))
        want = np.eye(3)
        for v in vecs:
            want = want @ exp_so3(v)
        np.testing.assert_allclose(exp_so3_product(vecs.tolist()), want, rtol=0, atol=1e-14)
