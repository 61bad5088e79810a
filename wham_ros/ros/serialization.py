"""Messages as arrays: ROS 2 messages built from numpy straight into their CDR bytes.

:class:`CdrFactory` is a message factory like those of :mod:`wham_ros.ros.factory`, so the
conversions in :mod:`wham_ros.ros.conversions` and :mod:`wham_ros.ros.markers` build
messages through it unchanged; its messages are light records and :meth:`CdrFactory.serialize`
writes them as XCDR1 little-endian bytes (the rosbag2 / rmw wire form, 4-byte encapsulation
header ``00 01 00 00``). Arrays of numbers, and arrays of messages whose fields are all the
same number type (``geometry_msgs/Point``, ``std_msgs/ColorRGBA``), are copied once from
their buffers: the 41,328-point mesh marker of a body costs one 1 MB copy, not 41,328
``Point`` objects.

The bytes equal ``rosbags``' ``serialize_cdr`` of the object message (padding included) and
rclpy's ``serialize_message`` apart from alignment padding, which rclpy leaves
uninitialised; rclpy publishers take them as they are (``Publisher.publish(bytes)``) and the
rosbag2 writer stores them (``OutputBag.write_raw``). Field layouts come from the
``rosbags`` typestore (:func:`wham_ros.bag.typestore.make_typestore`).
"""
from __future__ import annotations

import struct
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from wham_ros.ros.factory import _MSG_DEFAULTS

CDR_HEADER = b"\x00\x01\x00\x00"  # CDR_LE encapsulation, options 0
# rosbags base type -> (struct format, numpy dtype, size in bytes).
_BASE = {
    "bool": ("?", np.uint8, 1), "byte": ("B", np.uint8, 1), "char": ("B", np.uint8, 1),
    "int8": ("b", np.int8, 1), "uint8": ("B", np.uint8, 1),
    "int16": ("h", np.int16, 2), "uint16": ("H", np.uint16, 2),
    "int32": ("i", np.int32, 4), "uint32": ("I", np.uint32, 4),
    "int64": ("q", np.int64, 8), "uint64": ("Q", np.uint64, 8),
    "float32": ("f", np.float32, 4), "float64": ("d", np.float64, 8),
}
_STRUCTS = {name: struct.Struct("<" + fmt) for name, (fmt, _, _) in _BASE.items()}
_U32 = struct.Struct("<I")
_PAD = (b"", b"\0", b"\0\0", b"\0\0\0", b"\0\0\0\0", b"\0" * 5, b"\0" * 6, b"\0" * 7)

# Field kinds of a compiled message layout.
_NUMBER, _STRING, _MESSAGE, _NUMBERS, _MESSAGES = range(5)


class CdrMessage:
    """A message to serialise: its type name and the fields given (others take defaults)."""

    __slots__ = ("typename", "fields")

    def __init__(self, typename: str, fields: Dict[str, Any]) -> None:
        self.typename = typename
        self.fields = fields


class GatheredPoints:
    """``geometry_msgs/Point[]`` given as rows of a table picked by an index.

    Gathered at serialisation time into a buffer the factory reuses, so a mesh marker does
    not allocate (and page-fault) a fresh megabyte per body and frame.

    Args:
        table: (V, 3) float64 points (e.g. world-frame vertices).
        index: (M,) row indices (e.g. flattened triangle corners).
    """

    __slots__ = ("table", "index")

    def __init__(self, table: np.ndarray, index: np.ndarray) -> None:
        self.table = np.ascontiguousarray(table, dtype=np.float64).reshape(-1, 3)
        self.index = np.asarray(index, dtype=np.intp).reshape(-1)

    def __len__(self) -> int:
        return len(self.index)


class _Writer:
    """Growing list of byte chunks with the CDR position (offset after the encapsulation)."""

    __slots__ = ("chunks", "pos")

    def __init__(self) -> None:
        self.chunks: List[bytes] = [CDR_HEADER]
        self.pos = 0

    def align(self, size: int) -> None:
        pad = -self.pos % size
        if pad:
            self.chunks.append(_PAD[pad])
            self.pos += pad

    def put(self, data: bytes) -> None:
        self.chunks.append(data)
        self.pos += len(data)

    def put_array(self, a: np.ndarray) -> None:
        """A C-contiguous array's bytes, copied once (by the final join)."""
        self.chunks.append(a.data.cast("B"))
        self.pos += a.nbytes


