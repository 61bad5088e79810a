"""WHAM input formulas vs the reference demo's processed inputs (wham_parity fixture)."""
from pathlib import Path

import numpy as np
import pytest

from wham_ros.frontend.wham_inputs import (
    COCO17_JOINTS, KeypointInputError, bbox_from_keypoints, default_intrinsics,
    has_enough_joints, intrinsics_from_camera_info, keypoint_mask, normalize_keypoints)

DATA = Path(__file__).resolve().parents[1] / "data" / "wham_inputs" / "wham_parity_inputs.npz"
CASES = [(t, p) for t in ("T24", "T60") for p in ("", "flipped_")]


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(DATA))


@pytest.mark.parametrize("seq", ["T24", "T60"])
def test_bbox_from_keypoints_is_bit_exact(ref, seq):
    box = bbox_from_keypoints(ref[f"{seq}_raw_keypoints"])
    assert box.dtype == np.float32
    np.testing.assert_array_equal(box, ref[f"{seq}_raw_bbox"])
    np.testing.assert_array_equal(box, ref[f"{seq}_bbox"][0])


@pytest.mark.parametrize("seq,prefix", CASES)
def test_normalize_keypoints_matches_reference(ref, seq, prefix):
    # The flipped box is [W - cx, cy, s] of the unflipped one (not recomputed from the
    # mirrored joints), so each case is normalised with the box the demo fed the network.
    kp = ref[f"{seq}_{prefix}raw_keypoints"]
    res = ref[f"{seq}_{prefix}res"][0]
    x = normalize_keypoints(kp, ref[f"{seq}_{prefix}raw_bbox"], res)
    assert x.shape == (len(kp), 37) and x.dtype == np.float32
    assert np.abs(x - ref[f"{seq}_{prefix}x"][0]).max() <= 3e-7


@pytest.mark.parametrize("seq,prefix", CASES)
def test_mask_matches_reference(ref, seq, prefix):
    kp = ref[f"{seq}_{prefix}raw_keypoints"]
    mask = ref[f"{seq}_{prefix}mask"][0]
    assert mask.any()  # the fixture has low-confidence joints, so this is not vacuous
    np.testing.assert_array_equal(keypoint_mask(kp), mask)


def test_default_intrinsics_matches_reference(ref):
    w, h = ref["T24_res"][0]
    np.testing.assert_array_equal(default_intrinsics(w, h), ref["T24_cam_intrinsics"][0, 0])


def test_bbox_uses_only_confident_joints():
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, :, 2] = 0.9
    kp[0, :, 0] = np.linspace(100, 200, 17)     # w = 100
    kp[0, :, 1] = np.linspace(50, 450, 17)      # h = 400
    kp[0, 16] = [5000.0, 5000.0, 0.3]           # float32 0.3 is not > 0.3 (as WHAM)
    kp[0, 15, 2] = 0.3001
    box = bbox_from_keypoints(kp)
    ymax = np.linspace(50, 450, 17)[15]
    np.testing.assert_allclose(box[0], [(100 + np.linspace(100, 200, 17)[15]) / 2,
                                        (50 + ymax) / 2, 1.2 * (ymax - 50) / 200], rtol=1e-6)


def test_analytic_normalisation():
    kp = np.zeros((2, 17, 3), np.float32)
    kp[..., 2] = 1.0
    kp[0, :, :2] = [300.0, 200.0]               # every joint at the box centre
    kp[1, :, :2] = [300.0 + 50.0, 200.0 - 100.0]  # +1/4 and -1/2 of the half side (200)
    bbox = np.array([[300.0, 200.0, 2.0]] * 2, np.float32)  # side 400 px
    x = normalize_keypoints(kp, bbox, (800, 600))
    np.testing.assert_allclose(x[0, :34], 0.0)
    np.testing.assert_allclose(x[1, :34].reshape(17, 2), np.tile([0.25, -0.5], (17, 1)))
    np.testing.assert_allclose(x[:, 34:], [[(600 - 800) / 800, (400 - 600) / 800, 0.5]] * 2)


def test_has_enough_joints_counts_strictly_above_threshold():
    kp = np.zeros((3, 17, 3), np.float32)
    kp[0, :6, 2] = 0.31
    kp[1, :5, 2] = 0.9
    kp[2, :6, 2] = 0.3
    np.testing.assert_array_equal(has_enough_joints(kp), [True, False, False])


def test_intrinsics_from_camera_info():
    K = [500.0, 0, 320, 0, 510, 240, 0, 0, 1]
    np.testing.assert_array_equal(intrinsics_from_camera_info(K, 640, 480),
                                  np.array(K, np.float32).reshape(3, 3))
    np.testing.assert_array_equal(intrinsics_from_camera_info([0] * 9, 640, 480),
                                  default_intrinsics(640, 480))
    with pytest.raises(KeypointInputError, match="9 values"):
        intrinsics_from_camera_info([1, 2, 3], 640, 480)
    with pytest.raises(KeypointInputError, match="positive fx"):
        intrinsics_from_camera_info([-5.0, 0, 320, 0, 510, 240, 0, 0, 1], 640, 480)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(KeypointInputError, match=r"\(N, 17, 3\).*got shape \(17, 3\)"):
        bbox_from_keypoints(np.zeros((17, 3)))
    with pytest.raises(KeypointInputError, match="no joint with confidence"):
        bbox_from_keypoints(np.zeros((1, 17, 3)))
    with pytest.raises(KeypointInputError, match="bbox must be"):
        normalize_keypoints(np.ones((2, 17, 3)), np.ones((3, 3)), (640, 480))
    with pytest.raises(KeypointInputError, match="res must be"):
        normalize_keypoints(np.ones((1, 17, 3)), np.ones((1, 3)), (640, 0))


def test_joint_names_are_coco_order():
    assert len(COCO17_JOINTS) == 17
    assert COCO17_JOINTS.index("left_hip") == 11 and COCO17_JOINTS.index("right_ankle") == 16
