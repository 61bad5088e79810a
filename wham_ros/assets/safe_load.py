"""One safe reader for every model file: torch checkpoints, plain pickles, ``.npy``/``.npz``.

Official files hold more than tensors. From the public code that writes them:

* WHAM (``lib/core/trainer.py``): ``{'epoch', 'model', 'performance', 'optimizer'}``;
  ``performance`` is a numpy float64 written under numpy 1.x (pickle names
  ``numpy.core.multiarray.scalar`` and ``numpy.dtype``), tensors tagged ``cuda:0``.
* ViTPose (mmcv 1.x ``save_checkpoint``): ``meta.hook_msgs.best_score`` is a numpy float64.
* HMR2.0 (Lightning ``hmr2a.ckpt``): ``hyper_parameters`` holds a yacs ``CfgNode`` or an
  omegaconf ``DictConfig``.
* SMPL (MPI ``.pkl``): Python-2 protocol-2 pickles with latin-1 strings, chumpy ``Ch``
  arrays whose state holds a ``__builtin__.set``, scipy ``csc_matrix`` regressors; smplx's
  ``tools/clean_ch.py`` re-writes them as protocol 0 without chumpy.

No file is read by ``pickle`` or ``torch.load``: pickles run in this package's own
interpreter (:mod:`~wham_ros.assets.pickle_machine`), torch files are unpacked by
:mod:`~wham_ros.assets.torch_files`, ``.npy``/``.npz`` by :mod:`~wham_ros.assets.npy_files`.
What each global a file names becomes is decided by one allowlist
(:mod:`~wham_ros.assets.allowlist`): plain data is rebuilt by checked handlers (numpy
dtypes and arrays from a validated description, never through ``__setstate__``), classes
of known foreign packages become per-file :class:`Inert` placeholders, anything else is
refused with :class:`UnsafeModelFile`. Sizes are checked before they are allocated; every
failure is a :class:`ModelFileReadError` naming the file. ``doc/safe_loading.md`` says
what is promised and how it is tested.
"""
import os
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np
import torch

from wham_ros.assets import npy_files, torch_files
from wham_ros.assets.allowlist import DICT_LIKE, INERT_PACKAGES, Inert
from wham_ros.assets.file_errors import (Malformed, ModelFileReadError, PathLike, Refused,
                                         UnsafeModelFile)
from wham_ros.assets.pickle_machine import PickleMachine, map_file

MAX_DENSE_ELEMENTS = 1 << 24
"""Elements a sparse matrix from a file may be densified to (SMPL's regressor: 165 360)."""

__all__ = ["DICT_LIKE", "INERT_PACKAGES", "Inert", "ModelFileReadError", "UnsafeModelFile",
           "as_array", "load_npz_file", "load_npy_file", "load_pickle_file",
           "load_torch_file"]


