"""Gravity alignment, frame conversions on known points, and multi-person world placement.

Tolerances: exact constructions 1e-12; reference y-up matrix (float32, off-diagonal
e = 8.7e-8) 1e-6 relative; accelerometer gravity (noise 0.03 m/s^2, >= 100 samples) 2e-3 rad;
multi-person placement with gyro-tracked camera (1.3 s, 400 Hz, noise 0.005 rad/s,
bias estimated during a 2 s rest) 2 cm in
position at 4-7 m range and 5e-3 rad in orientation.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from geometry_sim import NS, ImuModel, Rig, feed, frame_stamps_ns, tilted_start  # noqa: E402

from wham_ros.geometry.camera_motion import ImuCameraMotion  # noqa: E402
from wham_ros.geometry.frames import (  # noqa: E402
    R_YUP_YDOWN, R_ZUP_YDOWN, FrameError, TrackAnchor, WorldFrame, make_transform, ydown_to_yup, ydown_to_zup)
from wham_ros.geometry.gravity import (  # noqa: E402
    estimate_gravity, gravity_from_accelerometer, gravity_from_orientation, init_root_6d, level_rotation)
from wham_ros.geometry.imu import ImuConfig, ImuIntegrator  # noqa: E402
from wham_ros.geometry.so3 import angle_between, exp_so3, matrix_to_6d, matrix_to_quat_xyzw, rot_z  # noqa: E402

DATA = Path(__file__).parent / "data" / "wham_T24_geometry.npz"
DOWN = np.array([0.0, 0.0, -1.0])


def upright_root(heading):
    """SMPL root (body x left, y up, z forward) of an upright person facing ``heading`` in z-up world."""
    f = np.array([np.cos(heading), np.sin(heading), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    return np.stack([np.cross(up, f), up, f], axis=1)


# ---------------------------------------------------------------- gravity sources
def test_gravity_from_orientation_enu_and_ned():
    R_world_imu = exp_so3(np.array([0.4, -0.3, 1.0]))
    q = matrix_to_quat_xyzw(R_world_imu)
    np.testing.assert_allclose(gravity_from_orientation(q, "enu"), R_world_imu.T @ DOWN, atol=1e-12)
    np.testing.assert_allclose(gravity_from_orientation(q, "ned"), -(R_world_imu.T @ DOWN), atol=1e-12)
    assert gravity_from_orientation(np.zeros(4)) is None  # driver without orientation
    assert gravity_from_orientation(np.array([np.nan, 0, 0, 1])) is None
    assert gravity_from_orientation(None) is None
    with pytest.raises(ValueError, match="Unknown orientation reference"):
        gravity_from_orientation(q, "nwu")


def test_gravity_from_accelerometer_only_when_quasi_static():
    rng = np.random.default_rng(0)
    down = np.array([0.2, 0.9, -0.3])
    down /= np.linalg.norm(down)
    accel = -9.80665 * down + rng.normal(0, 0.03, (200, 3))
    est = gravity_from_accelerometer(accel, np.zeros((200, 3)))
    assert np.arccos(np.clip(est @ down, -1, 1)) < 2e-3
    shaking = accel + rng.normal(0, 2.0, accel.shape)
    assert gravity_from_accelerometer(shaking) is None
    assert gravity_from_accelerometer(accel, np.full((200, 3), 0.5)) is None  # rotating
    assert gravity_from_accelerometer(accel * 1.2) is None  # |a| != g: accelerating
    assert gravity_from_accelerometer(accel[:5]) is None


def test_estimate_gravity_prefers_orientation_and_rotates_into_camera():
    R_ci = exp_so3(np.array([1.0, 0.2, -0.5]))
    R_world_imu = exp_so3(np.array([0.1, 0.2, 0.3]))
    accel = np.tile(-9.80665 * (R_world_imu.T @ DOWN), (50, 1)) + 0.5  # biased: must not be used
    est = estimate_gravity(accel, None, matrix_to_quat_xyzw(R_world_imu), R_ci)
    assert est.source == "orientation"
    np.testing.assert_allclose(est.down, R_ci @ R_world_imu.T @ DOWN, atol=1e-12)
    est = estimate_gravity(accel[:, :] - 0.5, None, None, R_ci)
    assert est.source == "accelerometer"
    np.testing.assert_allclose(est.down, R_ci @ R_world_imu.T @ DOWN, atol=1e-9)
    assert estimate_gravity(np.zeros((0, 3)), None, None, R_ci) is None


# ---------------------------------------------------------------- level frame, init_root
@pytest.mark.parametrize("pitch_deg, roll_deg", [(0.0, 0.0), (25.0, 10.0), (-40.0, -15.0), (80.0, 30.0)])
def test_level_rotation_aligns_gravity_and_keeps_heading(pitch_deg, roll_deg):
    C = tilted_start(yaw=0.7, pitch_down=np.deg2rad(pitch_deg), roll=np.deg2rad(roll_deg))
    down_cam = C.T @ DOWN
    R_gc = level_rotation(3.0 * down_cam)  # length does not matter
    assert abs(np.linalg.det(R_gc) - 1) < 1e-12
    np.testing.assert_allclose(R_gc.T @ R_gc, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(R_gc @ down_cam, [0.0, 1.0, 0.0], atol=1e-12)
    # Heading kept: the level frame is the start camera's level frame (R_ZUP_YDOWN @ R_gc = yaw only).
    np.testing.assert_allclose(C @ R_gc.T, rot_z(0.7) @ R_ZUP_YDOWN, atol=1e-12)


def test_level_rotation_degenerate_and_default():
    np.testing.assert_array_equal(level_rotation(None), np.eye(3))
    np.testing.assert_allclose(level_rotation(np.array([0.0, 1.0, 0.0])), np.eye(3), atol=1e-15)
    R = level_rotation(np.array([0.0, 0.0, 1.0]))  # looking straight down
    np.testing.assert_allclose(R @ [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(R @ [0.0, -1.0, 0.0], [0.0, 0.0, 1.0], atol=1e-12)  # image up = forward
    with pytest.raises(ValueError):
        level_rotation(np.zeros(3))


@pytest.mark.parametrize("pitch_deg, roll_deg", [(30.0, 0.0), (15.0, -20.0)])
def test_init_root_is_gravity_aligned_on_tilted_start(pitch_deg, roll_deg):
    """An upright person seen by a tilted camera gets an upright init_root (body up = -y)."""
    C = tilted_start(yaw=-0.3, pitch_down=np.deg2rad(pitch_deg), roll=np.deg2rad(roll_deg))
    root_world = upright_root(heading=2.0)
    root_cam = C.T @ root_world  # what HMR2.0 sees
    R_gc = level_rotation(C.T @ DOWN)
    R6 = init_root_6d(root_cam, R_gc)
    R = np.stack([R6[:3], R6[3:], np.cross(R6[:3], R6[3:])])
    np.testing.assert_allclose(R @ [0.0, 1.0, 0.0], [0.0, -1.0, 0.0], atol=1e-12)  # y-down world: up = -y
    # WHAM's default (camera frame) is tilted by the camera pitch/roll.
    R_cam = root_cam
    tilt = np.arccos(-(R_cam @ [0.0, 1.0, 0.0])[1])
    assert tilt > np.deg2rad(min(pitch_deg, 10.0))
    np.testing.assert_allclose(init_root_6d(root_cam), matrix_to_6d(root_cam))


# ---------------------------------------------------------------- known points
def test_known_points_level_camera():
    world = WorldFrame()
    pts = np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # ahead, right, below (optical)
    np.testing.assert_allclose(world.camera_to_world(pts), [[2, 0, 0], [0, -1, 0], [0, 0, -1]], atol=1e-15)
    np.testing.assert_allclose(ydown_to_zup(pts), [[2, 0, 0], [0, -1, 0], [0, 0, -1]], atol=1e-15)


def test_known_points_tilted_camera_with_gravity():
    pitch = np.deg2rad(30.0)
    C = tilted_start(yaw=1.0, pitch_down=pitch, roll=0.0)
    world = WorldFrame(R_gc0=level_rotation(C.T @ DOWN))
    assert world.gravity_known
    ahead = world.camera_to_world(np.array([0.0, 0.0, 2.0]))
    np.testing.assert_allclose(ahead, [2 * np.cos(pitch), 0.0, -2 * np.sin(pitch)], atol=1e-12)
    image_up = world.camera_to_world(np.array([0.0, -1.0, 0.0]))
    np.testing.assert_allclose(image_up, [np.sin(pitch), 0.0, np.cos(pitch)], atol=1e-12)


def test_yup_matches_reference_output():
    d = np.load(DATA)
    np.testing.assert_allclose(ydown_to_yup(d["trans_world_ydown"]), d["trans_world"], atol=1e-6)
    np.testing.assert_allclose(R_YUP_YDOWN @ d["poses_root_world_ydown"], d["poses_root_world"], atol=1e-6)


def test_world_attached_to_parent_frame():
    rng = np.random.default_rng(4)
    T_odom_cam0 = make_transform(exp_so3(rng.normal(size=3)), rng.normal(size=3))
    C0 = T_odom_cam0[:3, :3]
    R_gc0 = level_rotation(C0.T @ DOWN)  # odom is z-up here
    world = WorldFrame(R_gc0=R_gc0, T_parent_cam0=T_odom_cam0, parent_frame_id="odom")
    T_odom_world = world.T_parent_world()
    np.testing.assert_allclose(T_odom_world @ world.T_world_cam(), T_odom_cam0, atol=1e-12)
    np.testing.assert_allclose(T_odom_world[:3, :3] @ [0, 0, 1], [0, 0, 1], atol=1e-12)  # z-up kept
    T_odom_cam1 = make_transform(exp_so3(rng.normal(size=3)), rng.normal(size=3))
    world.set_camera_pose_in_parent(T_odom_cam1)
    np.testing.assert_allclose(T_odom_world @ world.T_world_cam(), T_odom_cam1, atol=1e-12)
    with pytest.raises(FrameError):
        WorldFrame().set_camera_pose_in_parent(T_odom_cam1)
    with pytest.raises(FrameError):
        WorldFrame(R_gc0=np.diag([1.0, 1.0, -1.0]))


def test_correct_tilt_restores_gravity_and_keeps_heading():
    C = tilted_start(yaw=0.5)
    world = WorldFrame(R_gc0=level_rotation(C.T @ DOWN))
    R_true = world.camera_pose()[0]
    yaw_drift = 0.2
    world.set_camera_pose(rot_z(yaw_drift) @ R_true @ exp_so3(np.array([0.02, 0.0, -0.015])))  # drifted
    world.correct_tilt(R_true.T @ DOWN)
    R = world.camera_pose()[0]
    np.testing.assert_allclose(R.T @ DOWN, R_true.T @ DOWN, atol=1e-12)  # gravity restored exactly
    D = R @ R_true.T  # what is left is a pure heading change, close to the yaw drift
    np.testing.assert_allclose(D[2], [0.0, 0.0, 1.0], atol=1e-12)
    assert abs(np.arctan2(D[1, 0], D[0, 0]) - yaw_drift) < 0.03


# ---------------------------------------------------------------- multi-person placement
def _ideal_wham_track(C_s, p_cam, hips, roots, v0):
    """What a perfect WHAM run returns for a track starting at C_s: level-frame y-down world."""
    R_sim_L = C_s @ level_rotation(C_s.T @ DOWN).T
    trans_world = (hips - hips[0]) @ R_sim_L + v0  # rows: R_sim_L^T (hip - hip0) + v0
    poses_root_world = R_sim_L.T @ roots
    trans_cam0 = C_s.T @ (hips[0] - p_cam)
    return trans_world, poses_root_world, trans_cam0


def test_multi_person_placement_in_shared_world():
    rig = Rig(rest_s=2.0)  # the robot starts at rest: gravity and gyro bias are estimated then
    imu = ImuModel(rate_hz=400.0, seed=9)
    integ = ImuIntegrator(ImuConfig(R_cam_imu=imu.R_cam_imu))
    feed(integ, imu.samples(rig, 3.3))
    assert integ.bias_estimated
    stamps = frame_stamps_ns(3.2, start_s=1.9)
    t = stamps / NS
    C = rig.orientations(t)
    p_cam = np.array([1.0, -2.0, 1.4])  # fixed camera position in the simulation world
    # Pipeline start: gravity from the accelerometer (rig at rest), then the gyro tracks the camera.
    gyro, accel, _, orient = integ.recent(int(stamps[0]), 300_000_000)
    g = estimate_gravity(accel, gyro, orient, integ.R_cam_imu)
    assert g is not None and g.source == "accelerometer"
    world = WorldFrame(R_gc0=level_rotation(g.down))
    motion = ImuCameraMotion(integ)
    # Ground truth in the shared world: rotate the sim world by -heading(t0), origin at the camera.
    R_shared_sim = (R_ZUP_YDOWN @ level_rotation(C[0].T @ DOWN)) @ C[0].T

    def to_shared(x):
        return (x - p_cam) @ R_shared_sim.T

    people = {  # track id: (first frame index, hip path, heading)
        1: (0, lambda s: p_cam + np.array([4.0, 1.0, -0.5]) + np.outer(s, [0.0, 1.2, 0.0]), 0.3),
        2: (30, lambda s: p_cam + np.array([5.0, -2.0, -0.5]) + np.outer(s, [-0.8, 0.3, 0.0]), 2.5),
    }
    anchors, start_pose, placed = {}, {}, {k: [] for k in people}
    prev = None
    for k, stamp in enumerate(stamps):
        m = motion.step(prev, int(stamp))
        assert m.valid
        world.apply_relative_rotation(m.delta_R)
        prev = int(stamp)
        for tid, (k0, path, heading) in people.items():
            if k == k0:
                anchors[tid] = TrackAnchor.begin(world)
                start_pose[tid] = world.camera_pose()  # placed with its first output (below)
                root_cam = C[k].T @ upright_root(heading)
                init6 = anchors[tid].init_root_6d(root_cam)
                # The track's WHAM world is level: its init_root is upright (up = -y).
                R0 = np.stack([init6[:3], init6[3:], np.cross(init6[:3], init6[3:])])
                assert np.arccos(-(R0 @ [0.0, 1.0, 0.0])[1]) < 5e-3
    for tid, (k0, path, heading) in people.items():
        s = t[k0:] - t[k0]
        hips = path(s)
        roots = np.broadcast_to(upright_root(heading), (len(s), 3, 3))
        trans_world, poses_root_world, trans_cam0 = _ideal_wham_track(C[k0], p_cam, hips, roots,
                                                                      v0=np.array([0.01, -0.002, 0.02]))
        a = anchors[tid]
        with pytest.raises(FrameError):
            a.position_to_world(trans_world)
        a.place(*start_pose[tid], trans_cam0, trans_world[0])
        placed[tid] = a.position_to_world(trans_world)
        np.testing.assert_allclose(placed[tid], to_shared(hips), atol=0.02)
        rot_err = angle_between(a.rotation_to_world(poses_root_world), R_shared_sim @ roots)
        assert rot_err.max() < 5e-3
    # Both people live in one world: their separation at common times matches the truth.
    k1 = people[2][0]
    sep = placed[1][k1:] - placed[2]
    sep_true = people[1][1](t[k1:] - t[0]) - people[2][1](t[k1:] - t[k1])
    np.testing.assert_allclose(sep, sep_true @ R_shared_sim.T, atol=0.03)
    # WHAM alone would have put both at the origin; the anchors differ by metres.
    assert np.linalg.norm(anchors[1].origin_world - anchors[2].origin_world) > 2.0
