"""SMPL body model: agreement with smplx, subset skinning, pickle conversion."""
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from wham_ros.body import BodyModelError, SMPLBody, read_body_model_dir
from wham_ros.body.convert import load_smpl_pickle, main as convert_main
from wham_ros.geometry.rotations import axis_angle_to_matrix

PKL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def random_pose(B, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    aa = torch.randn(B, 24, 3, generator=g, dtype=dtype) * 0.4
    return axis_angle_to_matrix(aa), torch.randn(B, 10, generator=g, dtype=dtype)


def test_matches_smplx(tmp_path, smpl_arrays, body_model_dir):
    smplx = pytest.importorskip("smplx", reason="smplx not installed (pip install smplx)")
    (tmp_path / "smpl").mkdir()
    with open(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl", "wb") as fh:
        pickle.dump({k: smpl_arrays[k] for k in PKL_KEYS}, fh, protocol=2)
    ref = smplx.SMPL(model_path=str(tmp_path / "smpl"), gender="neutral", dtype=torch.float64)
    ours = SMPLBody.from_dir(body_model_dir, dtype=torch.float64)
    rot, betas = random_pose(3, 0)
    with torch.no_grad():
        r = ref(global_orient=rot[:, :1], body_pose=rot[:, 1:], betas=betas, pose2rot=False)
        o = ours(rot[:, :1], rot[:, 1:], betas, full_mesh=True)
    verts = o.vertices + o.offset[:, None]
    assert torch.allclose(verts, r.vertices, rtol=0, atol=1e-12)
    assert torch.allclose(o.smpl_joints + o.offset[:, None], r.joints[:, :24], atol=1e-12)
    J = torch.from_numpy(smpl_arrays["J_regressor_wham"]).double()
    joints = torch.einsum("jv,bvk->bjk", J, r.vertices)
    assert torch.allclose(o.joints + o.offset[:, None], joints, atol=1e-12)


def test_subset_skinning_equals_full_mesh(body_model_dir):
    m = SMPLBody.from_dir(body_model_dir, dtype=torch.float64)
    assert 0 < m.sub_idx.numel() < 6890 // 4
    rot, betas = random_pose(4, 1)
    full = m(rot[:, :1], rot[:, 1:], betas, full_mesh=True)
    sub = m(rot[:, :1], rot[:, 1:], betas)
    assert sub.vertices is None
    for k in ("joints", "feet", "offset", "smpl_joints"):
        assert torch.allclose(getattr(sub, k), getattr(full, k), rtol=0, atol=1e-13), k
    # hip-centred: mean of WHAM joints 11 and 12 is the origin
    assert torch.allclose(full.joints[:, [11, 12]].mean(1), torch.zeros(4, 3, dtype=torch.float64),
                          atol=1e-14)


def test_body_model_errors(tmp_path, body_model_dir):
    with pytest.raises(BodyModelError, match="SMPL model not found"):
        read_body_model_dir(str(tmp_path))
    (tmp_path / "smpl").mkdir()
    arrays = dict(np.load(f"{body_model_dir}/smpl/SMPL_NEUTRAL.npz"))
    arrays["posedirs"] = arrays["posedirs"][:, :, :100]
    np.savez(tmp_path / "smpl" / "SMPL_NEUTRAL.npz", **arrays)
    with pytest.raises(BodyModelError, match="'posedirs' has shape \\(6890, 3, 100\\)"):
        read_body_model_dir(str(tmp_path))
    (tmp_path / "smpl" / "SMPL_NEUTRAL.npz").write_bytes(b"garbage")
    with pytest.raises(BodyModelError, match="Cannot read SMPL model"):
        read_body_model_dir(str(tmp_path))


@pytest.fixture
def chumpy_style_pickle(tmp_path, smpl_arrays):
    """An SMPL pickle as MPI ships it: chumpy ``Ch`` arrays and a scipy CSC regressor."""
    scipy_sparse = pytest.importorskip("scipy.sparse", reason="scipy needed to write the CSC test file")
    mod = types.ModuleType("chumpy.ch")

    class Ch:  # stand-in with chumpy's pickled layout: the array lives in state['x']
        def __init__(self, x):
            self.x = x

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch = Ch
    sys.modules["chumpy"] = types.ModuleType("chumpy")
    sys.modules["chumpy.ch"] = mod
    try:
        data = {k: Ch(smpl_arrays[k].astype(np.float64)) for k in ("v_template", "shapedirs",
                                                                 "posedirs", "weights")}
        data["J_regressor"] = scipy_sparse.csc_matrix(smpl_arrays["J_regressor"].astype(np.float64))
        data["kintree_table"] = smpl_arrays["kintree_table"]
        data["f"] = smpl_arrays["f"].astype(np.uint32)
        data["bs_style"] = "lbs"
        path = tmp_path / "SMPL_NEUTRAL.pkl"
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    return path


def test_convert_chumpy_pickle_without_chumpy(chumpy_style_pickle, tmp_path, smpl_arrays, capsys):
    out = tmp_path / "SMPL_NEUTRAL.npz"
    assert convert_main([str(chumpy_style_pickle), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as z:
        for k in PKL_KEYS:
            assert np.array_equal(z[k], smpl_arrays[k]), k


def test_convert_refuses_foreign_objects(tmp_path):
    path = tmp_path / "bad.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"v_template": OSError("x")}, fh)
    with pytest.raises(BodyModelError, match="refusing to load builtins.OSError"):
        load_smpl_pickle(str(path))
    assert convert_main([str(path), str(tmp_path / "o.npz")]) == 1
