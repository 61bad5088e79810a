"""Convert MPI's pickled SMPL model (chumpy arrays, scipy sparse regressor) to ``.npz``.

No chumpy or scipy is needed: the pickle is read by ``wham_ros.assets.safe_load`` (plain
data plus inert stand-ins for chumpy's ``Ch`` and scipy's CSC/CSR matrices), so it cannot
run code. Accepted layouts: MPI's Python-2 files (v1.0.0 with 10 shape components, v1.1.0
with 300), smplx's ``clean_ch.py`` output (protocol 0, no chumpy) and Python-3 re-pickles.
Run once, then only the ``.npz`` is read at run time:

    wham-ros convert-smpl SMPL_NEUTRAL.pkl body_models/smpl/SMPL_NEUTRAL.npz
"""
import argparse
import sys
from typing import Dict

import numpy as np

from wham_ros.assets.safe_load import ModelFileReadError, as_array, load_pickle_file
from wham_ros.body.model_file import BodyModelError

KEEP = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def load_smpl_pickle(path: str) -> Dict[str, np.ndarray]:
    """Read the arrays of an SMPL pickle (MPI's chumpy format or plain numpy).

    Returns:
        dict with ``v_template`` (6890,3), ``shapedirs`` (6890,3,S), ``posedirs`` (6890,3,207),
        ``J_regressor`` (24,6890) dense, ``weights`` (6890,24), ``kintree_table`` (2,24),
        ``f`` (F,3) — floats as float64/float32 as stored.

    Raises:
        wham_ros.body.model_file.BodyModelError: unreadable file or missing arrays.
    """
    try:
        data = load_pickle_file(path)
    except ModelFileReadError as exc:
        raise BodyModelError(f"Cannot read SMPL pickle '{path}': {exc.reason}") from exc
    if not isinstance(data, dict):
        raise BodyModelError(f"SMPL pickle '{path}' holds a {type(data).__name__}, expected a dict")
    missing = [k for k in KEEP if k not in data]
    if missing:
        raise BodyModelError(f"SMPL pickle '{path}' lacks {missing}")
    arrays = {}
    for key in KEEP:
        try:
            arrays[key] = as_array(data[key])
        except ValueError as exc:
            raise BodyModelError(f"SMPL pickle '{path}': cannot convert arrays: '{key}': "
                                 f"{exc}") from exc
    check_smpl_arrays(arrays, f"SMPL pickle '{path}'")
    return arrays


def check_smpl_arrays(arrays: Dict[str, np.ndarray], source: str) -> None:
    """Check the SMPL arrays' shapes (:data:`wham_ros.body.smpl.SMPL_ARRAY_SHAPES`), that they
    hold real numbers and that the faces index existing vertices.

    Raises:
        wham_ros.body.smpl.BodyModelError: naming ``source`` and the array.
    """
    from wham_ros.body.model_file import SMPL_ARRAY_SHAPES, BodyModelError

    for key, shape in SMPL_ARRAY_SHAPES.items():
        if key not in arrays:
            raise BodyModelError(f"{source} has no array '{key}' (found: {sorted(arrays)})")
        got = arrays[key].shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
            raise BodyModelError(f"{source}: '{key}' has shape {got}, expected {shape} "
                                 "(None = any)")
        if arrays[key].dtype.kind not in "biuf":
            raise BodyModelError(f"{source}: '{key}' has dtype {arrays[key].dtype}, expected "
                                 "numbers")
    faces = arrays["f"]
    if faces.size and (faces.min() < 0 or faces.max() >= len(arrays["v_template"])):
        raise BodyModelError(f"{source}: faces 'f' index vertices outside 0.."
                             f"{len(arrays['v_template']) - 1}")


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
