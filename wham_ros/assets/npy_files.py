"""Reading ``.npy`` and ``.npz`` files with every size checked before it is allocated.

``numpy.load`` sizes its array from the header before reading (a 100-byte file can claim
8 GB) and inflates ``.npz`` members as far as they go. Here the header's shape and dtype
(plain numeric, bool, bytes or str only) must account for exactly the bytes the file (or
the zip member, whose inflated size is taken from its header and capped) holds, and only
the members asked for are read.
"""
import math
import os
import zipfile
from typing import Dict, Iterable, Optional

import numpy as np

from wham_ros.assets.allowlist import plain_dtype
from wham_ros.assets.file_errors import Malformed
from wham_ros.assets.zip_members import ZipBudget, read_exactly

MAX_NPZ_INFLATED_BYTES = 512 << 20
"""Bytes that the compressed members read from one ``.npz`` may inflate to, in total."""

_MAX_HEADER = 10_000


def _header(fh, what: str):
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                fh, max_header_size=_MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                fh, max_header_size=_MAX_HEADER)
        else:
            raise Malformed(f"{what}: unsupported .npy version {version}")
    except ValueError as exc:
        raise Malformed(f"{what}: bad .npy header ({exc})") from None
    return shape, fortran, dtype


def _read_array(fh, size: int, what: str) -> np.ndarray:
    """An array from a stream of ``size`` bytes holding one ``.npy``."""
    shape, fortran, dtype = _header(fh, what)
    try:
        dtype = plain_dtype(dtype)
    except Malformed as exc:
        raise Malformed(f"{what}: {exc}") from None
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if nbytes != size - fh.tell():
        raise Malformed(f"{what}: header says shape {shape} {dtype} ({nbytes} bytes), the "
                        f"file holds {size - fh.tell()} bytes of data")
    buf = bytearray(nbytes)
    read_exactly(fh, buf, what)
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(
        shape, order="F" if fortran else "C")


def read_npy(path: str) -> np.ndarray:
    """The array of a ``.npy`` file.

    Raises:
        Malformed: bad header, a dtype that is not plain, or a size mismatch.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as fh:
        return _read_array(fh, os.fstat(fh.fileno()).st_size, os.path.basename(path))


def read_npz(path: str, names: Optional[Iterable[str]] = None) -> Dict[str, np.ndarray]:
    """Arrays of a ``.npz`` file: ``names`` (all when None), read member by member.

    Raises:
        Malformed: a member asked for is missing, inflates beyond its header or
            :data:`MAX_NPZ_INFLATED_BYTES`, or is not a plain ``.npy``.
        OSError, zipfile.BadZipFile: the file cannot be read.
    """
    out = {}
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        budget = ZipBudget(os.fstat(fh.fileno()).st_size, MAX_NPZ_INFLATED_BYTES)
        members = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
        for name in (sorted(members) if names is None else names):
            info = members.get(name)
            if info is None:
                raise Malformed(f"no array '{name}' (found {sorted(members)[:10]})")
            budget.charge(info)
            with zf.open(info) as member:
                out[name] = _read_array(member, info.file_size,
                                        f"array '{name}'")
    return out
