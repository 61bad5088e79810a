"""Depth placement: along the viewing ray, rigid shift of the *_cam points, world outputs
follow (and hold the correction without depth), velocity = rate of the published positions."""
import numpy as np

from wham_ros.depth.placement import DepthPlacement, root_on_ray
from wham_ros.types import HumanEstimate

K = np.array([[400.0, 0, 160.0], [0, 400.0, 120.0], [0, 0, 1]])
BOX = np.array([110.0, 40.0, 190.0, 240.0])  # hip region u 138-162, v 110-180


def human(trans_cam, trans_world, velocity=(0.0, 0.0, 0.0), tid=1):
    trans_cam, trans_world = np.asarray(trans_cam, float), np.asarray(trans_world, float)
    offsets = np.linspace(-0.5, 0.5, 24)[:, None] * np.array([0.1, 1.0, 0.05])
    return HumanEstimate(
        track_id=tid, age=5, global_orient_cam=np.eye(3), global_orient_world=np.eye(3),
        body_pose=np.zeros((23, 3, 3)), betas=np.zeros(10), trans_cam=trans_cam,
        trans_world=trans_world, smpl_joints_cam=trans_cam + offsets,
        smpl_joints_world=trans_world + offsets, coco_joints_cam=trans_cam + offsets[:17],
        coco_joints_world=trans_world + offsets[:17], contact=np.zeros(4),
        feet_world=trans_world + offsets[:4], keypoints2d=np.zeros((17, 3)), bbox_xyxy=BOX.copy(),
        vertices_cam=trans_cam + np.zeros((6890, 3)), root_velocity_world=np.asarray(velocity, float))


def identity(points):
    return np.asarray(points, float)


def test_root_moves_along_its_ray_to_the_measured_depth():
    root = np.array([-0.03, 0.05, 2.0])  # projects to (154, 130): inside the hip region
    new = root_on_ray(root, 4.5, K, BOX)
    np.testing.assert_allclose(new, root * 4.5 / 2.0)


def test_a_root_outside_its_person_is_brought_into_the_box_hip_region():
    root = np.array([1.0, -1.0, 2.0])  # projects to (360, -80): nowhere near its box
    new = root_on_ray(root, 4.0, K, BOX)
    u, v = (K @ new / new[2])[:2]
    assert new[2] == 4.0 and u == 162.0 and v == 110.0  # box u 35-65 %, v 35-70 %


def test_every_cam_point_shifts_rigidly_and_world_follows():
    h = human([-0.03, 0.05, 2.0], [1.0, 2.0, 0.9])
    before = {k: getattr(h, k).copy() for k in ("smpl_joints_cam", "coco_joints_cam", "vertices_cam")}
    R_world_cam = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]])  # optical -> z-up, camera 1 m up
    to_world = lambda p: np.asarray(p) @ R_world_cam.T + [0, 0, 1]  # noqa: E731
    DepthPlacement().apply(h, 0, 4.0, K, to_world)
    assert h.root_source == "depth"
    np.testing.assert_allclose(h.trans_cam, [-0.06, 0.1, 4.0])
    for k, v in before.items():  # the body keeps its size: a shift, not a scale
        np.testing.assert_allclose(getattr(h, k) - h.trans_cam, v - np.array([-0.03, 0.05, 2.0]),
                                   atol=1e-12)
    np.testing.assert_allclose(h.trans_world, to_world(h.trans_cam))
    np.testing.assert_allclose(h.smpl_joints_world - h.trans_world,
                               np.linspace(-0.5, 0.5, 24)[:, None] * np.array([0.1, 1.0, 0.05]))


def test_without_depth_camera_stays_wham_and_world_keeps_the_last_correction():
    place = DepthPlacement()
    nothing = human([0.0, 0.0, 2.0], [2.0, 0.0, 1.0])
    place.apply(nothing, 0, None, K, identity)  # no depth yet: WHAM's estimate untouched
    assert nothing.root_source == "monocular"
    np.testing.assert_array_equal(nothing.trans_world, [2.0, 0.0, 1.0])
    place.apply(human([0.0, 0.0, 2.0], [2.0, 0.0, 1.0]), 0, 4.0, K, identity)  # correction (-2, 0, 3)
    h = human([0.0, 0.0, 2.1], [2.0, 0.0, 1.1])
    place.apply(h, 33_000_000, None, K, identity)
    assert h.root_source == "monocular"
    np.testing.assert_array_equal(h.trans_cam, [0.0, 0.0, 2.1])
    np.testing.assert_allclose(h.trans_world, [0.0, 0.0, 4.1])
    np.testing.assert_allclose(h.feet_world[0] - h.trans_world, [-0.05, -0.5, -0.025])
    place.end_track(1)
    h = human([0.0, 0.0, 2.1], [2.0, 0.0, 1.1])
    place.apply(h, 66_000_000, None, K, identity)
    np.testing.assert_array_equal(h.trans_world, [2.0, 0.0, 1.1])


def test_velocity_is_the_rate_of_the_published_positions():
    """WHAM thinks the person stands (velocity 0, world still); depth says they walk away at
    1.2 m/s: the published velocity follows the published positions."""
    place, dt, speed = DepthPlacement(), 1 / 30, 1.2
    positions, velocities = [], []
    for i in range(12):
        h = human([0.0, 0.0, 2.0], [0.0, 0.0, 2.0])
        place.apply(h, int(i * dt * 1e9), 4.0 + speed * i * dt, K, identity)
        positions.append(h.trans_world)
        velocities.append(h.root_velocity_world)
    np.testing.assert_allclose(np.diff(positions, axis=0) / dt, [[0, 0, speed]] * 11, atol=1e-9)
    np.testing.assert_allclose(velocities[2:], [[0, 0, speed]] * 10, atol=1e-6)
    assert np.all(velocities[0] == 0)  # one sample: no rate yet
