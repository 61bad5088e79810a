"""Every official model-file layout (replicas with synthetic values) loads through the public
loaders and the one safe reader; files that would run code are refused by name."""
import logging
import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest
import torch

import replicas
from wham_ros.assets.safe_load import (Inert, ModelFileReadError, UnsafeModelFile, as_array,
                                       load_pickle_file, load_torch_file)
from wham_ros.body import BodyModelError
from wham_ros.body.convert import load_smpl_pickle
from wham_ros.body.convert import main as convert_main
from wham_ros.body.smpl import SMPLBody, read_body_model_dir
from wham_ros.hmr2 import DecoderConfig, HMR2Encoder, load_hmr2
from wham_ros.testing.synthetic_frontend import synthetic_weights_for
from wham_ros.testing.synthetic_wham import smpl_checkpoint_entries
from wham_ros.vit import CheckpointError, ViTConfig
from wham_ros.vitpose import ViTPose, load_vitpose
from wham_ros.wham import CheckpointError as WHAMCheckpointError
from wham_ros.wham import load_network

TINY_VIT = ViTConfig(embed_dim=64, depth=2, num_heads=4)
TINY_DECODER = DecoderConfig(dim=64, depth=2, heads=2, dim_head=16, mlp_dim=64)
SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def _data_pkl(path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))


def _equal(loaded, written):
    assert sorted(loaded) == sorted(written)
    for name, tensor in written.items():
        assert torch.equal(loaded[name], torch.as_tensor(tensor)), name


# ---------------------------------------------------------------- WHAM (trainer dict)

@pytest.fixture(scope="module")
def wham_model_state(wham_state_dict, smpl_arrays):
    state = {k: torch.from_numpy(v) for k, v in wham_state_dict.items()}
    state.update({k: torch.from_numpy(v) for k, v in smpl_checkpoint_entries(smpl_arrays).items()})
    return state


@pytest.mark.parametrize("name", ["wham_vit_bedlam_w_3dpw.pth.tar", "wham_vit_w_3dpw.pth.tar"])
def test_wham_trainer_checkpoint(tmp_path, name, wham_model_state, body_model_dir):
    path = replicas.write_wham_trainer_checkpoint(tmp_path / name, wham_model_state)
    raw = _data_pkl(path)      # the replica holds what the real file holds
    assert b"cnumpy.core.multiarray\nscalar\n" in raw and b"cnumpy\ndtype\n" in raw
    assert b"cuda:0" in raw and b"cpu" not in raw

    ckpt = load_torch_file(path)
    assert ckpt["performance"] == np.float64(45.873) and ckpt["epoch"] == 38
    groups = ckpt["optimizer"]["param_groups"]
    assert len(groups) == len({k.split(".")[0] for k in wham_model_state}) > 5
    assert ckpt["model"]["motion_encoder.embed_layer.bias"].device.type == "cpu"

    net = load_network(str(path), body_model_dir)
    _equal(net.state_dict(), {k: v for k, v in wham_model_state.items()
                              if not k.startswith("smpl.")})


# ---------------------------------------------------------------- SMPL pickles

@pytest.fixture(scope="module")
def smpl_300(smpl_arrays):
    """v1.1.0: 300 shape components."""
    extra = np.random.default_rng(0).normal(0, 1e-3, (6890, 3, 290)).astype(np.float32)
    return dict(smpl_arrays, shapedirs=np.concatenate([smpl_arrays["shapedirs"], extra], -1))


@pytest.mark.parametrize("layout", ["v1.0.0-py2", "v1.1.0-py2", "clean_ch-protocol0",
                                    "py3-protocol2", "py3-protocol5"])
