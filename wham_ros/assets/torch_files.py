"""Reading ``torch.save`` files without ``torch.load``: the zip format and the legacy one.

Zip format (torch >= 1.6; ``torch/serialization.py`` ``_save``): one folder ``<prefix>/``
holding ``data.pkl`` (the object; tensors are ``torch._utils._rebuild_tensor_v2`` calls on
persistent ids ``('storage', torch.<T>Storage, key, location, numel)``), ``data/<key>`` (each
storage's raw bytes), ``byteorder`` (``little``/``big``) and version records.

Legacy format (``_legacy_save``): consecutive pickles -- the magic number, the protocol
version (1001), a ``sys_info`` dict, the object (persistent ids ``('storage', type, key,
location, numel, view)``), the sorted list of storage keys -- then each storage as an int64
element count and its raw bytes.

``data.pkl`` and the legacy pickles go through :class:`~wham_ros.assets.pickle_machine.
PickleMachine` with the torch globals below; storages are read as raw bytes whose size is
checked against the persistent id, the zip member's header and what the file can hold
(storages stored uncompressed may not add up to more than the file; compressed ones to
more than :data:`MAX_INFLATED_BYTES`). Tensors are strided views of their storage whose
extent is checked before they are made.
"""
import os
import re
import sys
import zipfile
from typing import Any, Dict, Union

import torch

from wham_ros.assets.allowlist import Global
from wham_ros.assets.file_errors import Malformed
from wham_ros.assets.pickle_machine import PickleMachine, map_file
from wham_ros.assets.zip_members import ZipBudget, read_exactly

MAX_INFLATED_BYTES = 256 << 20
"""Bytes that deflated zip members (storages, ``data.pkl``) may inflate to, in total."""

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
    "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}
_TORCH_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16",
                 "int8", "uint8", "bool", "complex64", "complex128", "float", "double",
                 "half", "long", "int", "short")
_KEY = re.compile(r"[0-9A-Za-z_.]{1,64}\Z")
_MAX_EXTENT = 1 << 62       # sizes, strides and offsets stay far from int64 overflow


class StorageType:
    """What ``torch.<T>Storage`` stands for in a file: a dtype tag, nothing callable."""

    def __init__(self, name: str, dtype: torch.dtype):
        self.name, self.dtype = name, dtype

    def __repr__(self):
        return f"<storage type {self.name}>"


class _Storage:
    """One storage of the file: its dtype and flat tensor (filled when read)."""

    def __init__(self, dtype: torch.dtype, flat: torch.Tensor):
        self.dtype, self.flat = dtype, flat


def _rebuild_tensor(reader, args):
    """``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])``."""
    if type(args) is not tuple or len(args) not in (6, 7):
        raise Malformed("_rebuild_tensor_v2 with the wrong number of arguments")
    storage, offset, size, stride, requires_grad, hooks = args[:6]
    if type(storage) is not _Storage:
        raise Malformed(f"tensor over a {type(storage).__name__}, not a storage of the file")
    if hooks or (len(args) == 7 and args[6]):
        raise Malformed("tensor with backward hooks or metadata")
    if type(requires_grad) is not bool:
        raise Malformed("tensor requires_grad is not a bool")
    return strided_view(storage, offset, size, stride).requires_grad_(
        requires_grad and (storage.dtype.is_floating_point or storage.dtype.is_complex))


def strided_view(storage: "_Storage", offset, size, stride) -> torch.Tensor:
    """The tensor ``(offset, size, stride)`` over ``storage`` after checking its extent:
    every element inside the storage, no more elements than the storage holds."""
    ints = (offset,) + (tuple(size) if type(size) in (tuple, torch.Size) else (None,)) \
        + (tuple(stride) if type(stride) is tuple else (None,))
    if any(type(v) is not int or not 0 <= v < _MAX_EXTENT for v in ints) \
            or len(size) != len(stride) or len(size) > 32:
        raise Malformed(f"tensor with offset {offset!r:.20}, size {size!r:.60}, stride "
                        f"{stride!r:.60}")
    numel, last, extent = 1, offset, 1
    for n, step in zip(size, stride):
        numel *= n
        extent *= max(n, 1)
        last += (n - 1) * step
    available = storage.flat.numel()
    if numel == 0:
        if extent >= _MAX_EXTENT:
            raise Malformed(f"empty tensor of size {tuple(size)}")
        return storage.flat.new_empty(tuple(size))
    if last >= available or numel > available:
        raise Malformed(f"tensor of size {tuple(size)} (stride {tuple(stride)}, offset "
                        f"{offset}) reaches outside its storage of {available} elements")
    return storage.flat.as_strided(tuple(size), tuple(stride), offset)


