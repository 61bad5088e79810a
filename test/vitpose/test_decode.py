"""WHAM's heatmap decode (UDP + DARK) and flip merge, on the fixture's stored heatmaps."""
import cv2
import numpy as np
import pytest
import torch

from wham_ros.vitpose import COCO17_FLIP_INDEX, COCO17_NAMES, keypoints_from_heatmaps, \
    merge_flipped_heatmaps
from wham_ros.vitpose.decode import _argmax_points, _log_blur_around


def integer_peak_keypoints(heatmaps, inputs):
    """(N, 17, 3) keypoints of the integer arg-max of each map (UDP back-projection)."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    points = np.stack([flat.argmax(-1) % w, flat.argmax(-1) // w], -1).astype(np.float32)
    size = np.asarray(inputs["scale"], np.float32) * np.float32(200.0)
    xy = points * (size / np.array([w - 1, h - 1], np.float32))[:, None] \
        + np.asarray(inputs["center"], np.float32)[:, None] - size[:, None] * np.float32(0.5)
    return np.concatenate([xy, flat.max(-1)[..., None].astype(np.float32)], -1)


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
    # Bit-exact on all 34 maps, the 4-5 ill-conditioned ones included (Newton steps up to
    # 5.8 heatmap px: bounded, not degenerate).
    np.testing.assert_array_equal(kp[..., :2], ref[keypoints][..., :2])
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


def full_map_log_blur(heatmaps, kernel=11):
    """The reference's L: every map blurred whole, clipped, logged, edge-padded by one px."""
    logs = np.empty_like(heatmaps)
    for i in range(heatmaps.shape[0]):
        for j in range(heatmaps.shape[1]):
            cv2.GaussianBlur(heatmaps[i, j], (kernel, kernel), 0, dst=logs[i, j])
    np.clip(logs, 0.001, 50, out=logs)
    return np.pad(np.log(logs), ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blur_around_peaks_equals_full_map_blur(dtype):
    rng = np.random.default_rng(7)
    hm = rng.normal(size=(3, 17, 64, 48)).astype(dtype)
    hm[0, 0, 0, 0] = hm[0, 1, 63, 47] = hm[0, 2, 0, 20] = hm[1, 3, 30, 0] = 10.0  # border peaks
    points, _ = _argmax_points(hm)
    near = _log_blur_around(points, hm, 11)
    full = full_map_log_blur(hm)
    for i in range(3):
        for j in range(17):
            x, y = (int(v) for v in points[i, j])
            np.testing.assert_array_equal(near[i, j], full[i, j, y:y + 3, x:x + 3])


def degenerate_heatmaps():
    """(name, (17, 64, 48) float32) maps that break an unbounded Newton step."""
    h, w = 64, 48
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(3)
    plateau = np.zeros((h, w), np.float32)
    plateau[10:40, 5:30] = 1.0
    ridge_x = np.exp(-((yy - 20.0) ** 2) / 8.0)  # constant along x
    ridge_diag = np.exp(-((xx - yy + 5.0) ** 2) / 8.0)
    saddle = 1.0 + 0.01 * ((xx - 24) ** 2 - (yy - 32) ** 2)
    # Smooth noise clipped at its 98th percentile: plateaus with curved rims, on which the
    # unbounded reference steps 20 heatmap px from the peak.
    blobs = cv2.GaussianBlur(np.random.default_rng(59).normal(size=(h, w)).astype(np.float32),
                             (0, 0), 4.0)
    maps = {
        "clipped_blobs": np.minimum(blobs, np.quantile(blobs, 0.98)),
        "zero": np.zeros((h, w), np.float32), "flat": np.full((h, w), 0.7, np.float32),
        "negative": np.full((h, w), -1.0, np.float32), "plateau": plateau,
        "ridge_x": ridge_x, "ridge_diag": ridge_diag, "saddle": saddle,
        "noise": rng.normal(size=(h, w)).astype(np.float32),
        "tiny_noise": (1.0 + 1e-6 * rng.normal(size=(h, w))).astype(np.float32),
    }
    for y, x in [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (0, 17), (40, w - 1)]:
        spike = np.zeros((h, w), np.float32)
        spike[y, x] = 5.0
        maps[f"spike_{y}_{x}"] = spike
    return [(name, np.repeat(m[None].astype(np.float32), 17, 0)) for name, m in maps.items()]


@pytest.mark.parametrize("name,maps", degenerate_heatmaps(), ids=[n for n, _ in degenerate_heatmaps()])
def test_degenerate_heatmaps_decode_inside_the_crop(name, maps):
    center = np.array([[300.0, 200.0]], np.float32)
    scale = np.array([[1.5, 2.0]], np.float32)
    kp = keypoints_from_heatmaps(maps[None], center, scale)
    size = scale[0] * 200.0
    one_px = size / [47, 63]  # image px per heatmap px
    lo, hi = center[0] - size / 2 - one_px, center[0] + size / 2 + one_px
    assert np.all(np.isfinite(kp[..., :2]))
    assert np.all(kp[0, :, :2] >= lo - 1e-3) and np.all(kp[0, :, :2] <= hi + 1e-3)
    peak = integer_peak_keypoints(maps[None], {"center": center, "scale": scale})
    if name in ("zero", "flat", "negative"):
        # Singular Hessian (zero, flat): the integer peak; no peak (score <= 0): -1 as in the
        # reference.
        kept = peak - [*one_px, 0] if name in ("zero", "negative") else peak
        np.testing.assert_allclose(kp, kept, rtol=0, atol=1e-3)
    elif name.startswith("spike"):  # a blurred spike is a Gaussian: refined by < 1 px
        assert np.abs(kp[..., :2] - peak[..., :2]).max() <= 1.0 * one_px.max()
    else:  # plateau (arg-max on its corner), ridges, saddle, noise, clipped blobs: bounded steps
        assert np.abs(kp[..., :2] - peak[..., :2]).max() <= 11.0 * one_px.max() + 1e-3