def test_smpl_pickles_convert(tmp_path, layout, smpl_arrays, smpl_300, body_model_dir, capsys):
    arrays = smpl_300 if layout.startswith("v1.1.0") else smpl_arrays
    pkl = tmp_path / "basicModel_neutral_lbs_10_207_0.pkl"
    if layout.endswith("py2"):
        replicas.write_mpi_smpl_pickle(pkl, arrays)
    elif layout.startswith("clean_ch"):
        replicas.write_clean_ch_pickle(pkl, arrays)
    else:
        replicas.write_py3_repickle(pkl, arrays, protocol=int(layout[-1]))
    head = pkl.read_bytes()[:2]
    assert head == (b"(d" if layout.startswith("clean_ch") else
                    bytes([0x80, 5 if layout.endswith("5") else 2]))

    out = tmp_path / "smpl" / "SMPL_NEUTRAL.npz"
    out.parent.mkdir()
    assert convert_main([str(pkl), str(out)]) == 0, capsys.readouterr().err
    with np.load(out, allow_pickle=False) as z:
        for key in SMPL_KEYS:
            expected = arrays[key].astype(z[key].dtype)
            assert np.array_equal(z[key], expected), key
        assert z["shapedirs"].shape[-1] == arrays["shapedirs"].shape[-1]
    if layout.startswith("v1.1.0"):
        for name in ("J_regressor_wham.npy", "J_regressor_feet.npy"):
            shutil.copy(os.path.join(body_model_dir, name), tmp_path / name)
        assert SMPLBody(read_body_model_dir(str(tmp_path))).num_betas == 10


def test_py2_smpl_pickle_objects_are_inert(tmp_path, smpl_arrays):
    pkl = replicas.write_mpi_smpl_pickle(tmp_path / "m.pkl", smpl_arrays)
    data = load_pickle_file(pkl)
    ch = data["shapedirs"]
    assert isinstance(ch, Inert) and ch.foreign == "chumpy.ch.Ch"
    assert ch.state["_dirty_vars"] == {"x"} and data["bs_style"] == "lbs"
    assert data["J_regressor"].foreign == "scipy.sparse.csc.csc_matrix"
    assert np.array_equal(as_array(data["J_regressor"]), smpl_arrays["J_regressor"])


def test_inconsistent_sparse_matrix_is_reported(tmp_path, smpl_arrays):
    data = replicas.mpi_smpl_dict(smpl_arrays)
    data["J_regressor"].indptr = data["J_regressor"].indptr[:-5]
    pkl = tmp_path / "bad.pkl"
    pkl.write_bytes(replicas.pickle_bytes(data, protocol=2, py2=True))
    with pytest.raises(BodyModelError, match="csc_matrix of shape \\(24, 6890\\) has "
                                             "inconsistent data/indices/indptr"):
        load_smpl_pickle(str(pkl))


# ---------------------------------------------------------------- ViTPose (mmcv) and HMR2.0 (Lightning)

@pytest.fixture(scope="module")
def vitpose_state():
    return synthetic_weights_for(lambda: ViTPose(TINY_VIT, 32))


@pytest.fixture(scope="module")
def hmr2_state():
    return synthetic_weights_for(lambda: HMR2Encoder(TINY_VIT, TINY_DECODER))


def test_mmcv_vitpose_checkpoint(tmp_path, vitpose_state, caplog):
    path = replicas.write_mmcv_checkpoint(tmp_path / "vitpose-h-multi-coco.pth", vitpose_state)
    assert b"cnumpy.core.multiarray\nscalar\n" in _data_pkl(path)
    assert load_torch_file(path)["meta"]["hook_msgs"]["best_score"] == np.float64(0.7891)
    with caplog.at_level(logging.WARNING):
        model = load_vitpose(str(path), backbone_cfg=TINY_VIT, head_channels=32)
    assert not caplog.records
    _equal(model.state_dict(), vitpose_state)


def test_export_cli_reads_mmcv_checkpoint(tmp_path, vitpose_state, caplog):
    """``wham-ros export vitpose`` gets past reading: the tiny replica fails on ViTPose-H's
    shapes, not on the file."""
    from wham_ros.models.export_onnx import main

    path = replicas.write_mmcv_checkpoint(tmp_path / "vitpose-h-multi-coco.pth", vitpose_state)
    with caplog.at_level(logging.ERROR):
        assert main(["vitpose", str(path), str(tmp_path / "out.onnx")]) == 1
    assert "does not match the expected architecture" in caplog.text
    assert "cannot read" not in caplog.text


