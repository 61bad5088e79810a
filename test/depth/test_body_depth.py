"""Robust per-person depth: body pixels only, nearest substantial cluster, jump gate."""
import numpy as np

from wham_ros.depth.body import (BODY_HALF_THICKNESS_M, BodyDepthConfig, BodyDepthEstimator,
                                 body_pixels, surface_depth)

W, H = 160, 120
BOX = np.array([60.0, 20.0, 100.0, 110.0])  # a person 40 x 90 px


def scene(person_m=4.0, wall_m=7.5, holes=0.1, seed=0):
    rng = np.random.default_rng(seed)
    d = np.full((H, W), wall_m, np.float32)
    d[20:110, 60:100] = person_m
    d += rng.normal(0, 0.01, d.shape).astype(np.float32)
    d[rng.random(d.shape) < holes] = np.nan
    return d


def poor_keypoints(seed=0):
    """Keypoints as the test models give them: two thirds outside the box, all confident."""
    rng = np.random.default_rng(seed)
    kp = np.column_stack([rng.uniform(0, W, 17), rng.uniform(0, H, 17), np.full(17, 0.9)])
    return kp


def test_body_pixels_stay_inside_the_box_core_and_at_in_box_keypoints():
    kp = poor_keypoints()
    rows, cols = body_pixels(BOX, kp, (W, H))
    assert rows.size > 0
    assert cols.min() >= 60 and cols.max() < 100 and rows.min() >= 20 and rows.max() < 110
    core = (cols >= 72) & (cols <= 88) & (rows >= 38) & (rows <= 74)
    assert core.mean() > 0.8  # mostly the torso core, never the whole box
    empty = body_pixels(np.array([10.0, 10.0, 10.0, 50.0]), kp, (W, H))  # zero width
    assert empty[0].size == 0


def test_person_in_front_of_a_wall_even_with_poor_keypoints():
    est = BodyDepthEstimator()
    z = est.estimate(1, 0, scene(), BOX, poor_keypoints())
    assert abs(z - (4.0 + BODY_HALF_THICKNESS_M)) < 0.02


def test_wall_filling_most_of_the_core_is_not_taken():
    """A thin person: 70 % of the sampled pixels see the wall behind, still the person."""
    d = np.full((H, W), 7.5, np.float32)
    d[20:110, 77:83] = 4.0  # a 6 px wide body in a 40 px box
    z = BodyDepthEstimator().estimate(1, 0, d, BOX, np.zeros((17, 3)))
    assert abs(z - 4.1) < 1e-3


def test_no_reading_all_zero_nan_or_closer_than_min_range():
    est = BodyDepthEstimator(BodyDepthConfig(min_m=0.3, max_m=10.0))
    assert est.estimate(1, 0, np.full((H, W), np.nan, np.float32), BOX, poor_keypoints()) is None
    assert est.estimate(2, 0, scene(person_m=0.2, wall_m=np.nan), BOX, poor_keypoints()) is None
    assert est.estimate(3, 0, scene(person_m=12.0, wall_m=np.nan), BOX, poor_keypoints()) is None


def test_closer_than_min_range_in_front_of_a_wall_is_not_the_wall():
    """Readings too near are none; the few wall pixels left in the core do not make a body."""
    d = scene(person_m=0.2, wall_m=7.5)
    d[20:110, 60:100] = np.nan  # a camera reads nothing that close
    d[30:32, 60:100] = 7.5  # two rows of wall seen through the arms
    assert BodyDepthEstimator().estimate(1, 0, d, BOX, np.zeros((17, 3))) is None


def test_jump_gate_keeps_the_track_from_jumping_to_an_occluder_then_relocks():
    est = BodyDepthEstimator()
    assert abs(est.estimate(7, 0, scene(4.0), BOX, poor_keypoints()) - 4.1) < 0.02
    near = scene(4.0)
    near[20:110, 60:100] = 1.5  # something fills the whole box 2.5 m nearer, 33 ms later
    refused = [est.estimate(7, (i + 1) * 33_000_000, near, BOX, poor_keypoints()) for i in range(4)]
    assert refused == [None] * 4
    assert abs(est.estimate(7, 5 * 33_000_000, near, BOX, poor_keypoints()) - 1.6) < 0.02
    est.end_track(7)
    assert abs(est.estimate(7, 6 * 33_000_000, scene(4.0), BOX, poor_keypoints()) - 4.1) < 0.02


def test_prior_picks_the_cluster_of_the_track():
    z = np.concatenate([np.full(50, 2.0), np.full(50, 4.0)])
    assert surface_depth(z) == 2.0  # nearest without history
    assert surface_depth(z, prior_m=3.9) == 4.0
    assert surface_depth(np.full(5, 2.0)) is None  # too few readings
