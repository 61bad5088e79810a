"""What each global a model file may name is read as, and how plain data is rebuilt.

A global never runs as itself: the reader looks up its :class:`Global` entry here and calls
the entry's own handler, which checks the arguments the file gives and builds the value.

* Plain data (:func:`plain_global`): builtin containers and scalars, ``OrderedDict``,
  ``defaultdict``, ``Counter``, ``argparse.Namespace``, ``types.SimpleNamespace``, numpy
  arrays, scalars and dtypes (numpy-1 ``numpy.core`` and numpy-2 ``numpy._core`` names),
  ``_codecs.encode`` (latin-1 only: Python-2 byte strings), ``copyreg._reconstructor`` and
  ``copyreg.__newobj__`` (how protocols 0-2 name an object's class).
* Classes of known foreign packages (:data:`INERT_PACKAGES`) become per-file placeholder
  classes (:class:`Inert` subclasses; dict-like ones :data:`DICT_LIKE` read as
  ``OrderedDict``); see :class:`ForeignClasses`.

numpy dtypes and arrays are rebuilt from a checked description only: a dtype from its
character code (plain numeric, bool, fixed-width bytes or str) and byte order; an array
from (dtype, shape, bytes) with the byte count equal to ``prod(shape) * itemsize``. No
dtype or array state from a file reaches numpy's ``__setstate__``; object, void
(structured) and datetime dtypes are refused.
"""
import _codecs
import argparse
import collections
import copyreg
import functools
import re
import types
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from wham_ros.assets.file_errors import Malformed, Refused

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

PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
"""Python-2 module names as Python 3 knows them."""

_LATIN1 = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1", "latin_1"})
_DTYPE_CODE = re.compile(r"(b1|[iu][1248]|f[248]|c(8|16)|S[1-9][0-9]{0,5}|U[1-9][0-9]{0,5})\Z")
_MAX_DIMS = 32
_MAX_EXTENT = 1 << 62       # product of an array's dimensions: far from int64 overflow
DEFAULT_FACTORIES = (dict, list, set, frozenset, tuple, int, float, str, bool,
                     collections.OrderedDict)
"""``default_factory`` values a ``defaultdict`` may have."""


class Inert:
    """Stand-in for an instance of a foreign class; runs nothing of that class.

    Attributes:
        foreign: ``module.name`` of the class in the file (class attribute).
        args: the arguments the pickle passed to the class.
        state: the pickled state (``__setstate__``/``__dict__`` content), or None.
    """

    foreign = "?"

    def __init__(self, args: tuple = ()):
        self.args, self.state = args, None

    def __repr__(self):
        return f"<inert {self.foreign}>"


@dataclass(frozen=True)
class Global:
    """How the reader treats one global a file names.

    Attributes:
        name: ``module.name``.
        value: what the global stands for when the file uses it as a value (never called
            by the reader).
        reduce: handler for REDUCE: ``(reader, args tuple) -> object``, or None.
        new: handler for NEWOBJ/INST/``copyreg._reconstructor``:
            ``(reader, args, kwargs) -> object`` (the object may then take state), or None.
    """

    name: str
    value: Any
    reduce: Optional[Callable] = None
    new: Optional[Callable] = None


# ---------------------------------------------------------------- argument checks

_KEY_TYPES = frozenset({str, bytes, bool, float, type(None)})
_MAX_KEY_INT = 1 << 62


def check_keys(keys) -> None:
    """Dict keys and set elements must be strings, numbers, None or placeholders.

    Ints are bounded (at most four share a hash value below 2**62) and tuples are refused:
    both can be chosen to share one hash and make building the dict quadratic.
    """
    for key in keys:
        kind = type(key)
        if kind in _KEY_TYPES or isinstance(key, Inert):
            continue
        if kind is int and -_MAX_KEY_INT < key < _MAX_KEY_INT:
            continue
        raise Malformed(f"dict key or set element {key!r:.40} (only strings, numbers below "
                        "2**62, None and objects of the file)")


