"""WHAM's heatmap decode (UDP + DARK) and flip merge, on the fixture's stored heatmaps."""
import numpy as np
import pytest
import torch

from wham_ros.vitpose import COCO17_FLIP_INDEX, COCO17_NAMES, keypoints_from_heatmaps, \
    merge_flipped_heatmaps


@pytest.fixture(scope="module")
def data(parity):
    return parity.load_reference("inputs"), parity.load_reference("outputs_vitpose")


@pytest.mark.parametrize("heatmaps,keypoints", [
    ("heatmaps", "keypoints"), ("heatmaps_noflip", "keypoints_noflip"),
    ("f64_heatmaps", "f64_keypoints"), ("f64_heatmaps_noflip", "f64_keypoints_noflip")])
def test_decode_reproduces_reference(data, heatmaps, keypoints):
    inputs, ref = data
    kp = keypoints_from_heatmaps(ref[heatmaps], inputs["center"], inputs["scale"])
    assert kp.shape == (2, 17, 3) and kp.dtype == np.float32
    assert np.abs(kp[..., :2] - ref[keypoints][..., :2]).max() <= 1e-3  # bit-exact observed
    np.testing.assert_array_equal(kp[..., 2], ref[keypoints][..., 2])


def test_decode_accepts_torch_and_leaves_input_untouched(data):
    inputs, ref = data
    hm = torch.from_numpy(ref["heatmaps"].copy())
    kp = keypoints_from_heatmaps(hm, inputs["center"], inputs["scale"])
    np.testing.assert_array_equal(hm.numpy(), ref["heatmaps"])
    np.testing.assert_array_equal(kp, keypoints_from_heatmaps(ref["heatmaps"], inputs["center"],
                                                              inputs["scale"]))


def test_merge_flipped_matches_reference(data):
    ref = data[1]
    merged = merge_flipped_heatmaps(ref["heatmaps_noflip"], ref["heatmaps_flipped_raw"])
    np.testing.assert_array_equal(merged, ref["heatmaps"])


def test_flip_index_swaps_left_and_right():
    for i, j in enumerate(COCO17_FLIP_INDEX):
        a, b = COCO17_NAMES[i], COCO17_NAMES[j]
        assert a.replace("left", "X").replace("right", "left").replace("X", "right") == b


def test_gaussian_peak_is_recovered_subpixel():
    """A sigma-2 Gaussian at a sub-pixel spot decodes to that spot in image coordinates."""
    h, w = 64, 48
    yy, xx = np.mgrid[0:h, 0:w]
    peaks = np.array([[20.3, 30.6], [7.8, 50.2]])  # heatmap px [x, y]
    hm = np.zeros((2, 17, h, w), dtype=np.float32)
    for n, (px, py) in enumerate(peaks):
        hm[n, :] = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 2.0 ** 2))
    center = np.array([[100.0, 200.0], [320.5, 40.0]], dtype=np.float32)
    scale = np.array([[0.75, 1.0], [1.5, 2.0]], dtype=np.float32)
    kp = keypoints_from_heatmaps(hm, center, scale)
    size = scale * 200.0
    # UDP: heatmap pixels 0 and W - 1 sit on the box edges
    expected = peaks * size / [w - 1, h - 1] + center - size / 2
    err_hm_px = np.abs(kp[..., :2] - expected[:, None]).max() / (size / [w - 1, h - 1]).min()
    assert err_hm_px < 0.05
    np.testing.assert_allclose(kp[..., 2], hm.reshape(2, 17, -1).max(-1))


def test_decode_rejects_bad_shapes(data):
    inputs, ref = data
    with pytest.raises(ValueError, match="center and scale"):
        keypoints_from_heatmaps(ref["heatmaps"], inputs["center"][:1], inputs["scale"])
    with pytest.raises(ValueError, match=r"\(N, K, H, W\)"):
        keypoints_from_heatmaps(ref["heatmaps"][0], inputs["center"], inputs["scale"])
    with pytest.raises(ValueError, match="odd"):
        keypoints_from_heatmaps(ref["heatmaps"], inputs["center"], inputs["scale"], kernel=4)
