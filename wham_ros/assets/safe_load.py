"""One safe reader for every model file: torch checkpoints and plain pickles.

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

Every global a file names is decided by one allowlist, the same for both readers:

1. Plain data is rebuilt by its real constructor: numpy arrays, scalars and dtypes (under
   the numpy-1 ``numpy.core`` and numpy-2 ``numpy._core`` names, and the numpy-2 dtype
   classes), builtin containers, ``OrderedDict``/``defaultdict``/``Counter``,
   ``argparse.Namespace``, ``types.SimpleNamespace``.
2. Classes of known foreign packages (:data:`INERT_PACKAGES`: chumpy, scipy.sparse, yacs,
   omegaconf, Lightning, mmcv, ...) are read as inert placeholders (:class:`Inert`) that
   keep their constructor arguments and pickled state; dict-like ones (yacs ``CfgNode``,
   Lightning ``AttributeDict``, mmcv ``ConfigDict``) become ``OrderedDict``s. None of their
   code runs, and none needs to be installed.
3. Anything else is refused with :class:`UnsafeModelFile` naming the file and the global;
   for torch zip files this happens before anything is unpickled.

Torch files go through ``torch.load(weights_only=True)`` with this allowlist (torch >= 2.6:
``safe_globals`` with ``(object, "module.name")`` pairs); plain pickles through a restricted
``pickle.Unpickler``.
"""
import _codecs
import argparse
import collections
import copyreg
import functools
import importlib
import os
import pickle
import re
import types
import zipfile
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from wham_ros.ort_session import ModelFileError

PathLike = Union[str, os.PathLike]

INERT_PACKAGES = ("chumpy", "scipy.sparse", "yacs", "omegaconf", "pytorch_lightning",
                  "lightning", "lightning_fabric", "mmcv", "mmengine", "addict", "typing")
"""Packages whose classes are read as inert placeholders (their annotations, for typing)."""

DICT_LIKE = frozenset({
    "yacs.config.CfgNode",
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning.fabric.utilities.data.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "mmcv.utils.config.ConfigDict",
    "mmengine.config.config.ConfigDict",
    "addict.addict.Dict",
})
"""Foreign dict subclasses: read as ``OrderedDict`` (items, and attributes in ``__dict__``)."""

_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
_NUMPY_SCALAR_TYPES = ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                       "uint64", "float16", "float32", "float64", "complex64", "complex128")


class ModelFileReadError(ModelFileError):
    """A model file cannot be read: missing, truncated, corrupt or unsafe.

    Attributes:
        path: the file.
        reason: what is wrong, without the path (for loaders that add their own prefix).
    """

    def __init__(self, path: PathLike, reason: str):
        self.path, self.reason = os.fspath(path), reason
        super().__init__(f"'{self.path}': {reason}")


class UnsafeModelFile(ModelFileReadError):
    """A model file names a global that is neither plain data nor a known model-file class.

    Attributes:
        global_name: ``module.name`` as written in the file.
    """

    def __init__(self, path: PathLike, global_name: str):
        self.global_name = global_name
        super().__init__(path, f"refusing to load {global_name}: it is neither plain data nor "
                               "a known model-file class, and loading it could run code "
                               "(nothing from the file was run)")


class Inert:
    """Stand-in for an instance of a foreign class; runs nothing of that class.

    Attributes:
        foreign: ``module.name`` of the class in the file (class attribute).
        args: the arguments the pickle passed to the class.
        state: the pickled state (``__setstate__``/``__dict__`` content), or None.
    """

    foreign = "?"

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        self.args, self.state = args, None
        return self

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"<inert {self.foreign}>"


class _InertMapping:
    """Stand-in for a foreign dict subclass: instances are plain ``OrderedDict``s."""

    def __new__(cls, *args, **kwargs):
        return collections.OrderedDict()


@functools.lru_cache(maxsize=None)
def inert_class(full_name: str) -> type:
    """The placeholder class that stands for the foreign class ``full_name``."""
    base = _InertMapping if full_name in DICT_LIKE else Inert
    return type(full_name.rsplit(".", 1)[-1], (base,), {"foreign": full_name,
                                                        "__module__": __name__})