def _args(args: tuple, name: str, n_min: int, n_max: int) -> tuple:
    if type(args) is not tuple or not n_min <= len(args) <= n_max:
        raise Malformed(f"{name} takes {n_min}..{n_max} arguments, the file gives "
                        f"{len(args) if type(args) is tuple else type(args).__name__}")
    return args


def _of(value, types_, what: str):
    if type(value) not in types_:
        raise Malformed(f"{what} must be {'/'.join(t.__name__ for t in types_)}, "
                        f"not {type(value).__name__}")
    return value


def _index(value, what: str) -> int:
    if type(value) is not int or value < 0:
        raise Malformed(f"{what} must be a non-negative int, not {value!r:.40}")
    return value


def _flag(value, what: str) -> bool:
    if type(value) is bool or (type(value) is int and value in (0, 1)):
        return bool(value)
    raise Malformed(f"{what} must be a bool, not {value!r:.40}")


class RawString:
    """A long string of the file, kept as its bytes until it is used: array data then
    needs no decoding, any other use gets the ``str`` (Python-2 strings, decoded as
    latin-1) or ``bytes`` it stands for.

    Args:
        view: the bytes (a view into the file's buffer).
        text: whether it stands for a ``str``.
    """

    def __init__(self, view: memoryview, text: bool):
        self.view, self.text, self._value = view, text, None

    def resolve(self):
        if self._value is None:
            self._value = str(self.view, "latin-1") if self.text else bytes(self.view)
        return self._value


def latin1_bytes(value, what: str):
    """Bytes from ``bytes``/``bytearray``, a :class:`RawString` or a Python-2 string read as
    latin-1 ``str``."""
    if type(value) in (bytes, bytearray):
        return value
    if type(value) is RawString:
        return value.view
    if type(value) is str:
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise Malformed(f"{what}: a text string with non-latin-1 characters") from None
    raise Malformed(f"{what} must be bytes, not {type(value).__name__}")


# ---------------------------------------------------------------- numpy

def checked_dtype(code: str, order: str = "=") -> np.dtype:
    """The numpy dtype for a character code and byte order from a file.

    Args:
        code: ``b1``, ``i1..i8``, ``u1..u8``, ``f2..f8``, ``c8``, ``c16``, ``S<n>`` or ``U<n>``.
        order: ``<``, ``>``, ``=`` or ``|`` (``|``: not applicable, one-byte and ``S`` types).

    Raises:
        Malformed: any other dtype (object, void/structured, datetime, float128, ...).
    """
    if type(code) is not str or not _DTYPE_CODE.match(code):
        raise Malformed(f"dtype {code!r:.40} is not a plain numeric, bool, bytes or str "
                        "dtype (object, structured and datetime dtypes are refused)")
    dtype = np.dtype(code)
    if order in ("<", ">"):
        return dtype.newbyteorder(order) if dtype.byteorder != "|" else dtype
    if order in ("=", "|"):
        return dtype
    raise Malformed(f"dtype byte order {order!r:.10} is not one of < > = |")


def plain_dtype(value) -> np.dtype:
    """``value`` if it is a dtype :func:`checked_dtype` could have built, else Malformed."""
    if not isinstance(value, np.dtype) or value.kind not in "biufcSU" or value.fields \
            or value.subdtype is not None or value.itemsize == 0:
        raise Malformed(f"an array needs a plain dtype, the file gives {value!r:.60}")
    return value


