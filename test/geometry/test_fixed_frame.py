"""World grounding in a fixed frame of the robot's TF tree, on the simulated robot.

The robot (``wham_ros.testing.robot_world``) drives a circle arc and pans its head; the camera
pose in ``odom`` is the truth (what tf2 would give). WHAM's outputs are simulated from the
people's true motion: ``trans_cam`` = the true hip in the camera frame plus noise (2 cm across,
5 cm along the optical axis), ``trans_world`` = the true displacement with a known drift
(3 % scale, 0.05 deg/s heading: 6 deg over the two minutes), expressed in the track's WHAM world.
"""
import numpy as np
import pytest

from wham_ros.geometry.frames import invert_transform, make_transform
from wham_ros.geometry.grounding import GroundingConfig, WorldGrounding
from wham_ros.geometry.so3 import angle_between, rot_z
from wham_ros.testing.robot_world import Person, RobotWorld

DRIFT_SCALE = 0.03
DRIFT_HEADING_RAD_S = np.radians(0.05)


def grounding(**kw):
    cfg = dict(fixed_frame="odom", world_frame_id="odom", camera_motion="tf",
               frame_rate_mode="every_frame")
    cfg.update(kw)
    return WorldGrounding(GroundingConfig(**cfg))


class SimulatedWham:
    """WHAM's outputs for one person: noisy camera-frame hip, drifting world trajectory."""

    def __init__(self, person: Person, seed: int = 0):
        self.person, self.rng = person, np.random.default_rng(seed)
        self.tw0 = np.array([0.01, -0.02, 0.03])
        self.t0 = None

    def trans_cam(self, T_fixed_cam_true, t):
        hip_cam = (invert_transform(T_fixed_cam_true) @ np.append(self.person.hip(t), 1.0))[:3]
        return hip_cam + self.rng.normal(0.0, [0.02, 0.02, 0.05])

    def trans_world(self, R_world_wham, t):
        if self.t0 is None:
            self.t0 = t
            return self.tw0.copy()
        d = self.person.hip(t) - self.person.hip(self.t0)
        drifted = rot_z(DRIFT_HEADING_RAD_S * (t - self.t0)) @ d * (1.0 + DRIFT_SCALE)
        return self.tw0 + R_world_wham.T @ drifted


def run_track(world, g, wham, times, tid=1, pose=None):
    """Feed every frame; returns (times, world hip estimates (N, 3) with NaN where invalid)."""
    out = []
    for t in times:
        T = world.T_odom_cam(t) if pose is None else pose(t)
        step = g.on_frame(world.stamp(t), T)
        assert step.step
        if tid not in g.anchors:
            g.start_track(tid, np.eye(3))
        R_ww = g.anchors[tid].R_world_wham
        tw = wham.trans_world(R_ww, t)
        ok = g.track_update(tid, wham.trans_cam(world.T_odom_cam(t), t), tw, step.world_valid)
        out.append(g.to_world(tid, tw) if ok else np.full(3, np.nan))
    return np.array(out)


def test_first_frame_placed_by_the_tf_pose_and_gravity_without_rest():
    world = RobotWorld()
    g = grounding(camera_motion="static")
    t = 1.2
    step = g.on_frame(world.stamp(t), world.T_odom_cam(t))
    assert step.world_valid and g.world.gravity_known  # from the z-up fixed frame, no IMU
    g.start_track(3, np.eye(3))
    trans_cam = np.array([0.3, 0.1, 4.0])
    assert g.track_update(3, trans_cam, np.zeros(3))
    T = world.T_odom_cam(t)
    np.testing.assert_allclose(g.to_world(3, np.zeros(3)), T[:3, :3] @ trans_cam + T[:3, 3], atol=1e-9)
    # The track's WHAM world (y-down level) maps into odom with gravity along -z.
    np.testing.assert_allclose(g.anchors[3].R_world_wham @ np.array([0.0, 1.0, 0.0]), [0, 0, -1], atol=1e-9)


@pytest.mark.parametrize("mode", ["start", "observed"])
def test_observed_anchor_keeps_positions_while_start_drifts(mode):
    """Two minutes of a person walking 1 m/s beside a driving robot: 'start' drifts with WHAM
    (metres), 'observed' stays within 10 cm of the truth."""
    person = Person((3.0, 1.0), (1.0, 0.2))
    world = RobotWorld(speed_m_s=0.9, turn_rad_s=0.0, people=[person], duration_s=120.0)
    times = np.arange(0.0, 120.0, 1.0 / 30.0)
    est = run_track(world, grounding(world_anchor=mode), SimulatedWham(person, seed=5), times)
    err = np.linalg.norm(est - person.hip(times), axis=1)
    print(f"world_anchor {mode}: position error median {np.median(err) * 100:.1f} cm, "
          f"max after 1 s {err[30:].max() * 100:.1f} cm, at 120 s {err[-1] * 100:.1f} cm")
    if mode == "start":
        assert err[-1] > 2.0  # WHAM's drift: ~3 % of 122 m plus the heading error
    else:
        assert err[30:].max() < 0.10