@pytest.mark.parametrize("config", ["omegaconf", "yacs"])
def test_lightning_hmr2_checkpoint(tmp_path, hmr2_state, config, caplog):
    state = dict(hmr2_state, **{"discriminator.D_conv1.weight": torch.zeros(3),
                                "smpl.J_regressor": torch.zeros(2, 2),
                                "initialized": torch.tensor(True)})
    path = replicas.write_lightning_checkpoint(tmp_path / "hmr2a.ckpt", state, config)
    cfg = load_torch_file(path)["hyper_parameters"]["cfg"]
    if config == "omegaconf":
        assert cfg.foreign == "omegaconf.dictconfig.DictConfig"
        lr = cfg.state["_content"]["TRAIN"].state["_content"]["LR"]
        assert lr.state["_val"] == 1e-5 and lr.state["_parent"].foreign == cfg.foreign
    else:
        assert cfg["TRAIN"]["LR"] == 1e-5 and cfg.__dict__["__immutable__"] is True
    with caplog.at_level(logging.WARNING):
        model = load_hmr2(str(path), backbone_cfg=TINY_VIT, decoder_cfg=TINY_DECODER)
    assert not caplog.records
    _equal(model.state_dict(), hmr2_state)


# ---------------------------------------------------------------- refusals and errors

def test_code_in_torch_file_is_refused_by_every_loader(tmp_path, body_model_dir):
    marker = tmp_path / "ran"

    class TouchesFile:
        def __reduce__(self):
            import os
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pth"
    torch.save({"model": {}, "state_dict": {}, "x": TouchesFile()}, path)
    with pytest.raises(UnsafeModelFile, match=f"'{path}': refusing to load posix.system"):
        load_torch_file(path)
    with pytest.raises(WHAMCheckpointError, match="refusing to load posix.system"):
        load_network(str(path), body_model_dir)
    with pytest.raises(CheckpointError, match=f"'{path}': refusing to load posix.system"):
        load_vitpose(str(path))
    assert not marker.exists()


def test_code_in_pickle_is_refused(tmp_path, capsys):
    marker = tmp_path / "ran"
    pkl = tmp_path / "evil.pkl"

    class TouchesFile:
        def __reduce__(self):
            import os
            return os.system, (f"touch {marker}",)

    pkl.write_bytes(pickle.dumps({"v_template": TouchesFile()}, protocol=2))
    assert convert_main([str(pkl), str(tmp_path / "o.npz")]) == 1
    assert "refusing to load posix.system" in capsys.readouterr().err
    assert not marker.exists()


class UnknownConfig:
    """A harmless class the allowlist does not know."""


def test_unknown_class_is_named_not_called_corrupt(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "cfg": UnknownConfig()}, path)
    with pytest.raises(UnsafeModelFile) as info:
        load_torch_file(path)
    assert info.value.global_name == f"{__name__}.UnknownConfig"
    assert "truncated" not in str(info.value) and str(path) in str(info.value)


def test_truncated_and_missing_files(tmp_path, vitpose_state):
    path = replicas.write_mmcv_checkpoint(tmp_path / "v.pth", vitpose_state)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileReadError, match="corrupt, truncated or not a torch checkpoint"):
        load_torch_file(path)
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(pickle.dumps({"a": np.zeros(100)})[:60])
    with pytest.raises(ModelFileReadError, match="corrupt or truncated pickle"):
        load_pickle_file(pkl)
    with pytest.raises(ModelFileReadError, match="file not found"):
        load_pickle_file(tmp_path / "nope.pkl")


@pytest.mark.parametrize("zip_format", [True, False])
def test_numpy2_names_and_legacy_format(tmp_path, zip_format):
    """Files written here (numpy 2: ``numpy._core`` names, numpy-2 dtype classes) and in the
    pre-1.6 non-zip torch format load the same; unknown classes are named in both."""
    path = tmp_path / "ckpt.pth"
    obj = {"w": torch.arange(3.0), "score": np.float32(0.5), "arr": np.arange(4),
           "tags": {"a", "b"}, "kind": np.dtype("int16")}
    torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    loaded = load_torch_file(path)
    assert torch.equal(loaded["w"], obj["w"]) and loaded["score"] == np.float32(0.5)
    assert np.array_equal(loaded["arr"], obj["arr"]) and loaded["tags"] == {"a", "b"}
    assert loaded["kind"] == np.dtype("int16")
    torch.save({"cfg": UnknownConfig()}, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(UnsafeModelFile, match=f"refusing to load {__name__}.UnknownConfig"):
        load_torch_file(path)