class DtypePending:
    """A ``numpy.dtype`` call waiting for its state (byte order); becomes a real dtype
    when first used."""

    def __init__(self, code: str):
        checked_dtype(code)
        self.code, self.order, self.dtype = code, "=", None

    def build(self, state) -> None:
        """numpy's dtype state: ``(3|4, order, None, None, None, elsize, alignment, flags[,
        None])``; only the byte order is taken, the rest must describe a plain dtype."""
        if self.dtype is not None:
            raise Malformed("dtype state given after the dtype was used")
        if type(state) is not tuple or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise Malformed(f"unsupported numpy dtype state {state!r:.80}")
        if any(v is not None for v in state[2:5]) or (len(state) == 9 and state[8] is not None):
            raise Malformed("structured, sub-array or metadata dtypes are refused")
        if any(type(v) is not int for v in state[5:8]):
            raise Malformed(f"unsupported numpy dtype state {state!r:.80}")
        dtype = checked_dtype(self.code, state[1] if type(state[1]) is str else "?")
        if state[5] not in (-1, dtype.itemsize):
            raise Malformed(f"dtype {self.code} with item size {state[5]}")
        self.order = state[1]

    def resolve(self) -> np.dtype:
        if self.dtype is None:
            self.dtype = checked_dtype(self.code, self.order)
        return self.dtype


def _element_count(shape, what: str) -> int:
    if type(shape) is not tuple or len(shape) > _MAX_DIMS:
        raise Malformed(f"{what}: shape must be a tuple of at most {_MAX_DIMS} ints")
    count = extent = 1
    for n in shape:
        count *= _index(n, f"{what}: shape entry")
        extent *= max(n, 1)
    if extent >= _MAX_EXTENT:
        raise Malformed(f"{what}: shape {shape!r:.80} is beyond any array")
    return count


def array_from_bytes(raw, dtype, shape, fortran: bool, what: str = "array") -> np.ndarray:
    """A writable ndarray of ``dtype`` and ``shape`` from ``raw`` (bytes, bytearray,
    :class:`RawString` or a Python-2 ``str``) whose size must match exactly."""
    dtype = plain_dtype(dtype)
    count = _element_count(shape, what)
    raw = latin1_bytes(raw, f"{what} data")
    if len(raw) != count * dtype.itemsize:
        raise Malformed(f"{what} of shape {shape} and dtype {dtype} needs "
                        f"{count * dtype.itemsize} bytes, the file gives {len(raw)}")
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    if not flat.flags.writeable:
        flat = flat.copy()
    return flat.reshape(shape, order="F" if fortran else "C")


class ArrayState:
    """The state tuple of a numpy array whose data is a :class:`RawString`; the array
    takes the bytes as they are, any other use gets the tuple."""

    def __init__(self, items: list):
        self.items, self._value = items, None

    def resolve(self) -> tuple:
        if self._value is None:
            self._value = tuple(v.resolve() if type(v) is RawString else v for v in self.items)
        return self._value

    @staticmethod
    def matches(items: list) -> bool:
        """Whether TUPLE items look like ``([1,] shape, dtype, is_fortran, RawString)``."""
        return (len(items) in (4, 5) and type(items[-1]) is RawString
                and (type(items[-3]) is DtypePending or isinstance(items[-3], np.dtype)))


class ArrayPending:
    """``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`` waiting for its state
    ``([1,] shape, dtype, is_fortran, data)``; becomes a real array when first used."""

    def __init__(self):
        self.array = None

    def build(self, state) -> None:
        if self.array is not None:
            raise Malformed("array state given twice")
        if type(state) is ArrayState:
            state = tuple(state.items)
        if type(state) is not tuple or len(state) not in (4, 5):
            raise Malformed(f"unsupported numpy array state ({type(state).__name__})")
        if len(state) == 5:
            if state[0] != 1 or type(state[0]) is not int:
                raise Malformed(f"unsupported numpy array state version {state[0]!r:.20}")
            state = state[1:]
        shape, dtype, fortran, raw = state
        if type(raw) is list:
            raise Refused("numpy object array", "refusing an object array (its elements "
                                                "would be arbitrary objects)")
        self.array = array_from_bytes(raw, dtype, shape, _flag(fortran, "is_fortran"))

    def resolve(self) -> np.ndarray:
        if self.array is None:
            raise Malformed("numpy array used before its state was given")
        return self.array


PENDING_TYPES = (DtypePending, ArrayPending, RawString, ArrayState)