def test_missing_tf_skips_world_outputs_and_places_the_track_when_tf_returns():
    person = Person((4.0, 0.0), (0.0, 0.5))
    world = RobotWorld(people=[person])
    times = np.arange(0.0, 2.0, 1.0 / 30.0)
    gap = (times >= 0.0) & (times < 0.5)  # the track starts before TF has any transform
    g = grounding(camera_motion="static")
    est = run_track(world, g, SimulatedWham(person, seed=1), times,
                    pose=lambda t: None if t < 0.5 else world.T_odom_cam(t))
    assert np.all(np.isnan(est[gap])) and not np.any(np.isnan(est[~gap]))
    err = np.linalg.norm(est[~gap] - person.hip(times[~gap]), axis=1)
    assert err.max() < 0.25, err.max()  # placed from the camera's view (5 cm depth noise) + 3 % drift
    st = g.status()
    assert st["world_skipped_frames"] == gap.sum()


def test_tf_jump_reanchors_tracks_and_keeps_ids():
    """A relocalisation: odom -> base_link jumps 0.8 m and 10 deg; the person is placed again
    where the camera now sees them in the jumped frame."""
    person = Person((4.0, 0.5), (0.0, -0.3))
    jump_t = 1.0
    world = RobotWorld(people=[person], map_jump=(jump_t, (0.6, -0.5, np.radians(10.0))))
    smooth = RobotWorld(people=[person])
    times = np.arange(0.0, 2.0, 1.0 / 30.0)
    g = grounding(camera_motion="static")
    wham = SimulatedWham(person, seed=2)
    out = []
    for t in times:
        step = g.on_frame(world.stamp(t), world.T_odom_cam(t))
        if 1 not in g.anchors:
            g.start_track(1, np.eye(3))
        tw = wham.trans_world(g.anchors[1].R_world_wham, t)
        # The robot did not move physically: the camera sees the person as without the jump.
        assert g.track_update(1, wham.trans_cam(smooth.T_odom_cam(t), t), tw, step.world_valid)
        out.append(g.to_world(1, tw))
    out = np.array(out)
    # Truth in the jumped odom: the physical camera-frame position through the jumped pose.
    truth = np.array([(world.T_odom_cam(t) @ invert_transform(smooth.T_odom_cam(t))
                       @ np.append(person.hip(t), 1.0))[:3] for t in times])
    err = np.linalg.norm(out - truth, axis=1)
    after = times >= jump_t
    assert g.status()["tf_reanchors"] == 1 and list(g.anchors) == [1]
    assert err[after].max() < 0.2, err[after].max()
    assert np.linalg.norm(out[after][0] - out[~after][-1]) > 0.4  # it moved with the frame


def test_tf_mode_disagreement_and_imu_mode_report():
    """With a gyro and TF, the status reports how far they disagree (deg/s)."""
    from wham_ros.geometry.imu import ImuConfig

    world = RobotWorld()
    g = WorldGrounding(GroundingConfig(fixed_frame="odom", world_frame_id="odom",
                                       imu=ImuConfig(R_cam_imu=world.R_cam_imu())))
    for s in world.imu_samples():
        g.add_imu(s)
    for t in world.frame_times():
        g.on_frame(world.stamp(t), world.T_odom_cam(t))
    agree = g.status()["gyro_tf_disagreement_deg_s"]
    assert agree is not None and agree < 0.5, agree  # bias unknown (no rest), else equal
    g2 = WorldGrounding(GroundingConfig(fixed_frame="odom", world_frame_id="odom",
                                        imu=ImuConfig(R_cam_imu=world.R_cam_imu())))
    for s in world.imu_samples():
        g2.add_imu(s)
    for t in world.frame_times():  # TF says the head turns twice as fast as the gyro does
        T = world.T_odom_cam(t)
        g2.on_frame(world.stamp(t), make_transform(rot_z(2 * world.turn_rad_s * t) @ T[:3, :3], T[:3, 3]))
    assert g2.status()["gyro_tf_disagreement_deg_s"] > 0.8 * np.degrees(2 * world.turn_rad_s)
    assert angle_between(g2.world.camera_pose()[0], rot_z(2 * world.turn_rad_s * world.frame_times()[-1])
                         @ world.T_odom_cam(world.frame_times()[-1])[:3, :3]) < 1e-9
