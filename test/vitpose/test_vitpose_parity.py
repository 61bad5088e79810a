"""ViTPose-H (real size, synthetic name-seeded weights) against the frontend_parity fixture.

What runs (2 CPU cores, ~45 s):
* float32 (the deployed precision), one batch of the 2 crops + their mirror images:
  plain heatmaps and flip-merged heatmaps ≤ 1e-4 of the float64 reference, same arg-max for
  all 68 maps, WHAM keypoints ≤ 0.01 px where well conditioned (≤ 0.2 px elsewhere),
  scores ≤ 1e-4.
* float64, the 2 crops without flip: heatmaps ≤ 1e-10 relative and keypoints ≤ 1e-4 px of
  the float64 reference (the flip path is the same network on mirrored input).
"""
import gc

import numpy as np
import pytest
import torch

from wham_ros.vitpose import keypoints_from_heatmaps, load_vitpose, merge_flipped_heatmaps


@pytest.fixture(scope="module")
def weights(parity):
    return {n: torch.from_numpy(a) for n, a in parity.synthetic_state_dict("vitpose").items()}


@pytest.fixture(scope="module")
def data(parity):
    return parity.load_reference("inputs"), parity.load_reference("outputs_vitpose")


@pytest.fixture(scope="module")
def f32_heatmaps(weights, data):
    """(plain (2, 17, 64, 48), mirrored-input (2, 17, 64, 48)) from one float32 batch of 4."""
    net = load_vitpose(weights, dtype=torch.float32)
    x = torch.from_numpy(data[0]["input_tensor"])
    with torch.inference_mode():
        out = net(torch.cat([x, x.flip(-1)])).numpy()
    del net
    gc.collect()
    return out[:2], out[2:]


@pytest.fixture(scope="module")
def f64_heatmaps(weights, data):
    net = load_vitpose(weights, dtype=torch.float64)
    with torch.inference_mode():
        out = net(torch.from_numpy(data[0]["input_tensor"]).double()).numpy()
    del net
    gc.collect()
    return out


def test_weights_follow_the_fixture_rule(parity, weights):
    keys = parity.load_keys("vitpose")
    assert list(weights) == list(keys)
    for name in ["backbone.pos_embed", "backbone.blocks.7.attn.qkv.weight",
                 "backbone.last_norm.bias", "keypoint_head.deconv_layers.0.weight",
                 "keypoint_head.deconv_layers.4.running_var", "keypoint_head.final_layer.bias"]:
        assert parity.sha256_of(weights[name].numpy()) == keys[name]["sha256"], name


def test_float32_heatmaps(f32_heatmaps, data):
    ref = data[1]
    plain, mirrored = f32_heatmaps
    merged = merge_flipped_heatmaps(plain, mirrored)
    assert np.abs(plain - ref["f64_heatmaps_noflip"]).max() <= 1e-4
    assert np.abs(merged - ref["f64_heatmaps"]).max() <= 1e-4
    for mine, theirs in [(plain, ref["f64_heatmaps_noflip"]), (merged, ref["f64_heatmaps"])]:
        np.testing.assert_array_equal(mine.reshape(34, -1).argmax(1),
                                      theirs.reshape(34, -1).argmax(1))


@pytest.mark.parametrize("flip", [True, False])
def test_float32_keypoints(f32_heatmaps, data, flip):
    inputs, ref = data
    plain, mirrored = f32_heatmaps
    suffix = "" if flip else "_noflip"
    heatmaps = merge_flipped_heatmaps(plain, mirrored) if flip else plain
    kp = keypoints_from_heatmaps(heatmaps, inputs["center"], inputs["scale"])
    expected = ref["f64_keypoints" + suffix]
    well = ref["well_conditioned" + suffix]
    err_px = np.abs(kp[..., :2] - expected[..., :2]).max(-1)  # 2 x 17
    assert err_px[well].max() <= 0.01
    assert err_px.max() <= 0.2
    assert np.abs(kp[..., 2] - expected[..., 2]).max() <= 1e-4


def test_float64_matches_float64_reference(f64_heatmaps, data):
    inputs, ref = data
    expected = ref["f64_heatmaps_noflip"]
    assert np.abs(f64_heatmaps - expected).max() <= 1e-10 * max(1.0, np.abs(expected).max())
    kp = keypoints_from_heatmaps(f64_heatmaps, inputs["center"], inputs["scale"])
    np.testing.assert_allclose(kp, ref["f64_keypoints_noflip"], rtol=0, atol=1e-4)