def _np_reconstruct(reader, args):
    cls, shape, typecode = _args(args, "_reconstruct", 3, 3)
    if cls is not np.ndarray or shape != (0,) or typecode not in (b"b", "b"):
        raise Refused("numpy _reconstruct", f"refusing numpy _reconstruct of {cls!r:.60}: "
                                            "only plain ndarrays are read")
    return reader.made(ArrayPending(), buildable=True)


def _np_dtype(reader, args):
    code = _args(args, "numpy.dtype", 1, 3)[0]
    for flag in args[1:]:
        _flag(flag, "numpy.dtype flag")
    return reader.made(DtypePending(code), buildable=True)


def _np_scalar(reader, args):
    dtype, raw = _args(args, "numpy scalar", 2, 2)
    dtype = plain_dtype(dtype)
    raw = latin1_bytes(raw, "numpy scalar")
    if len(raw) != dtype.itemsize:
        raise Malformed(f"numpy {dtype} scalar of {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, count=1)[0]


def _np_frombuffer(reader, args):
    buf, dtype, shape, order = _args(args, "numpy _frombuffer", 4, 4)
    if order not in ("C", "F"):
        raise Malformed(f"array order {order!r:.10}")
    array = array_from_bytes(buf, dtype, shape, order == "F")
    reader.spend(array.nbytes)
    return array


def _np_scalar_type(scalar_type):
    def make(reader, args):
        value = _args(args, scalar_type.__name__, 0, 1)
        return scalar_type(*(_of(v, (bool, int, float, complex), "numpy scalar value")
                             for v in value))
    return make


# ---------------------------------------------------------------- builtins and collections

def _iterable_arg(args, name):
    value = _args(args, name, 0, 1)
    return _of(value[0], (list, tuple, set, frozenset), f"{name} argument") if value else ()


def _simple(t, allowed):
    def make(reader, args):
        value = _args(args, t.__name__, 0, 1)
        return t(*(_of(v, allowed, f"{t.__name__} argument") for v in value))
    return make


def _collection(t):
    def make(reader, args):
        items = _iterable_arg(args, t.__name__)
        reader.count(len(items))
        if t in (set, frozenset):
            check_keys(items)
        return reader.made(t(items))
    return make


def _pairs(source, what: str) -> list:
    """(key, value) pairs from a dict or a list/tuple of 2-tuples, keys checked."""
    if isinstance(source, dict):
        pairs = list(source.items())
    else:
        pairs = list(source)
        if any(type(p) is not tuple or len(p) != 2 for p in pairs):
            raise Malformed(f"{what} argument is not a list of (key, value) pairs")
    check_keys(k for k, _ in pairs)
    return pairs


def _counted_pairs(reader, source, what: str) -> list:
    pairs = _pairs(source, what)
    reader.count(2 * len(pairs))
    return pairs


def _dict(reader, args):
    value = _args(args, "dict", 0, 1)
    source = _of(value[0], (dict, list, tuple), "dict argument") if value else ()
    return reader.made(dict(_counted_pairs(reader, source, "dict")))


def _bytes(reader, args):
    value = _args(args, "bytes", 0, 1)
    if not value:
        return b""
    reader.spend(len(_of(value[0], (bytes, bytearray), "bytes argument")))
    return bytes(value[0])


def _bytearray(reader, args):
    value = _args(args, "bytearray", 0, 2)
    if len(value) == 2:
        if type(value[1]) is not str or value[1].lower() not in _LATIN1:
            raise Malformed(f"bytearray encoding {value[1]!r:.20} (only latin-1)")
        reader.spend(len(_of(value[0], (str,), "bytearray text")))
        return bytearray(latin1_bytes(value[0], "bytearray"))
    if not value:
        return bytearray()
    reader.spend(len(_of(value[0], (bytes, bytearray), "bytearray argument")))
    return bytearray(value[0])


def _codecs_encode(reader, args):
    text, encoding = _args(args, "_codecs.encode", 2, 2)
    if type(encoding) is not str or encoding.lower() not in _LATIN1:
        raise Refused("_codecs.encode", f"refusing _codecs.encode with encoding "
                                        f"{encoding!r:.20}: only latin-1 (Python-2 byte "
                                        "strings) is read")
    reader.spend(len(_of(text, (str,), "_codecs.encode text")))
    return bytes(latin1_bytes(text, "_codecs.encode"))


def _ordered_dict(reader, args):
    value = _args(args, "OrderedDict", 0, 1)
    source = _of(value[0], (list, tuple, dict), "OrderedDict argument") if value else ()
    pairs = _counted_pairs(reader, source, "OrderedDict")
    return reader.made(collections.OrderedDict(pairs), buildable=True)


def _counter(reader, args):
    value = _args(args, "Counter", 0, 1)
    source = _of(value[0], (dict,), "Counter argument") if value else {}
    pairs = _counted_pairs(reader, source, "Counter")
    return reader.made(collections.Counter(dict(pairs)), buildable=True)


def _defaultdict(reader, args):
    value = _args(args, "defaultdict", 0, 1)
    factory = value[0] if value else None
    if factory is not None and not any(factory is t for t in DEFAULT_FACTORIES):
        raise Refused("defaultdict", f"refusing a defaultdict whose default is "
                                     f"{factory!r:.60}: only plain container/scalar types")
    return reader.made(collections.defaultdict(factory))


def _namespace(cls):
    def new(reader, args, kwargs):
        if args or kwargs:
            raise Malformed(f"{cls.__name__} created with arguments")
        return reader.made(cls(), buildable=True)
    return new


def _reconstructor(reader, args):
    """``copyreg._reconstructor(cls, base, state)``: protocol 0/1 objects."""
    cls, base, state = _args(args, "copyreg._reconstructor", 3, 3)
    entry = reader.global_of(cls)
    if entry is None or entry.new is None:
        raise Refused(getattr(cls, "__qualname__", type(cls).__name__),
                      f"refusing to create an instance of {cls!r:.60}")
    if base is object and state is None:
        return entry.new(reader, (), {})
    if base is dict and type(state) is dict:
        obj = entry.new(reader, (), {})
        reader.set_items(obj, list(state.items()))
        return obj
    raise Malformed(f"copyreg._reconstructor with base {base!r:.40}")


def _newobj(reader, args):
    """``copyreg.__newobj__(cls, *args)``."""
    if type(args) is not tuple or not args:
        raise Malformed("copyreg.__newobj__ without a class")
    entry = reader.global_of(args[0])
    if entry is None or entry.new is None:
        raise Refused(repr(args[0])[:60], f"refusing to create an instance of {args[0]!r:.60}")
    return entry.new(reader, args[1:], {})


def _numpy_core_module(submodule):
    import importlib

    for package in ("numpy._core", "numpy.core"):    # numpy 2, numpy 1
        try:
            return importlib.import_module(f"{package}.{submodule}")
        except ImportError:
            continue
    raise ImportError(f"numpy has no core.{submodule}")


_NUMPY_SCALAR_TYPES = ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                       "uint64", "float16", "float32", "float64", "complex64", "complex128")