def _rebuild_parameter(reader, args):
    """``_rebuild_parameter(data, requires_grad, hooks)``."""
    if type(args) is not tuple or len(args) != 3:
        raise Malformed("_rebuild_parameter with the wrong number of arguments")
    data, requires_grad, hooks = args
    if type(data) is not torch.Tensor or type(requires_grad) is not bool or hooks:
        raise Malformed("malformed parameter")
    return torch.nn.Parameter(data, requires_grad=requires_grad and data.is_floating_point())


def _size(reader, args):
    if type(args) is not tuple or len(args) != 1 or type(args[0]) is not tuple \
            or any(type(n) is not int for n in args[0]):
        raise Malformed("torch.Size of non-integers")
    return torch.Size(args[0])


def _device(reader, args):
    if type(args) is not tuple or not 1 <= len(args) <= 2 or type(args[0]) is not str \
            or len(args[0]) > 32 or (len(args) == 2 and type(args[1]) is not int):
        raise Malformed("malformed torch.device")
    return torch.device(*args)


def torch_globals() -> Dict[str, Global]:
    """The globals of torch files beyond plain data."""
    table = {f"torch.{name}": Global(f"torch.{name}", StorageType(name, dtype))
             for name, dtype in _STORAGE_DTYPES.items()}
    table["torch._utils._rebuild_tensor_v2"] = Global(
        "torch._utils._rebuild_tensor_v2", torch._utils._rebuild_tensor_v2, _rebuild_tensor)
    table["torch._utils._rebuild_parameter"] = Global(
        "torch._utils._rebuild_parameter", torch._utils._rebuild_parameter, _rebuild_parameter)
    table["torch.Size"] = Global("torch.Size", torch.Size, _size)
    table["torch.device"] = Global("torch.device", torch.device, _device)
    for name in _TORCH_DTYPES:
        table[f"torch.{name}"] = Global(f"torch.{name}", getattr(torch, name))
    return table


_TORCH_GLOBALS = torch_globals()


def _check_pid(pid, length: int):
    if type(pid) is not tuple or len(pid) != length or pid[0] != "storage":
        raise Malformed(f"unsupported persistent id {pid!r:.80}")
    _, storage_type, key, location, numel = pid[:5]
    if type(storage_type) is not StorageType or type(key) is not str or not _KEY.match(key) \
            or type(location) is not str or len(location) > 64 \
            or type(numel) is not int or numel < 0:
        raise Malformed(f"malformed storage id {pid!r:.80}")
    return storage_type.dtype, key, numel


def _swap_bytes(flat: torch.Tensor) -> None:
    """Reverse the byte order of every element (of each half for complex) in place."""
    unit = flat.element_size() // (2 if flat.dtype.is_complex else 1)
    if unit > 1:
        as_int = {2: torch.int16, 4: torch.int32, 8: torch.int64}[unit]
        flat.view(torch.uint8).view(as_int).numpy().byteswap(inplace=True)


