"""Name-seeded synthetic WHAM weights and SMPL-format body model.

Implements the rules documented in the WHAM parity fixture (``shared/fixtures/
wham_parity/README.md``) so that tests reproduce the reference outputs without the
licensed checkpoint or SMPL files:

* every array is drawn from ``numpy.random.default_rng(seed)`` with
  ``seed = little-endian uint64 of sha256(name)[:8]`` (SMPL arrays: name prefixed
  ``smpl_synth/``), in C order, float64, then rounded once to float32;
* network weights: ``U(-b, b)``, ``b = 2 / sqrt(fan_in)`` (last dim) for matrices,
  ``U(-0.05, 0.05)`` for vectors, plus four output-bias offsets;
* SMPL: random point cloud template, sparse row-normalised regressors, 4-sparse
  LBS weights, real SMPL parents. The geometry is meaningless; only the function matters.
"""
import hashlib
import json
import os
from typing import Dict, Iterable, Tuple

import numpy as np

from wham_ros.body.joint_names import SMPL_PARENTS

N_VERTS, N_FACES = 6890, 13776
_ID6 = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
_UPRIGHT6 = [1.0, 0.0, 0.0, 0.0, -1.0, 0.0]  # 6D of diag(1, -1, -1)
WHAM_OFFSETS = {
    "motion_decoder.regressor.declayer0.bias": _UPRIGHT6 + _ID6 * 23,
    "motion_decoder.regressor.declayer2.bias": [0.9, 0.0, 0.0],
    "motion_decoder.regressor.declayer3.bias": [0.5, 0.5, 0.5, 0.5],
    "trajectory_decoder.regressor.declayer1.bias": _UPRIGHT6,
}
WHAM_GAIN = 2.0


def name_rng(name: str) -> np.random.Generator:
    """PCG64 generator seeded from the first 8 bytes (little endian) of sha256(name)."""
    seed = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng(seed)


