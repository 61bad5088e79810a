"""Message factories: one conversion code path for rclpy messages and ``rosbags`` messages.

The conversions in :mod:`wham_ros.ros.conversions` build messages through
``factory.new("pkg/msg/Type", field=value, ...)`` with numpy arrays for array fields. Two
factories implement that:

* :class:`RclpyFactory` makes the rosidl-generated Python classes (the live node);
* :class:`RosbagsFactory` makes ``rosbags`` dataclasses (the offline runner, no ROS needed).

Each factory coerces numpy values to what its message classes expect (``array.array`` for
rclpy sequences, typed numpy arrays for rosbags) and fills fields the caller leaves out.
"""
from __future__ import annotations

import array
import importlib
from typing import Any, Dict, List

import numpy as np

# rosidl primitive type -> (array.array typecode, numpy dtype).
_RCLPY_TYPECODES = {
    "float": ("f", np.float32), "double": ("d", np.float64),
    "int8": ("b", np.int8), "uint8": ("B", np.uint8), "octet": ("B", np.uint8),
    "int16": ("h", np.int16), "uint16": ("H", np.uint16),
    "int32": ("i", np.int32), "uint32": ("I", np.uint32),
    "int64": ("q", np.int64), "uint64": ("Q", np.uint64),
}
# Default values declared in .msg files (rosbags' typestore does not keep them); the
# only one in the messages built here: geometry_msgs/Quaternion is the identity.
_MSG_DEFAULTS = {"geometry_msgs/msg/Quaternion": {"w": 1.0}}
# rosbags base type -> numpy dtype.
_ROSBAGS_DTYPES = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8,
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
    "float32": np.float32, "float64": np.float64,
}


class RclpyFactory:
    """Builds rclpy (rosidl-generated) messages."""

    def __init__(self) -> None:
        self._classes: Dict[str, Any] = {}
        self._point_cls = self.cls("geometry_msgs/msg/Point")
        self._point_slots = set(self._point_cls.__slots__)

    def cls(self, typename: str):
        """The message class for ``"pkg/msg/Type"``."""
        if typename not in self._classes:
            pkg, _, name = typename.split("/")
            self._classes[typename] = getattr(importlib.import_module(f"{pkg}.msg"), name)
        return self._classes[typename]

    def new(self, typename: str, **fields):
        """Message ``typename`` with ``fields`` (numpy arrays coerced per field type)."""
        cls = self.cls(typename)
        types = cls.get_fields_and_field_types()
        for key, value in fields.items():
            if isinstance(value, np.ndarray):
                fields[key] = _to_rclpy(value, types[key])
            elif types[key] == "octet" and isinstance(value, int):
                fields[key] = bytes([value])  # rosidl 'byte' fields take a 1-byte bytes
        return cls(**fields)

    def points(self, xyz: np.ndarray) -> List[Any]:
        """``geometry_msgs/Point`` list for an (N, 3) array, built without per-field checks.

        The mesh marker needs ~41k points per body; the keyword constructor validates every
        field and costs ~1.7 us per point, setting the slots directly about 1 us.
        """
        new = self._point_cls.__new__
        cls = self._point_cls
        has_check = "_check_fields" in self._point_slots
        out = []
        append = out.append
        for x, y, z in np.asarray(xyz, dtype=np.float64).tolist():
            p = new(cls)
            p._x = x
            p._y = y
            p._z = z
            if has_check:
                p._check_fields = False
            append(p)
        return out


    def gather_points(self, table: np.ndarray, index: np.ndarray) -> List[Any]:
        """``geometry_msgs/Point`` list of ``table[index]`` ((V, 3) table, (M,) index)."""
        return self.points(np.take(np.asarray(table, dtype=np.float64), index, axis=0))


def _to_rclpy(value: np.ndarray, field_type: str):
    """Coerce a numpy array to what rosidl's Python setter for ``field_type`` accepts."""
    if field_type.startswith("sequence<"):
        base = field_type[len("sequence<"):].split(",")[0].rstrip(">")
        if base in _RCLPY_TYPECODES:
            code, dtype = _RCLPY_TYPECODES[base]
            out = array.array(code)
            out.frombytes(np.ascontiguousarray(value, dtype=dtype).tobytes())
            return out
        return value.tolist()
    base = field_type.split("[")[0]
    if base == "boolean":
        return [bool(v) for v in value.reshape(-1)]
    if base in _RCLPY_TYPECODES:
        return np.ascontiguousarray(value.reshape(-1), dtype=_RCLPY_TYPECODES[base][1])
    return value.tolist()


class RosbagsFactory:
    """Builds ``rosbags`` message dataclasses for a typestore (missing fields defaulted).

    Args:
        typestore: a ``rosbags.typesys`` typestore with every type that will be built.
    """

    def __init__(self, typestore) -> None:
        self.typestore = typestore
        self._point_cls = typestore.types["geometry_msgs/msg/Point"]

    def new(self, typename: str, **fields):
        """Message ``typename`` with ``fields``; omitted fields get ROS default values."""
        _, defs = self.typestore.fielddefs[typename]
        values = {}
        declared = _MSG_DEFAULTS.get(typename, {})
        for name, desc in defs:
            if name in fields:
                values[name] = self._coerce(fields[name], desc)
            elif name in declared:
                values[name] = declared[name]
            else:
                values[name] = self._default(desc)
        unknown = set(fields) - {name for name, _ in defs}
        if unknown:
            raise TypeError(f"{typename} has no field(s) {sorted(unknown)}")
        return self.typestore.types[typename](**values)

    def points(self, xyz: np.ndarray) -> List[Any]:
        """``geometry_msgs/Point`` list for an (N, 3) array."""
        cls = self._point_cls
        return [cls(x, y, z) for x, y, z in np.asarray(xyz, dtype=np.float64).tolist()]

    def gather_points(self, table: np.ndarray, index: np.ndarray) -> List[Any]:
        """``geometry_msgs/Point`` list of ``table[index]`` ((V, 3) table, (M,) index)."""
        return self.points(np.take(np.asarray(table, dtype=np.float64), index, axis=0))

    def _coerce(self, value, desc):
        kind, arg = desc
        if isinstance(value, np.ndarray) and kind.name in ("ARRAY", "SEQUENCE"):
            (sub_kind, sub_arg), _ = arg
            if sub_kind.name == "BASE":
                return np.ascontiguousarray(value.reshape(-1), dtype=_ROSBAGS_DTYPES[sub_arg[0]])
            return value.tolist()
        if isinstance(value, (np.generic,)):
            return value.item()
        return value

    def _default(self, desc):
        kind, arg = desc
        name = kind.name
        if name == "BASE":
            base = arg[0]
            return "" if base == "string" else (False if base == "bool" else
                                                 (0.0 if base.startswith("float") else 0))
        if name == "NAME":
            return self.new(arg)
        (sub_kind, sub_arg), count = arg
        if name == "ARRAY":
            if sub_kind.name == "BASE" and sub_arg[0] in _ROSBAGS_DTYPES:
                return np.zeros(count, dtype=_ROSBAGS_DTYPES[sub_arg[0]])
            return [self._default((sub_kind, sub_arg)) for _ in range(count)]
        if sub_kind.name == "BASE" and sub_arg[0] in _ROSBAGS_DTYPES:
            return np.zeros(0, dtype=_ROSBAGS_DTYPES[sub_arg[0]])
        return []
