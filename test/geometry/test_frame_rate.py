"""FrameRatePolicy: which camera frames WHAM steps on, for cameras of various rates."""
import logging

import numpy as np
import pytest

from wham_ros.geometry.frame_rate import FrameRatePolicy

NS = 1_000_000_000


def _run(policy, fps, seconds=4.0, jitter_s=0.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds, 1.0 / fps) + rng.uniform(-jitter_s, jitter_s, int(np.ceil(seconds * fps)))
    stamps = np.round(t * NS).astype(np.int64)
    decisions = [policy.decide(int(s)) for s in stamps]
    steps = np.array([d.step for d in decisions])
    return stamps, steps, decisions


@pytest.mark.parametrize("fps, stride", [(30.0, 1), (60.0, 2), (90.0, 3), (120.0, 4)])
def test_integer_multiples_keep_every_nth_frame(fps, stride):
    stamps, steps, _ = _run(FrameRatePolicy(), fps, jitter_s=0.15 / fps)
    assert steps[0]
    np.testing.assert_array_equal(np.flatnonzero(steps), np.arange(0, len(stamps), stride))


def test_45hz_averages_30_steps_per_second():
    stamps, steps, _ = _run(FrameRatePolicy(), 45.0, seconds=6.0)
    rate = steps.sum() / (stamps[-1] - stamps[0]) * NS
    assert abs(rate - 30.0) < 0.5
    gaps = np.diff(stamps[steps]) / NS
    assert gaps.max() <= 2.01 / 45.0 and gaps.min() >= 0.99 / 45.0


def test_prev_step_stamp_chains_the_steps():
    stamps, steps, decisions = _run(FrameRatePolicy(), 60.0, seconds=1.0)
    step_stamps = stamps[steps]
    prevs = [d.prev_step_ns for d in decisions if d.step]
    assert prevs[0] is None
    np.testing.assert_array_equal(prevs[1:], step_stamps[:-1])


def test_slow_camera_steps_every_frame_and_warns_once(caplog):
    caplog.set_level(logging.WARNING, logger="wham_ros.geometry.frame_rate")
    _, steps, _ = _run(FrameRatePolicy(), 20.0)
    assert steps.all()
    assert sum("slower than WHAM" in r.getMessage() for r in caplog.records) == 1


def test_gap_does_not_cause_a_burst():
    policy = FrameRatePolicy()
    stamps = [int(k * NS / 60) for k in range(60)] + [int(3 * NS + k * NS / 60) for k in range(60)]
    steps = np.array([policy.decide(s).step for s in stamps])
    after = steps[60:]
    np.testing.assert_array_equal(np.flatnonzero(after), np.arange(0, 60, 2))


def test_non_increasing_stamps_are_skipped(caplog):
    policy = FrameRatePolicy()
    assert policy.decide(NS).step
    d = policy.decide(NS)
    assert not d.step and d.reason == "stamp not increasing"
    assert not policy.decide(NS - 5).step
    assert policy.decide(NS + NS // 30).step
    assert any("not after the previous frame" in r.getMessage() for r in caplog.records)


def test_every_frame_mode_and_bad_arguments():
    _, steps, _ = _run(FrameRatePolicy("every_frame"), 60.0, seconds=1.0)
    assert steps.all()
    with pytest.raises(ValueError, match="Unknown frame rate mode"):
        FrameRatePolicy("hold")
    with pytest.raises(ValueError):
        FrameRatePolicy(target_hz=0.0)