def sha256_of(a: np.ndarray) -> str:
    """sha256 of the little-endian bytes of ``a`` (C order)."""
    a = np.ascontiguousarray(a)
    return hashlib.sha256(a.astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()


def wham_rule_array(name: str, shape: Tuple[int, ...]) -> np.ndarray:
    """The synthetic value of one learned WHAM state-dict entry (float32)."""
    rng = name_rng(name)
    if len(shape) >= 2:
        b = WHAM_GAIN / np.sqrt(shape[-1])
        a = rng.uniform(-b, b, size=shape)
    else:
        a = rng.uniform(-0.05, 0.05, size=shape)
    if name in WHAM_OFFSETS:
        a = a + np.asarray(WHAM_OFFSETS[name], dtype=np.float64).reshape(shape)
    return np.ascontiguousarray(a.astype(np.float32))


def wham_state_dict(shapes: Dict[str, Iterable[int]]) -> Dict[str, np.ndarray]:
    """Synthetic weights for every learned entry (names not starting with ``smpl.``)."""
    return {k: wham_rule_array(k, tuple(s)) for k, s in shapes.items() if not k.startswith("smpl.")}


def _sparse_rows(rng, n_rows: int, k: int) -> np.ndarray:
    R = np.zeros((n_rows, N_VERTS))
    for j in range(n_rows):
        idx = rng.choice(N_VERTS, k, replace=False)
        w = rng.uniform(0.1, 1.0, k)
        R[j, idx] = w / w.sum()
    return R.astype(np.float32)


def synthetic_smpl_arrays() -> Dict[str, np.ndarray]:
    """SMPL-format arrays (real shapes, random content) and WHAM's three extra regressors."""
    r = lambda n: name_rng("smpl_synth/" + n)  # noqa: E731
    out = {
        "v_template": (r("v_template").uniform(-1.0, 1.0, (N_VERTS, 3))
                       * np.array([0.30, 0.90, 0.15])).astype(np.float32),
        "shapedirs": r("shapedirs").normal(0.0, 0.01, (N_VERTS, 3, 10)).astype(np.float32),
        "posedirs": r("posedirs").normal(0.0, 0.005, (N_VERTS, 3, 207)).astype(np.float32),
        "J_regressor": _sparse_rows(r("J_regressor"), 24, 20),
    }
    rng = r("weights")
    W = np.zeros((N_VERTS, 24))
    for v in range(N_VERTS):
        js = rng.choice(24, 4, replace=False)
        w = rng.uniform(0.1, 1.0, 4)
        W[v, js] = w / w.sum()
    out["weights"] = W.astype(np.float32)
    out["kintree_table"] = np.stack([np.array(SMPL_PARENTS, np.int64), np.arange(24, dtype=np.int64)])
    out["f"] = r("f").integers(0, N_VERTS, (N_FACES, 3)).astype(np.int64)
    out["J_regressor_wham"] = _sparse_rows(r("J_regressor_wham"), 31, 20)
    out["J_regressor_h36m"] = _sparse_rows(r("J_regressor_h36m"), 17, 20)
    out["J_regressor_feet"] = _sparse_rows(r("J_regressor_feet"), 4, 8)
    return out


def write_body_model_dir(root: str, arrays: Dict[str, np.ndarray] = None) -> str:
    """Write ``root/smpl/SMPL_NEUTRAL.npz`` and the ``J_regressor_*.npy`` files; returns root."""
    a = arrays if arrays is not None else synthetic_smpl_arrays()
    os.makedirs(os.path.join(root, "smpl"), exist_ok=True)
    np.savez(os.path.join(root, "smpl", "SMPL_NEUTRAL.npz"),
             **{k: a[k] for k in ("v_template", "shapedirs", "posedirs", "J_regressor",
                                  "weights", "kintree_table", "f")})
    for k in ("J_regressor_wham", "J_regressor_h36m", "J_regressor_feet"):
        np.save(os.path.join(root, k + ".npy"), a[k])
    return root


def smpl_checkpoint_entries(a: Dict[str, np.ndarray], batch: int = 64 * 81) -> Dict[str, np.ndarray]:
    """The ``smpl.*`` entries the official checkpoint carries (smplx 0.1.28 layout)."""
    parents = a["kintree_table"][0].astype(np.int64).copy()
    parents[0] = -1
    return {
        "smpl.betas": np.zeros((batch, 10), np.float32),
        "smpl.global_orient": np.zeros((batch, 3), np.float32),
        "smpl.body_pose": np.zeros((batch, 69), np.float32),
        "smpl.shapedirs": a["shapedirs"], "smpl.faces_tensor": a["f"].astype(np.int64),
        "smpl.v_template": a["v_template"], "smpl.J_regressor": a["J_regressor"],
        "smpl.posedirs": np.reshape(a["posedirs"], (-1, 207)).T.copy(), "smpl.parents": parents,
        "smpl.lbs_weights": a["weights"],
        "smpl.vertex_joint_selector.extra_joints_idxs": np.array(
            [332, 6260, 2800, 4071, 583, 3216, 3226, 3387, 6617, 6624, 6787,
             2746, 2319, 2445, 2556, 2673, 6191, 5782, 5905, 6016, 6133], np.int64),
        "smpl.J_regressor_wham": a["J_regressor_wham"],
        "smpl.J_regressor_eval": a["J_regressor_h36m"],
        "smpl.J_regressor_feet": a["J_regressor_feet"],
    }


def write_official_checkpoint(path: str, shapes: Dict[str, Iterable[int]],
                              smpl_arrays: Dict[str, np.ndarray] = None) -> str:
    """Write a file laid out like ``wham_vit_bedlam_w_3dpw.pth.tar`` with synthetic values:
    ``{'model': state_dict (learned + smpl.*), 'epoch': ..., ...}``."""
    import torch

    sd = {k: torch.from_numpy(v) for k, v in wham_state_dict(shapes).items()}
    a = smpl_arrays if smpl_arrays is not None else synthetic_smpl_arrays()
    sd.update({k: torch.from_numpy(v) for k, v in smpl_checkpoint_entries(a).items()})
    torch.save({"model": sd, "epoch": 0, "performance": 0.0}, path)
    return path


def learned_shapes_from_keys_json(path: str) -> Dict[str, Tuple[int, ...]]:
    """``{name: shape}`` of the learned entries listed in a fixture ``keys.json``."""
    with open(path) as fh:
        keys = json.load(fh)
    return {k: tuple(v["shape"]) for k, v in keys.items() if not k.startswith("smpl.")}