@functools.lru_cache(maxsize=1)
def _plain_table() -> Dict[str, Global]:
    multiarray, numeric = _numpy_core_module("multiarray"), _numpy_core_module("numeric")
    table = {}

    def add(name, value, reduce=None, new=None):
        table[name] = Global(name, value, reduce, new)

    for package in ("numpy.core", "numpy._core"):
        add(f"{package}.multiarray._reconstruct", multiarray._reconstruct, _np_reconstruct)
        add(f"{package}.multiarray.scalar", multiarray.scalar, _np_scalar)
        add(f"{package}.numeric._frombuffer", numeric._frombuffer, _np_frombuffer)
    add("numpy.ndarray", np.ndarray)
    add("numpy.dtype", np.dtype, _np_dtype)
    for name in _NUMPY_SCALAR_TYPES:
        add(f"numpy.{name}", getattr(np, name), _np_scalar_type(getattr(np, name)))
    add("builtins.set", set, _collection(set))
    add("builtins.frozenset", frozenset, _collection(frozenset))
    add("builtins.list", list, _collection(list))
    add("builtins.tuple", tuple, _collection(tuple))
    add("builtins.dict", dict, _dict)
    add("builtins.int", int, _simple(int, (int, bool, str, float)))
    add("builtins.float", float, _simple(float, (int, bool, str, float)))
    add("builtins.complex", complex, lambda r, a: complex(*(
        _of(v, (int, float), "complex part") for v in _args(a, "complex", 0, 2))))
    add("builtins.str", str, _simple(str, (str,)))
    add("builtins.bool", bool, _simple(bool, (bool, int)))
    add("builtins.bytes", bytes, _bytes)
    add("builtins.bytearray", bytearray, _bytearray)
    add("builtins.object", object)
    add("collections.OrderedDict", collections.OrderedDict, _ordered_dict)
    add("collections.defaultdict", collections.defaultdict, _defaultdict)
    add("collections.Counter", collections.Counter, _counter)
    add("argparse.Namespace", argparse.Namespace, new=_namespace(argparse.Namespace))
    add("types.SimpleNamespace", types.SimpleNamespace,
        lambda r, a: _namespace(types.SimpleNamespace)(r, _args(a, "SimpleNamespace", 0, 0), {}),
        _namespace(types.SimpleNamespace))
    add("_codecs.encode", _codecs.encode, _codecs_encode)
    add("copyreg._reconstructor", copyreg._reconstructor, _reconstructor)
    add("copyreg.__newobj__", copyreg.__newobj__, _newobj)
    return table


