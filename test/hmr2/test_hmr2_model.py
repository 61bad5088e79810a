"""HMR2 encoder structure, rotation convention and checkpoint loading (tiny models)."""
import logging

import pytest
import torch

from wham_ros.hmr2 import HMR2Encoder, load_hmr2, rotation_6d_columns_to_matrix
from wham_ros.vit import CheckpointError


def _kw(model):
    return dict(backbone_cfg=model.backbone.cfg, decoder_cfg=model.decoder_cfg)


def test_real_size_names_and_shapes_match_hmr2a(parity):
    with torch.device("meta"):
        sd = HMR2Encoder().state_dict()
    keys = parity.load_keys("hmr2")
    assert list(sd) == list(keys)
    assert all(list(sd[n].shape) == keys[n]["shape"] for n in keys)


def test_6d_columns_convention():
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(50, 4, generator=g, dtype=torch.float64), dim=-1)
    w, x, y, z = q.unbind(-1)
    R = torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                     2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                     2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
                    -1).reshape(50, 3, 3)
    d6 = torch.cat([R[:, :, 0], R[:, :, 1]], -1)  # first two COLUMNS (HMR2.0)
    torch.testing.assert_close(rotation_6d_columns_to_matrix(d6), R)


def test_outputs_are_rotations_and_token_is_features(tiny_hmr2):
    x = torch.randn(3, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        out = tiny_hmr2(x)
    R = torch.cat([out["global_orient"], out["body_pose"]], 1)  # 3 x 24 x 3 x 3
    eye = torch.eye(3).expand_as(R)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(3, 24), atol=1e-5, rtol=0)
    # The outer 32 columns on each side are cropped away before the backbone.
    x2 = x.clone()
    x2[..., :32] = 5.0
    x2[..., -32:] = -5.0
    with torch.inference_mode():
        torch.testing.assert_close(tiny_hmr2(x2)["features"], out["features"])


def test_batch_equals_single(tiny_hmr2):
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        both = tiny_hmr2(x)
        one = tiny_hmr2(x[1:])
    for k in both:
        torch.testing.assert_close(both[k][1:], one[k], atol=1e-5, rtol=1e-5)


def test_float64_and_unknown_extra_entries_warn(tiny_hmr2, tiny_state_dict, caplog):
    state = dict(tiny_state_dict, **{"mystery.weight": torch.zeros(1)})
    with caplog.at_level(logging.WARNING):
        model = load_hmr2(state, dtype=torch.float64, **_kw(tiny_hmr2))
    assert "mystery.weight" in caplog.text
    assert next(model.parameters()).dtype == torch.float64
    assert model.smpl_head.init_cam.dtype == torch.float64


@pytest.mark.parametrize("mutate,message", [
    (lambda sd: sd.pop("smpl_head.decshape.bias"), "missing 1 entries: smpl_head.decshape.bias"),
    (lambda sd: sd.update({"smpl_head.extra.weight": torch.zeros(1)}),
     "unexpected entries: smpl_head.extra"),
    (lambda sd: sd.update({"smpl_head.init_betas": torch.zeros(1, 11)}),
     r"smpl_head.init_betas \(1, 11\) \(expected \(1, 10\)\)"),
])
def test_wrong_entries_are_rejected(tiny_hmr2, tiny_state_dict, mutate, message):
    state = dict(tiny_state_dict)
    mutate(state)
    with pytest.raises(CheckpointError, match=message):
        load_hmr2(state, **_kw(tiny_hmr2))


def test_real_size_loader_rejects_tiny_weights_by_shape(tiny_state_dict):
    with pytest.raises(CheckpointError, match="wrong shapes"):
        load_hmr2(tiny_state_dict)