class _ZipReader:
    """Storages of one torch zip file, read on first use."""

    def __init__(self, zf: zipfile.ZipFile, fh, prefix: str, device: torch.device):
        self.zf, self.fh, self.prefix, self.device = zf, fh, prefix, device
        self.file_size = os.fstat(fh.fileno()).st_size
        self.budget = ZipBudget(self.file_size, MAX_INFLATED_BYTES)
        self.storages: Dict[str, _Storage] = {}
        order = self._record("byteorder", 16)
        if order not in (None, b"little", b"big"):
            raise Malformed(f"unknown byte order {order!r:.20}")
        self.swap = (order or b"little").decode() != sys.byteorder

    def _record(self, name, limit):
        try:
            info = self.zf.getinfo(self.prefix + name)
        except KeyError:
            return None
        return self.member(info, limit)

    def member(self, info: zipfile.ZipInfo, expected_max: int) -> bytes:
        """A (small) member's bytes, its size checked before it is inflated."""
        if info.file_size > expected_max:
            raise Malformed(f"{info.filename} of {info.file_size} bytes (at most "
                            f"{expected_max} expected)")
        self.budget.charge(info)
        return self.zf.read(info)

    def persistent_load(self, pid):
        dtype, key, numel = _check_pid(pid, 5)
        storage = self.storages.get(key)
        if storage is None:
            storage = _Storage(dtype, self._read_storage(key, dtype, numel))
            self.storages[key] = storage
        elif storage.dtype != dtype or storage.flat.numel() != numel:
            raise Malformed(f"storage {key} used with two types or sizes")
        return storage

    def _read_storage(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        name = f"{self.prefix}data/{key}"
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise Malformed(f"storage {name} is missing") from None
        nbytes = numel * dtype.itemsize
        if info.file_size != nbytes:
            raise Malformed(f"storage {name} holds {info.file_size} bytes, its tensor "
                            f"needs {nbytes}")
        self.budget.charge(info)
        buf = torch.empty(nbytes, dtype=torch.uint8)
        if info.compress_type == zipfile.ZIP_STORED:
            self._read_stored(info, buf.numpy())
        else:
            buf.numpy()[:] = memoryview(self.zf.read(info))
        flat = buf.view(dtype)
        if self.swap:
            _swap_bytes(flat)
        return flat if self.device.type == "cpu" else flat.to(self.device)

    def _read_stored(self, info: zipfile.ZipInfo, out) -> None:
        self.fh.seek(info.header_offset)
        header = self.fh.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise Malformed(f"{info.filename}: bad local zip header")
        start = (info.header_offset + 30 + int.from_bytes(header[26:28], "little")
                 + int.from_bytes(header[28:30], "little"))
        if start + info.file_size > self.file_size:
            raise Malformed(f"{info.filename} reaches past the end of the file")
        self.fh.seek(start)
        read_exactly(self.fh, out, info.filename)


def _data_pkl(zf: zipfile.ZipFile) -> zipfile.ZipInfo:
    found = [i for i in zf.infolist() if i.filename.endswith("data.pkl")
             and i.filename.count("/") == 1]
    if len(found) != 1:
        raise Malformed("no single <folder>/data.pkl in the zip (not a torch.save file)")
    return found[0]


def read_zip(path: str, device: torch.device) -> Any:
    """The object of a torch zip file (see the module docstring)."""
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        info = _data_pkl(zf)
        reader = _ZipReader(zf, fh, info.filename[:-len("data.pkl")], device)
        data = reader.member(info, max(reader.file_size, 0) + MAX_INFLATED_BYTES)
        return run_pickles(data, reader.persistent_load, lambda machine: machine.load()[0])


def run_pickles(data, persistent_load, body):
    """``body(machine)`` with a machine over ``data`` that knows torch's globals
    (:meth:`PickleMachine.run`)."""
    return PickleMachine(data, _TORCH_GLOBALS, persistent_load).run(body)


def read_legacy(path: str) -> Any:
    """The object of a legacy (pre-1.6, non-zip) torch file (see the module docstring);
    its tensors stay on the CPU."""
    data = map_file(path)
    if data[257:262] == b"ustar":
        raise Malformed("torch's oldest (tar) format is not read; load the file with the "
                        "torch that wrote it and save it again")
    storages: Dict[str, _Storage] = {}
    budget = [len(data)]

    def persistent_load(pid):
        dtype, key, numel = _check_pid(pid, 6)
        if pid[5] is not None:
            raise Malformed("legacy storage views are not read")
        storage = storages.get(key)
        if storage is None:
            nbytes = numel * dtype.itemsize
            budget[0] -= nbytes
            if budget[0] < 0:
                raise Malformed("storages larger than the file")
            storage = storages[key] = _Storage(dtype, torch.empty(numel, dtype=dtype))
        elif storage.dtype != dtype or storage.flat.numel() != numel:
            raise Malformed(f"storage {key} used with two types or sizes")
        return storage

    def body(machine):
        magic, pos = machine.load(0)
        version, pos = machine.load(pos)
        if magic != MAGIC_NUMBER or version != LEGACY_PROTOCOL:
            raise Malformed("not a torch file (no zip, no legacy magic number)")
        info, pos = machine.load(pos)
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise Malformed("legacy torch files are read only when written little-endian")
        result, pos = machine.load(pos)
        keys, pos = machine.load(pos)
        if type(keys) is not list or sorted(keys) != sorted(storages):
            raise Malformed("legacy storage list does not match the tensors")
        for key in keys:
            flat = storages[key].flat
            count = int.from_bytes(data[pos:pos + 8], "little", signed=True)
            nbytes = flat.numel() * flat.element_size()
            if count != flat.numel() or pos + 8 + nbytes > len(data):
                raise Malformed(f"legacy storage {key} is truncated or mis-sized")
            flat.view(torch.uint8).numpy()[:] = memoryview(data)[pos + 8:pos + 8 + nbytes]
            pos += 8 + nbytes
        return result

    return run_pickles(data, persistent_load, body)


def read_torch_file(path: str, map_location: Union[str, torch.device] = "cpu") -> Any:
    """The object of a ``torch.save`` file, tensors on ``map_location`` (the CPU for the
    legacy format).

    Raises:
        Malformed, Refused: see :mod:`wham_ros.assets.file_errors`.
        zipfile.BadZipFile, OSError: a damaged or unreadable file.
    """
    device = torch.device(map_location)
    with open(path, "rb") as fh:
        is_zip = zipfile.is_zipfile(fh)
    return read_zip(path, device) if is_zip else read_legacy(path)

