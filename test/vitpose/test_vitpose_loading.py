"""ViTPose model structure and checkpoint loading, including broken files (tiny models)."""
import logging

import pytest
import torch

from wham_ros.vit import CheckpointError
from wham_ros.vitpose import ViTPose, load_vitpose, merge_flipped_heatmaps


def _kw(model):
    return dict(backbone_cfg=model.backbone.cfg,
                head_channels=model.keypoint_head.final_layer.in_channels)


@pytest.fixture()
def mmpose_file(tmp_path, tiny_state_dict):
    """A tiny checkpoint in the mmpose layout (DataParallel prefix, meta, extra heads)."""
    state = {f"module.{n}": t for n, t in tiny_state_dict.items()}
    state["module.associate_keypoint_heads.0.final_layer.weight"] = torch.zeros(3, 3)
    path = tmp_path / "vitpose-tiny.pth"
    torch.save({"meta": {"epoch": 210, "mmpose_version": "0.24.0"}, "state_dict": state}, path)
    return path


def test_real_size_names_and_shapes_match_official(parity):
    with torch.device("meta"):
        sd = ViTPose().state_dict()
    keys = parity.load_keys("vitpose")
    assert list(sd) == list(keys)
    assert all(list(sd[n].shape) == keys[n]["shape"] for n in keys)


def test_mmpose_checkpoint_loads_and_warns_about_extra_heads(mmpose_file, tiny_vitpose, caplog):
    with caplog.at_level(logging.WARNING):
        model = load_vitpose(str(mmpose_file), **_kw(tiny_vitpose))
    assert "associate_keypoint_heads.0.final_layer.weight" in caplog.text
    assert not model.training
    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = model(x)
        torch.testing.assert_close(out, tiny_vitpose(x))
    assert out.shape == (2, 17, 64, 48)


def test_flip_test_is_the_merged_mirror_pass(tiny_vitpose):
    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        merged = tiny_vitpose(x, flip_test=True).numpy()
        plain, mirrored = tiny_vitpose(x).numpy(), tiny_vitpose(x.flip(-1)).numpy()
    torch.testing.assert_close(torch.from_numpy(merged),
                               torch.from_numpy(merge_flipped_heatmaps(plain, mirrored)),
                               atol=1e-5, rtol=1e-5)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match=f"ViTPose checkpoint '{path}' not found"):
        load_vitpose(str(path))


def test_truncated_file(mmpose_file, tiny_vitpose):
    data = mmpose_file.read_bytes()
    mmpose_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"cannot read ViTPose checkpoint '{mmpose_file}'"):
        load_vitpose(str(mmpose_file), **_kw(tiny_vitpose))


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="corrupt, truncated or not a torch checkpoint"):
        load_vitpose(str(path))


def test_file_without_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="holds no state dict"):
        load_vitpose(str(path))


def test_pickled_code_is_not_executed(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": Evil()}}, path)
    with pytest.raises(CheckpointError, match=str(path)):
        load_vitpose(str(path))
    assert "executed" not in capsys.readouterr().out


@pytest.mark.parametrize("mutate,message", [
    (lambda sd: sd.pop("keypoint_head.final_layer.bias"),
     "missing 1 entries: keypoint_head.final_layer.bias"),
    (lambda sd: sd.update({"backbone.blocks.2.norm1.weight": torch.ones(64)}),
     "unexpected entries: backbone.blocks.2.norm1.weight"),
    (lambda sd: sd.update({"keypoint_head.final_layer.weight": torch.zeros(16, 32, 1, 1)}),
     r"final_layer.weight \(16, 32, 1, 1\) \(expected \(17, 32, 1, 1\)\)"),
])
def test_wrong_entries_are_rejected(tiny_state_dict, tiny_vitpose, mutate, message):
    state = dict(tiny_state_dict)
    mutate(state)
    with pytest.raises(CheckpointError, match=message):
        load_vitpose(state, **_kw(tiny_vitpose))


def test_real_size_loader_rejects_tiny_weights_by_shape(tiny_state_dict):
    with pytest.raises(CheckpointError,
                       match=r"ViTPose state dict does not match .* wrong shapes"):
        load_vitpose(tiny_state_dict)


def test_bad_argument_types():
    with pytest.raises(CheckpointError,
                       match="expected a checkpoint path or a state dict, got int"):
        load_vitpose(3)
    with pytest.raises(ValueError, match="floating point"):
        load_vitpose({}, dtype=torch.int32)