def _numpy_core(submodule: str):
    for package in ("numpy._core", "numpy.core"):    # numpy 2, numpy 1
        try:
            return importlib.import_module(f"{package}.{submodule}")
        except ImportError:
            continue
    raise ImportError(f"numpy has no core.{submodule}")


@functools.lru_cache(maxsize=1)
def plain_globals() -> Dict[str, Any]:
    """``module.name`` -> object for every plain-data global a model file may name."""
    multiarray, numeric = _numpy_core("multiarray"), _numpy_core("numeric")
    rc: Dict[str, Any] = {}
    for package in ("numpy.core", "numpy._core"):
        rc[f"{package}.multiarray._reconstruct"] = multiarray._reconstruct
        rc[f"{package}.multiarray.scalar"] = multiarray.scalar
        rc[f"{package}.numeric._frombuffer"] = numeric._frombuffer
    rc["numpy.ndarray"], rc["numpy.dtype"] = np.ndarray, np.dtype
    rc.update({f"numpy.{n}": getattr(np, n) for n in _NUMPY_SCALAR_TYPES})
    dtypes = getattr(np, "dtypes", None)                # numpy >= 1.25: one class per dtype
    for name in dir(dtypes) if dtypes is not None else ():
        cls = getattr(dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            rc[f"numpy.dtypes.{name}"] = cls
    for t in (set, frozenset, dict, list, tuple, int, float, complex, str, bytes, bytearray,
              bool, object):
        rc[f"builtins.{t.__name__}"] = t
    for t in (collections.OrderedDict, collections.defaultdict, collections.Counter):
        rc[f"collections.{t.__name__}"] = t
    rc["argparse.Namespace"] = argparse.Namespace
    rc["types.SimpleNamespace"] = types.SimpleNamespace
    rc["_codecs.encode"] = _codecs.encode                   # bytes in protocol-2 pickles
    rc["copyreg._reconstructor"] = copyreg._reconstructor   # objects in protocol 0/1 pickles
    return rc


def resolve_global(full_name: str) -> Optional[Any]:
    """What the global ``full_name`` is read as: the real object for plain data, an
    :func:`inert_class` for a class of :data:`INERT_PACKAGES`, None when it is refused."""
    plain = plain_globals().get(full_name)
    if plain is not None:
        return plain
    if full_name.startswith(tuple(p + "." for p in INERT_PACKAGES)):
        return inert_class(full_name)
    return None


def _torch_allowlist():
    return [(obj, name) for name, obj in plain_globals().items()]


def _globals_to_allow(path: str):
    """(placeholder, name) pairs for the foreign globals of a torch zip; raises if unsafe."""
    if not zipfile.is_zipfile(path):
        return []       # legacy format or damaged: torch.load decides and says why
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:  # a damaged zip or pickle: report it like torch.load would
        raise ModelFileReadError(path, _unreadable(exc)) from exc
    pairs = []
    for name in sorted(names):
        target = resolve_global(name)
        if target is None:
            raise UnsafeModelFile(path, name)
        pairs.append((target, name))
    return pairs


def _unreadable(exc: BaseException) -> str:
    return f"corrupt, truncated or not a torch checkpoint ({type(exc).__name__}: {exc})"


def load_torch_file(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Any:
    """Read a ``torch.save`` file with ``weights_only=True`` and the allowlist.

    Tensors are mapped to ``map_location`` whatever device they were saved from (official
    files are tagged ``cuda:0``).

    Args:
        path: the file.
        map_location: device for the tensors.

    Returns:
        The unpickled object; foreign objects are :class:`Inert` or ``OrderedDict``.

    Raises:
        UnsafeModelFile: the file names a global outside the allowlist.
        ModelFileReadError: missing, truncated or corrupt file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileReadError(path, "file not found")
    with torch.serialization.safe_globals(_torch_allowlist()):
        foreign = _globals_to_allow(path)
        with torch.serialization.safe_globals(foreign):
            try:
                return torch.load(path, map_location=map_location, weights_only=True)
            except pickle.UnpicklingError as exc:
                found = re.search(r"GLOBAL (\S+)", str(exc))
                if found:
                    raise UnsafeModelFile(path, found.group(1)) from exc
                raise ModelFileReadError(path, _unreadable(exc)) from exc
            except Exception as exc:  # torch raises RuntimeError, EOFError, ... on bad files
                raise ModelFileReadError(path, _unreadable(exc)) from exc


class _RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves every global through :func:`resolve_global`."""

    def __init__(self, file, path: str):
        super().__init__(file, encoding="latin1")   # Python-2 str -> str (numpy needs latin-1)
        self._path = path

    def find_class(self, module, name):
        module = _PY2_MODULES.get(module, module)
        target = resolve_global(f"{module}.{name}")
        if target is None:
            raise UnsafeModelFile(self._path, f"{module}.{name}")
        return target

    def persistent_load(self, pid):
        raise ModelFileReadError(self._path, "plain pickle with persistent ids (a torch file? "
                                             "read it with load_torch_file)")


def load_pickle_file(path: PathLike) -> Any:
    """Read a plain pickle (protocols 0-5, Python 2 or 3) with the allowlist.

    Python-2 strings are decoded as latin-1 (as numpy requires for its arrays).

    Args:
        path: the file.

    Returns:
        The unpickled object; foreign objects are :class:`Inert` or ``OrderedDict``.

    Raises:
        UnsafeModelFile: the file names a global outside the allowlist.
        ModelFileReadError: missing, truncated or corrupt file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileReadError(path, "file not found")
    try:
        with open(path, "rb") as fh:
            return _RestrictedUnpickler(fh, path).load()
    except ModelFileReadError:
        raise
    except Exception as exc:  # pickle raises UnpicklingError, EOFError, ValueError, ...
        raise ModelFileReadError(path, f"corrupt or truncated pickle "
                                       f"({type(exc).__name__}: {exc})") from exc


def as_array(value: Any) -> np.ndarray:
    """The dense numpy array held by a value read from a model file.

    Args:
        value: an ndarray (or array-like), an inert chumpy ``Ch`` (array in its state ``x``),
            or an inert scipy CSC/CSR matrix (``_shape``, ``data``, ``indices``, ``indptr``).

    Returns:
        The array (sparse matrices densified, float64).

    Raises:
        ValueError: the value holds no array or its sparse structure is inconsistent.
    """
    if not isinstance(value, Inert):
        return np.asarray(value)
    state = value.state if isinstance(value.state, dict) else {}
    if value.foreign.startswith("chumpy."):
        if "x" not in state:
            raise ValueError(f"{value.foreign} object without an array (state keys "
                             f"{sorted(state)}); only plain chumpy Ch arrays are supported")
        return as_array(state["x"])
    kind = value.foreign.rsplit(".", 1)[-1][:3]
    if value.foreign.startswith("scipy.sparse.") and kind in ("csc", "csr"):
        return _dense_from_compressed(state, compressed_rows=kind == "csr", name=value.foreign)
    raise ValueError(f"{value.foreign} object holds no array")


def _dense_from_compressed(state: dict, compressed_rows: bool, name: str) -> np.ndarray:
    try:
        shape = tuple(int(n) for n in (state.get("_shape") or state["shape"]))
        data, indices, indptr = (np.asarray(state[k]) for k in ("data", "indices", "indptr"))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{name} state lacks its shape or arrays ({exc})") from exc
    n_major, n_minor = shape if compressed_rows else shape[::-1]
    if (len(shape) != 2 or indptr.shape != (n_major + 1,) or len(data) != len(indices)
            or indptr[-1] != len(data) or (len(indices) and indices.max() >= n_minor)):
        raise ValueError(f"{name} of shape {shape} has inconsistent data/indices/indptr")
    major = np.repeat(np.arange(n_major), np.diff(indptr))
    dense = np.zeros(shape, np.float64)
    if compressed_rows:
        dense[major, indices] = data
    else:
        dense[indices, major] = data
    return dense
