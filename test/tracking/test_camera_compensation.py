"""Camera-motion compensation: the gyro homography is exact, the image estimate finds it."""
import logging

import numpy as np
import pytest

from wham_ros.geometry.so3 import exp_so3
from wham_ros.testing import tracking_scenes as ts
from wham_ros.tracking.camera_compensation import (CameraCompensation, rotation_homography,
                                                   warp_boxes, warp_points)

K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])


def project(K, R_cw, p_w):
    """Pixel of world point ``p_w`` for a camera with world -> camera rotation ``R_cw``."""
    p = K @ (R_cw @ p_w)
    return p[:2] / p[2]


def test_rotation_homography_moves_pixels_as_the_camera_rotates():
    rng = np.random.default_rng(0)
    for _ in range(5):
        C0 = exp_so3(rng.normal(0, 0.3, 3))              # world <- camera, previous frame
        C1 = C0 @ exp_so3(rng.normal(0, 0.05, 3))        # this frame
        dR = C0.T @ C1                                    # R_{t-1} R_t^T with R = C^T
        H = rotation_homography(K, dR)
        for _ in range(5):
            p_w = C0 @ np.array([*rng.uniform(-1, 1, 2), rng.uniform(2, 8)])
            before, after = project(K, C0.T, p_w), project(K, C1.T, p_w)
            np.testing.assert_allclose(warp_points(H, before), after, atol=1e-6)


def test_warp_boxes_translation_and_identity():
    boxes = np.array([[10.0, 20, 50, 120], [100, 100, 140, 260]])
    np.testing.assert_allclose(warp_boxes(np.eye(3), boxes), boxes)
    H = np.array([[1.0, 0, -53], [0, 1, 4], [0, 0, 1]])
    np.testing.assert_allclose(warp_boxes(H, boxes), boxes + [-53, 4, -53, 4])


def test_image_estimate_matches_the_gyro_during_a_fast_turn():
    scene = ts.head_turn()
    turning = int(np.argmax(np.abs(np.diff(scene.yaw)))) + 1   # a frame mid-turn (2 rad/s)
    comp = CameraCompensation("image")
    boxes = [ts.colour_detections(scene.frames[i].image)[:, :4] for i in (turning - 1, turning)]
    assert comp.homography(scene.frames[turning - 1].image, K, None, boxes[0]) is None  # first
    H_img = comp.homography(scene.frames[turning].image, scene.K, None, boxes[1])
    dR = exp_so3(np.array([0, scene.yaw[turning - 1], 0])).T @ exp_so3(
        np.array([0, scene.yaw[turning], 0]))
    H_gyro = rotation_homography(scene.K, dR)
    centre = np.array([320.0, 240.0])
    shift = warp_points(H_gyro, centre) - centre
    assert abs(shift[0]) > 35                # 2 rad/s at f = 600 px: 40 px per frame
    np.testing.assert_allclose(warp_points(H_img, centre), warp_points(H_gyro, centre), atol=3.0)


def test_gyro_mode_without_a_rotation_skips_the_frame_and_says_so_once(caplog):
    comp = CameraCompensation("gyro")
    img = np.zeros((48, 64, 3), np.uint8)
    with caplog.at_level(logging.WARNING):
        assert comp.homography(img, K, None, np.zeros((0, 4))) is None
        assert comp.homography(img, K, None, np.zeros((0, 4))) is None
    assert comp.skipped_frames == 2
    assert sum("no measured camera rotation" in r.message for r in caplog.records) == 1
    assert comp.homography(img, K, np.eye(3), np.zeros((0, 4))) is not None
    assert CameraCompensation("off").homography(img, K, np.eye(3), np.zeros((0, 4))) is None
    with pytest.raises(ValueError, match="Unknown cmc mode 'imu'"):
        CameraCompensation("imu")