class CdrFactory:
    """Message factory whose messages serialise to CDR bytes (see the module docstring).

    The factory reuses scratch buffers between calls of :meth:`serialize`: use one factory
    per thread.

    Args:
        typestore: ``rosbags`` typestore holding every type that will be built.
    """

    def __init__(self, typestore) -> None:
        self.typestore = typestore
        self._layouts: Dict[str, List[Tuple]] = {}
        self._flat: Dict[str, Optional[Tuple[str, int]]] = {}
        self._names: Dict[str, set] = {}
        self._scratch: List[np.ndarray] = []  # gather buffers, reused by every serialize()
        self._scratch_used = 0

    def new(self, typename: str, **fields) -> CdrMessage:
        """Message ``typename`` with ``fields`` (numpy arrays for array fields)."""
        self._layout(typename)  # unknown type or field names fail here, not when publishing
        unknown = set(fields) - self._names[typename]
        if unknown:
            raise TypeError(f"{typename} has no field(s) {sorted(unknown)}")
        return CdrMessage(typename, fields)

    def points(self, xyz: np.ndarray) -> np.ndarray:
        """``geometry_msgs/Point[]`` as an (N, 3) float64 array (written with one copy)."""
        return np.ascontiguousarray(np.asarray(xyz, dtype=np.float64).reshape(-1, 3))

    def gather_points(self, table: np.ndarray, index: np.ndarray) -> GatheredPoints:
        """``geometry_msgs/Point[]`` of ``table[index]`` ((V, 3) table, (M,) index)."""
        return GatheredPoints(table, index)

    def serialize(self, msg: CdrMessage) -> bytes:
        """CDR bytes (with the encapsulation header) of ``msg``."""
        self._scratch_used = 0
        w = _Writer()
        self._write(w, msg.typename, msg.fields)
        return b"".join(w.chunks)

    # ------------------------------------------------------------------ layouts
    def _layout(self, typename: str) -> List[Tuple]:
        """[(field, kind, arg, count, default)] of ``typename`` (count: fixed array length or 0)."""
        layout = self._layouts.get(typename)
        if layout is not None:
            return layout
        _, defs = self.typestore.fielddefs[typename]
        declared = _MSG_DEFAULTS.get(typename, {})
        layout = []
        for name, (node, arg) in defs:
            kind = node.name
            if kind == "BASE":
                base = arg[0]
                if base == "string":
                    layout.append((name, _STRING, None, 0, declared.get(name, "")))
                else:
                    layout.append((name, _NUMBER, base, 0, declared.get(name, 0)))
            elif kind == "NAME":
                layout.append((name, _MESSAGE, arg, 0, None))
            else:  # ARRAY (count > 0) or SEQUENCE (count 0)
                (sub_node, sub_arg), count = arg
                count = count if kind == "ARRAY" else 0
                if sub_node.name == "BASE" and sub_arg[0] != "string":
                    layout.append((name, _NUMBERS, sub_arg[0], count, None))
                elif sub_node.name == "NAME":
                    layout.append((name, _MESSAGES, sub_arg, count, None))
                else:
                    raise NotImplementedError(f"{typename}.{name}: string arrays are not supported")
        self._layouts[typename] = layout
        self._names[typename] = {entry[0] for entry in layout}
        return layout

    def _flat_type(self, typename: str) -> Optional[Tuple[str, int]]:
        """(base type, field count) when every field of ``typename`` is that number type."""
        if typename not in self._flat:
            layout = self._layout(typename)
            bases = {arg for _, kind, arg, _, _ in layout if kind == _NUMBER}
            flat = (len(bases) == 1 and all(kind == _NUMBER for _, kind, _, _, _ in layout))
            self._flat[typename] = (bases.pop(), len(layout)) if flat else None
        return self._flat[typename]

    # ------------------------------------------------------------------ writing
    def _write(self, w: _Writer, typename: str, fields: Dict[str, Any]) -> None:
        for name, kind, arg, count, default in self._layout(typename):
            value = fields.get(name)
            if kind == _NUMBER:
                s = _STRUCTS[arg]
                w.align(s.size)
                w.put(s.pack(default if value is None else value))
            elif kind == _STRING:
                data = (default if value is None else value).encode("utf-8") + b"\0"
                w.align(4)
                w.put(_U32.pack(len(data)))
                w.put(data)
            elif kind == _MESSAGE:
                if isinstance(value, CdrMessage):
                    self._write(w, value.typename, value.fields)
                else:
                    self._write(w, arg, {})
            elif kind == _NUMBERS:
                self._numbers(w, name, arg, count, value)
            else:
                self._messages(w, name, arg, count, value)

    def _numbers(self, w: _Writer, name: str, base: str, count: int, value) -> None:
        _, dtype, size = _BASE[base]
        a = (np.zeros(count, dtype) if value is None
             else np.ascontiguousarray(np.asarray(value).reshape(-1), dtype=dtype))
        if count:
            if a.size != count:
                raise ValueError(f"field '{name}' needs {count} values, got {a.size}")
        else:
            w.align(4)
            w.put(_U32.pack(a.size))
        if a.size:
            w.align(size)
            w.put_array(a)

    def _messages(self, w: _Writer, name: str, typename: str, count: int, value) -> None:
        items = [] if value is None else value
        n = len(items) if not count else count
        if count and value is not None and len(items) != count:
            raise ValueError(f"field '{name}' needs {count} {typename}, got {len(items)}")
        if not count:
            w.align(4)
            w.put(_U32.pack(n))
        if isinstance(items, GatheredPoints):
            items = self._gather(items)
        if isinstance(items, np.ndarray):
            flat = self._flat_type(typename)
            if flat is None:
                raise TypeError(f"field '{name}': {typename} cannot be given as an array")
            base, width = flat
            _, dtype, size = _BASE[base]
            a = np.ascontiguousarray(items, dtype=dtype)
            if a.shape != (n, width):
                raise ValueError(f"field '{name}' needs ({n}, {width}) values, got {a.shape}")
            if n:
                w.align(size)
                w.put_array(a)
            return
        if count and value is None:
            items = [None] * count
        for item in items:
            if isinstance(item, CdrMessage):
                self._write(w, item.typename, item.fields)
            else:
                self._write(w, typename, {})

    def _gather(self, g: GatheredPoints) -> np.ndarray:
        """``g.table[g.index]`` written into the next scratch buffer of this serialize()."""
        k, n = self._scratch_used, len(g.index)
        if k == len(self._scratch):
            self._scratch.append(np.empty((0, 3)))
        if len(self._scratch[k]) < n:
            self._scratch[k] = np.empty((n, 3))
        self._scratch_used += 1
        return np.take(g.table, g.index, axis=0, out=self._scratch[k][:n])