def _reading(path: PathLike, what: str, read):
    """``read(path)``, every failure turned into this module's errors naming the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileReadError(path, "file not found")
    try:
        return read(path)
    except Refused as exc:
        raise UnsafeModelFile(path, exc.name, exc.why) from None
    except Malformed as exc:
        raise ModelFileReadError(path, f"{what}: {exc}") from None
    except MemoryError:
        raise ModelFileReadError(path, f"{what}: not enough memory to read it") from None
    except Exception as exc:  # zipfile, OSError, decoding: a damaged file, named as such
        first = (str(exc).splitlines() or [""])[0][:300]     # not torch's C++ backtrace
        raise ModelFileReadError(path, f"{what} ({type(exc).__name__}: {first})") from None


def load_torch_file(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Any:
    """Read a ``torch.save`` file (zip or legacy format) without running anything from it.

    Tensors are mapped to ``map_location`` whatever device they were saved from (official
    files are tagged ``cuda:0``); legacy-format files are read to the CPU.

    Args:
        path: the file.
        map_location: device for the tensors.

    Returns:
        The object; foreign objects are :class:`Inert` or ``OrderedDict``.

    Raises:
        UnsafeModelFile: the file names a global outside the allowlist.
        ModelFileReadError: missing, truncated, corrupt or oversized file.
    """
    return _reading(path, "corrupt, truncated or not a torch checkpoint",
                    lambda p: torch_files.read_torch_file(p, map_location))


def _read_pickle(path: str) -> Any:
    return PickleMachine(map_file(path)).run(lambda machine: machine.load()[0])


def load_pickle_file(path: PathLike) -> Any:
    """Read a plain pickle (protocols 0-5, Python 2 or 3) without running anything from it.

    Python-2 strings are decoded as latin-1 (as numpy requires for its arrays).

    Args:
        path: the file.

    Returns:
        The object; foreign objects are :class:`Inert` or ``OrderedDict``.

    Raises:
        UnsafeModelFile: the file names a global outside the allowlist.
        ModelFileReadError: missing, truncated, corrupt or oversized file.
    """
    return _reading(path, "corrupt or truncated pickle", _read_pickle)


def load_npz_file(path: PathLike, names: Optional[Iterable[str]] = None
                  ) -> Dict[str, np.ndarray]:
    """Read the arrays ``names`` (all when None) of a ``.npz`` file, sizes checked.

    Raises:
        ModelFileReadError: missing file or array, corrupt, oversized or non-plain data.
    """
    return _reading(path, "corrupt or unsupported .npz", lambda p: npy_files.read_npz(p, names))


def load_npy_file(path: PathLike) -> np.ndarray:
    """Read the array of a ``.npy`` file, its size checked against the file.

    Raises:
        ModelFileReadError: missing, corrupt, oversized or non-plain data.
    """
    return _reading(path, "corrupt or unsupported .npy", npy_files.read_npy)


def as_array(value: Any, max_elements: int = MAX_DENSE_ELEMENTS) -> np.ndarray:
    """The dense numeric numpy array held by a value read from a model file.

    Args:
        value: an ndarray, an inert chumpy ``Ch`` (array in its state ``x``), or an inert
            scipy CSC/CSR matrix (``_shape``, ``data``, ``indices``, ``indptr``).
        max_elements: largest dense size accepted for a sparse matrix.

    Returns:
        The array (sparse matrices densified, float64).

    Raises:
        ValueError: the value holds no numeric array or its sparse structure is
            inconsistent or too big.
    """
    if isinstance(value, np.ndarray):
        return _numeric(value, "array")
    if not isinstance(value, Inert):
        raise ValueError(f"expected an array, found a {type(value).__name__}")
    state = value.state if isinstance(value.state, dict) else {}
    if value.foreign.startswith("chumpy."):
        if not isinstance(state.get("x"), np.ndarray):
            raise ValueError(f"{value.foreign} object without an array (state keys "
                             f"{sorted(map(str, state))[:10]}); only plain chumpy Ch arrays "
                             "are supported")
        return _numeric(state["x"], value.foreign)
    kind = value.foreign.rsplit(".", 1)[-1][:3]
    if value.foreign.startswith("scipy.sparse.") and kind in ("csc", "csr"):
        return _dense_from_compressed(state, kind == "csr", value.foreign, max_elements)
    raise ValueError(f"{value.foreign} object holds no array")


def _numeric(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {array.dtype}, expected numbers")
    return array


def _dense_from_compressed(state: dict, compressed_rows: bool, name: str,
                           max_elements: int) -> np.ndarray:
    shape = state.get("_shape", state.get("shape"))
    arrays = [state.get(k) for k in ("data", "indices", "indptr")]
    if type(shape) is not tuple or len(shape) != 2 or any(
            type(n) is not int or n < 0 for n in shape) \
            or not all(isinstance(a, np.ndarray) and a.ndim == 1 for a in arrays):
        raise ValueError(f"{name} state lacks its shape or arrays")
    data, indices, indptr = arrays
    if shape[0] * shape[1] > max_elements:
        raise ValueError(f"{name} of shape {shape} is too big to densify (more than "
                         f"{max_elements} elements)")
    _numeric(data, f"{name} data")
    n_major, n_minor = shape if compressed_rows else shape[::-1]
    if (indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu"
            or indptr.shape != (n_major + 1,) or len(data) != len(indices)
            or (len(indptr) and (indptr[0] != 0 or indptr[-1] != len(data)))
            or np.any(np.diff(indptr) < 0)
            or (len(indices) and (indices.min() < 0 or indices.max() >= n_minor))):
        raise ValueError(f"{name} of shape {shape} has inconsistent data/indices/indptr")
    major = np.repeat(np.arange(n_major), np.diff(indptr))
    dense = np.zeros(shape, np.float64)
    if compressed_rows:
        dense[major, indices] = data
    else:
        dense[indices, major] = data
    return dense

