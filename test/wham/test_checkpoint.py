"""Loading the official checkpoint layout strictly, and loud failures for bad files."""
import logging

import pytest
import torch

from wham_ros.body import BodyModelError
from wham_ros.testing.synthetic_wham import (learned_shapes_from_keys_json,
                                             write_official_checkpoint)
from wham_ros.wham import CheckpointError, load_network


@pytest.fixture(scope="module")
def official_file(tmp_path_factory, wham_keys_path, smpl_arrays):
    path = tmp_path_factory.mktemp("ckpt") / "wham_vit_bedlam_w_3dpw.pth.tar"
    return str(write_official_checkpoint(str(path), learned_shapes_from_keys_json(wham_keys_path),
                                         smpl_arrays))


def test_official_layout_round_trip(official_file, body_model_dir, wham_state_dict):
    net = load_network(official_file, body_model_dir)
    assert not net.training
    sd = net.state_dict()
    assert len(sd) == 83 and not any(k.startswith("smpl.") for k in sd)
    assert sum(p.numel() for p in net.parameters()) == 42_034_668
    for k, v in wham_state_dict.items():
        assert torch.equal(sd[k], torch.from_numpy(v)), k
    raw = torch.load(official_file, weights_only=True)["model"]
    assert torch.equal(net.smpl.J_regressor_feet, raw["smpl.J_regressor_feet"])


def test_float64_load(official_file, body_model_dir):
    net = load_network(official_file, body_model_dir, dtype=torch.float64)
    assert net.dtype == torch.float64 and net.smpl.v_template.dtype == torch.float64


def test_missing_file(tmp_path, body_model_dir):
    with pytest.raises(CheckpointError, match="not found: .*nope.pth.tar"):
        load_network(str(tmp_path / "nope.pth.tar"), body_model_dir)


def test_truncated_file(tmp_path, official_file, body_model_dir):
    bad = tmp_path / "trunc.pth.tar"
    with open(official_file, "rb") as fh:
        bad.write_bytes(fh.read()[:100_000])
    with pytest.raises(CheckpointError, match="Cannot read WHAM checkpoint .*trunc.pth.tar"):
        load_network(str(bad), body_model_dir)


def test_no_model_key(tmp_path, body_model_dir, wham_state_dict):
    p = tmp_path / "flat.pth"
    torch.save({"state_dict": {}}, p)
    with pytest.raises(CheckpointError, match="no 'model' entry"):
        load_network(str(p), body_model_dir)


def test_pickled_code_is_refused(tmp_path, body_model_dir):
    p = tmp_path / "evil.pth"
    torch.save({"model": {}, "cfg": OSError("arbitrary object")}, p)
    with pytest.raises(CheckpointError, match="Cannot read"):
        load_network(str(p), body_model_dir)


def _sd(wham_state_dict):
    return {k: torch.from_numpy(v.copy()) for k, v in wham_state_dict.items()}


def test_missing_and_unexpected_keys(body_model_dir, wham_state_dict):
    sd = _sd(wham_state_dict)
    sd.pop("integrator.layer1.weight")
    sd["integrator.layer9.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"missing 1 \['integrator.layer1.weight'\], "
                                              r"unexpected 1 \['integrator.layer9.weight'\]"):
        load_network(sd, body_model_dir)


def test_wrong_shape(body_model_dir, wham_state_dict):
    sd = _sd(wham_state_dict)
    sd["mask_embedding"] = torch.zeros(1, 1, 16, 2)
    with pytest.raises(CheckpointError, match="mask_embedding: \\(1, 1, 16, 2\\)"):
        load_network(sd, body_model_dir)


def test_non_finite_weights(body_model_dir, wham_state_dict):
    sd = _sd(wham_state_dict)
    sd["motion_encoder.embed_layer.bias"][3] = float("nan")
    with pytest.raises(CheckpointError, match="NaN/inf in \\['motion_encoder.embed_layer.bias'\\]"):
        load_network(sd, body_model_dir)


def test_checkpoint_smpl_entries_override_with_warning(body_model_dir, wham_state_dict, caplog):
    sd = _sd(wham_state_dict)
    net0 = load_network(sd, body_model_dir)
    sd["smpl.v_template"] = net0.smpl.v_template + 0.01
    with caplog.at_level(logging.WARNING):
        net = load_network(sd, body_model_dir)
    assert "smpl.v_template" in caplog.text
    assert torch.equal(net.smpl.v_template, sd["smpl.v_template"])
    # Buffers derived from the template (vertex subset, rest joints) follow the override.
    eye = torch.eye(3).expand(1, 24, 3, 3)
    pose = lambda m: m.smpl(eye[:, :1], eye[:, 1:], torch.zeros(1, 10))  # noqa: E731
    assert torch.allclose(pose(net).offset, pose(net0).offset + 0.01, atol=1e-6)
    assert torch.allclose(pose(net).smpl_joints, pose(net0).smpl_joints, atol=1e-6)


def test_missing_body_model(tmp_path, wham_state_dict):
    with pytest.raises(BodyModelError, match="SMPL model not found"):
        load_network(_sd(wham_state_dict), str(tmp_path))