def plain_global(full_name: str) -> Optional[Global]:
    """The :class:`Global` for a plain-data global, or None."""
    return _plain_table().get(full_name)


def is_foreign(full_name: str) -> bool:
    """Whether ``full_name`` is a class of :data:`INERT_PACKAGES`."""
    return full_name.startswith(tuple(p + "." for p in INERT_PACKAGES))


class ForeignClasses:
    """The placeholder classes of one file: created for that file, never shared.

    Instances made through them start empty and take the file's state; nothing of the
    foreign class runs, and nothing done to one file's placeholders reaches another file.
    """

    def __init__(self):
        self._entries: Dict[str, Global] = {}

    def entry(self, full_name: str) -> Global:
        """The :class:`Global` of the foreign class ``full_name`` for this file."""
        entry = self._entries.get(full_name)
        if entry is None:
            if full_name in DICT_LIKE:
                placeholder = type(full_name.rsplit(".", 1)[-1], (), {"foreign": full_name})
                new = self._mapping
            else:
                placeholder = type(full_name.rsplit(".", 1)[-1], (Inert,),
                                   {"foreign": full_name, "__module__": __name__})
                new = functools.partial(self._instance, placeholder)
            entry = Global(full_name, placeholder, lambda r, a, new=new: new(r, a, {}), new)
            self._entries[full_name] = entry
        return entry

    @staticmethod
    def _mapping(reader, args, kwargs) -> collections.OrderedDict:
        obj = collections.OrderedDict()
        if args or kwargs:
            source = args[0] if len(args) == 1 and not kwargs else None
            if type(source) not in (dict, collections.OrderedDict, list, tuple):
                raise Malformed("dict-like config created with unsupported arguments")
            reader.set_items(obj, _counted_pairs(reader, source, "dict-like config"))
        return reader.made(obj, buildable=True)

    @staticmethod
    def _instance(placeholder, reader, args, kwargs) -> Inert:
        if kwargs:
            args = args + (kwargs,)
        return reader.made(placeholder(tuple(args)), buildable=True)


def check_state_keys(state, what: str) -> Tuple[dict, dict]:
    """Split a BUILD state into (``__dict__`` items, slot items); keys must be str."""
    if type(state) is tuple and len(state) == 2:
        parts = state
    else:
        parts = (state, None)
    out = []
    for part in parts:
        if part is None:
            out.append({})
            continue
        if not isinstance(part, dict) or any(type(k) is not str for k in part):
            raise Malformed(f"state of {what} must map names to values")
        out.append(part)
    return out[0], out[1]
