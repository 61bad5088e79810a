"""A start that cannot miss its rest: short start rests, lost first samples, gravity while turning."""
import numpy as np
import pytest

from wham_ros.geometry.frames import R_ZUP_YDOWN
from wham_ros.geometry.gravity import level_rotation
from wham_ros.geometry.grounding import GroundingConfig, WorldGrounding
from wham_ros.geometry.imu import ImuConfig, ImuIntegrator
from wham_ros.geometry.so3 import angle_between
from wham_ros.testing.imu_rig import NS, LongRig, NoisyImu, Segment
from wham_ros.testing.textured_pan import TurningRig

DOWN = np.array([0.0, 0.0, -1.0])


def rest_then_motion(rest_s):
    return LongRig([Segment("rest", rest_s), Segment("move", 6.0, (0.6, 0.4, 0.3))])


@pytest.mark.parametrize("seed", range(20))
def test_a_1_5_s_start_rest_is_learnt_whatever_was_lost_before_it(seed):
    """20 starts: the stream begins 0-0.9 s into a 1.5 s rest (the first samples lost)."""
    rng = np.random.default_rng(seed)
    lost_s = float(rng.uniform(0.0, 0.9))
    rig = rest_then_motion(1.5)
    imu = NoisyImu(rate_hz=200.0, seed=seed, bias0_rad_s=rng.uniform(-0.006, 0.006, 3))
    samples, true_bias = imu.samples(rig, start_s=lost_s)
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu))
    for s in samples:
        integ.add(s)
    st = integ.status()
    assert st.bias_source == "estimated" and st.bias_sources == ("rest",), (lost_s, st)
    # 1.5 - lost s of rest, at least 0.6 s: the estimate is within 4 of its standard errors
    assert np.abs(st.bias_rad_s - true_bias[-1]).max() < max(4 * st.bias_std_rad_s, 1e-3)


def test_a_half_second_rest_is_used_with_a_wider_uncertainty():
    short, longer = [], []
    for rest_s, out in ((0.55, short), (3.0, longer)):
        rig = rest_then_motion(rest_s)
        imu = NoisyImu(rate_hz=200.0, seed=3)
        samples, true_bias = imu.samples(rig)
        integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu))
        for s in samples[: int((rest_s + 0.05) * 200)]:  # up to the end of the rest
            integ.add(s)
        st = integ.status()
        out.append(st)
        assert st.bias_source == "estimated", rest_s
        np.testing.assert_allclose(st.bias_rad_s, true_bias[0], atol=4 * st.bias_std_rad_s)
    assert short[0].bias_std_rad_s > 2 * longer[0].bias_std_rad_s


def test_world_is_levelled_when_the_camera_turns_from_the_first_sample():
    """No rest at all: gravity from the accelerometer samples turned by the gyro."""
    rig = TurningRig(duration_s=5.0, yaw_mean=0.25, yaw_amp=0.0)
    imu = NoisyImu(rate_hz=200.0, seed=5)
    samples, _ = imu.samples(rig)
    g = WorldGrounding(GroundingConfig(bias_sources=("rest",), imu=ImuConfig(R_cam_imu=imu.R_cam_imu)))
    first_ns = int(1.0 * NS)
    for s in samples:
        if s.stamp_ns <= first_ns:
            g.add_imu(s)
    assert not g.imu.at_rest
    g.on_frame(first_ns)
    assert g.world.gravity_known
    C = rig.orientations(np.array([1.0]))[0]
    down_true = C.T @ DOWN  # gravity in the camera frame
    down_est = g.world.camera_pose()[0].T @ DOWN
    assert np.degrees(np.arccos(down_true @ down_est)) < 0.5
    # and the level frame keeps the camera's heading
    R_true = R_ZUP_YDOWN @ level_rotation(down_true)
    assert np.degrees(angle_between(g.world.camera_pose()[0], R_true)) < 0.5


def test_world_is_levelled_from_a_short_start_rest_when_the_first_frame_comes_later():
    """0.8 s of rest, then fast motion (up to 1.5 rad/s: the turned accelerometer is refused)."""
    rig = LongRig([Segment("rest", 0.8), Segment("move", 4.0, (1.5, 1.0, 0.8))])
    imu = NoisyImu(rate_hz=200.0, seed=6)
    samples, _ = imu.samples(rig)
    g = WorldGrounding(GroundingConfig(imu=ImuConfig(R_cam_imu=imu.R_cam_imu)))
    first_ns = int(2.5 * NS)
    for s in samples:
        if s.stamp_ns <= first_ns + 5_000_000:
            g.add_imu(s)
    assert g.gravity(first_ns) is None  # no usable accelerometer window at the frame
    g.on_frame(first_ns)
    assert g.world.gravity_known
    C = rig.orientations(np.array([2.5]))[0]
    down_est = g.world.camera_pose()[0].T @ DOWN
    assert np.degrees(np.arccos(np.clip((C.T @ DOWN) @ down_est, -1, 1))) < 0.5
