"""HMR2.0 encoder (real size, synthetic name-seeded weights) against the frontend_parity fixture.

What runs (2 CPU cores, ~40 s):
* float32, one batch of the 2 crops + their mirror images (WHAM runs them one at a time):
  features/betas/cam max|Δ|/max|ref| ≤ 1e-4 and rotation entries ≤ 1e-3 of the float64
  reference, for the plain and the ``flipped_*`` outputs.
* float64, the 2 plain crops: every output ≤ 1e-10 relative of the float64 reference.
"""
import gc

import numpy as np
import pytest
import torch

from wham_ros.hmr2 import load_hmr2

# our output name -> fixture name
REF_NAMES = {"features": "features", "global_orient": "init_global_orient",
             "body_pose": "init_body_pose", "betas": "init_betas", "cam": "init_cam"}


@pytest.fixture(scope="module")
def weights(parity):
    return {n: torch.from_numpy(a) for n, a in parity.synthetic_state_dict("hmr2").items()}


@pytest.fixture(scope="module")
def data(parity):
    return parity.load_reference("inputs"), parity.load_reference("outputs_hmr2")


def _run(weights, x, dtype):
    enc = load_hmr2(weights, dtype=dtype)
    with torch.inference_mode():
        out = {k: v.numpy() for k, v in enc(x.to(dtype)).items()}
    del enc
    gc.collect()
    return out


@pytest.fixture(scope="module")
def f32_outputs(weights, data):
    x = torch.from_numpy(data[0]["norm_img"])
    return _run(weights, torch.cat([x, torch.flip(x, (3,))]), torch.float32)


@pytest.fixture(scope="module")
def f64_outputs(weights, data):
    return _run(weights, torch.from_numpy(data[0]["norm_img"]), torch.float64)


def test_weights_follow_the_fixture_rule(parity, weights):
    keys = parity.load_keys("hmr2")
    assert list(weights) == list(keys)
    for name in ["backbone.patch_embed.proj.weight", "smpl_head.init_body_pose",
                 "smpl_head.init_cam",
                 "smpl_head.transformer.transformer.layers.3.1.fn.to_kv.weight",
                 "smpl_head.transformer.to_token_embedding.weight", "smpl_head.decpose.bias"]:
        assert parity.sha256_of(weights[name].numpy()) == keys[name]["sha256"], name


def test_output_shapes(f32_outputs):
    shapes = {k: v.shape for k, v in f32_outputs.items()}
    assert shapes == {"features": (4, 1024), "global_orient": (4, 1, 3, 3),
                      "body_pose": (4, 23, 3, 3), "betas": (4, 10), "cam": (4, 3)}


@pytest.mark.parametrize("prefix,rows", [("", slice(0, 2)), ("flipped_", slice(2, 4))])
def test_float32_outputs(f32_outputs, data, prefix, rows):
    ref = data[1]
    for name, ref_name in REF_NAMES.items():
        mine, expected = f32_outputs[name][rows], ref[prefix + ref_name]
        err = np.abs(mine - expected).max()
        if name in ("global_orient", "body_pose"):
            assert err <= 1e-3, name
        else:
            assert err / np.abs(expected).max() <= 1e-4, name


def test_float64_outputs(f64_outputs, data):
    ref = data[1]
    for name, ref_name in REF_NAMES.items():
        expected = ref[ref_name]
        tol = 1e-10 * max(1.0, np.abs(expected).max())
        assert np.abs(f64_outputs[name] - expected).max() <= tol, name
    np.testing.assert_allclose(f64_outputs["features"], ref["int_decoder_layers"][:, 5],
                               rtol=0, atol=1e-10 * np.abs(ref["features"]).max())
