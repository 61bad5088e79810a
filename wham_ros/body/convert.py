"""Convert MPI's pickled SMPL model (chumpy arrays, scipy sparse regressor) to ``.npz``.

No chumpy or scipy is needed: a restricted unpickler accepts only numpy array
reconstruction and stand-ins for chumpy's ``Ch`` and scipy's CSC/CSR matrices, so the
pickle cannot run arbitrary code. Run once, then only the ``.npz`` is read at run time:

    wham-ros convert-smpl SMPL_NEUTRAL.pkl body_models/smpl/SMPL_NEUTRAL.npz
"""
import argparse
import pickle
import sys
from typing import Dict

import numpy as np

KEEP = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


class _Stub:
    """Stand-in for a pickled foreign object: records its constructor args and state."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.state = {}

    def __setstate__(self, state):
        if isinstance(state, tuple):  # (dict, slots) form
            state = {k: v for part in state if isinstance(part, dict) for k, v in part.items()}
        self.state = dict(state) if isinstance(state, dict) else {"value": state}


class _ChumpyArray(_Stub):
    """chumpy.Ch: the array lives in its state under ``x`` (or ``r``/``a``)."""

    def to_numpy(self):
        for key in ("x", "r", "a", "_x"):
            val = self.state.get(key)
            if isinstance(val, np.ndarray):
                return val
            if isinstance(val, _ChumpyArray):
                return val.to_numpy()
        raise ValueError(f"chumpy object without an array (state keys {sorted(self.state)})")


class _SparseMatrix(_Stub):
    """scipy.sparse CSC/CSR matrix: rebuilt densely from data/indices/indptr."""

    compressed_axis = 1  # CSC: indptr runs over columns

    def to_numpy(self):
        s = self.state
        shape = tuple(s.get("_shape") or s.get("shape"))
        data, indices, indptr = s["data"], s["indices"], s["indptr"]
        dense = np.zeros(shape, dtype=np.float64)
        counts = np.diff(indptr)
        major = np.repeat(np.arange(len(counts)), counts)
        if self.compressed_axis == 1:
            dense[indices, major] = data
        else:
            dense[major, indices] = data
        return dense


class _CsrMatrix(_SparseMatrix):
    compressed_axis = 0


_ALLOWED_NUMPY = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    # protocol 0-2 helpers: bytes and object re-creation (only ever of the classes above)
    ("_codecs", "encode"), ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
}


class _SMPLUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_NUMPY:
            return super().find_class(module, name)
        if module.startswith("chumpy"):
            return _ChumpyArray
        if module.startswith("scipy.sparse"):
            if "csr" in name:
                return _CsrMatrix
            if "csc" in name:
                return _SparseMatrix
        if module in ("builtins", "__builtin__") and name in ("object", "dict", "list", "tuple"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an SMPL pickle")


def _to_array(value):
    if isinstance(value, (_ChumpyArray, _SparseMatrix)):
        return value.to_numpy()
    return np.asarray(value)


def load_smpl_pickle(path: str) -> Dict[str, np.ndarray]:
    """Read the arrays of an SMPL pickle (MPI's chumpy format or plain numpy).

    Returns:
        dict with ``v_template`` (6890,3), ``shapedirs`` (6890,3,S), ``posedirs`` (6890,3,207),
        ``J_regressor`` (24,6890) dense, ``weights`` (6890,24), ``kintree_table`` (2,24),
        ``f`` (F,3) — floats as float64/float32 as stored.

    Raises:
        wham_ros.body.smpl.BodyModelError: unreadable file or missing arrays.
    """
    from wham_ros.body.smpl import BodyModelError

    try:
        with open(path, "rb") as fh:
            data = _SMPLUnpickler(fh, encoding="latin1").load()
    except Exception as exc:
        raise BodyModelError(f"Cannot read SMPL pickle '{path}': {exc}") from exc
    if not isinstance(data, dict):
        raise BodyModelError(f"SMPL pickle '{path}' holds a {type(data).__name__}, expected a dict")
    missing = [k for k in KEEP if k not in data]
    if missing:
        raise BodyModelError(f"SMPL pickle '{path}' lacks {missing}")
    try:
        return {k: _to_array(data[k]) for k in KEEP}
    except Exception as exc:
        raise BodyModelError(f"SMPL pickle '{path}': cannot convert arrays: {exc}") from exc


def convert(src: str, dst: str) -> Dict[str, tuple]:
    """Convert ``src`` (.pkl) to ``dst`` (.npz); returns {name: shape}."""
    arrays = load_smpl_pickle(src)
    out = {k: (v.astype(np.int64) if k in ("kintree_table", "f") else v.astype(np.float32))
           for k, v in arrays.items()}
    np.savez(dst, **out)
    return {k: v.shape for k, v in out.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="wham-ros convert-smpl",
        description="Convert a pickled SMPL model (e.g. SMPL_NEUTRAL.pkl, chumpy format) to "
                    ".npz so no pickle is ever loaded at run time.")
    parser.add_argument("src", help="pickled SMPL model (.pkl)")
    parser.add_argument("dst", help="output .npz (WHAM layout: body_models/smpl/SMPL_NEUTRAL.npz)")
    args = parser.parse_args(argv)
    from wham_ros.body.smpl import BodyModelError

    try:
        shapes = convert(args.src, args.dst)
    except BodyModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for k, s in shapes.items():
        print(f"{k:14s} {s}")
    print(f"wrote {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
