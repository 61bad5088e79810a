"""Crafted model files, assembled opcode by opcode the way an attacker would.

Every file of the attack suite is generated here from readable parts (no stored blobs):
pickles from a small opcode assembler, torch files as the zip (``<folder>/data.pkl`` +
``<folder>/data/<key>``) or legacy layout ``torch.save`` writes, ``.npz``/``.npy`` with
headers that lie about their sizes.
"""
import io
import struct
import zipfile
import zlib

import numpy as np

# ---------------------------------------------------------------- pickle assembler

PROTO2 = b"\x80\x02"
NONE, TRUE, FALSE = b"N", b"\x88", b"\x89"
MARK, STOP, POP, REDUCE, BUILD = b"(", b".", b"0", b"R", b"b"
EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE = b"}", b"]", b")"
APPEND, SETITEM, SETITEMS, NEWOBJ = b"a", b"s", b"u", b"\x81"


def G(module: str, name: str) -> bytes:
    """GLOBAL module.name."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def S(text: str) -> bytes:
    """A str (BINUNICODE)."""
    raw = text.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(raw)) + raw


def B(data: bytes) -> bytes:
    """A bytes object (BINBYTES)."""
    return b"B" + struct.pack("<I", len(data)) + data


def I(n: int) -> bytes:
    """An int (BININT or LONG1)."""
    if -2 ** 31 <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def T(*items: bytes) -> bytes:
    """A tuple of the items."""
    return MARK + b"".join(items) + b"t"


def D(*pairs) -> bytes:
    """A dict of (key bytes, value bytes) pairs."""
    return EMPTY_DICT + (MARK + b"".join(k + v for k, v in pairs) + SETITEMS if pairs else b"")


def L(*items: bytes) -> bytes:
    """A list of the items."""
    return EMPTY_LIST + (MARK + b"".join(items) + b"e" if items else b"")


def call(func: bytes, *args: bytes) -> bytes:
    """REDUCE: func(*args)."""
    return func + T(*args) + REDUCE


def build(obj: bytes, state: bytes) -> bytes:
    """BUILD: state set on obj."""
    return obj + state + BUILD


def put(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)


def get(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def pickle_of(body: bytes) -> bytes:
    """A protocol-2 pickle of one object."""
    return PROTO2 + body + STOP


NP = "numpy.core.multiarray"


def dtype(code: str, order: str = "<") -> bytes:
    """numpy.dtype(code) with its state, as numpy 1 pickles it."""
    return build(call(G("numpy", "dtype"), S(code), FALSE, TRUE),
                 T(I(3), S(order), NONE, NONE, NONE, I(-1), I(-1), I(0)))


def ndarray(shape, dtype_bytes: bytes, data: bytes) -> bytes:
    """_reconstruct(ndarray, (0,), b'b') with state (1, shape, dtype, False, data)."""
    return build(call(G(NP, "_reconstruct"), G("numpy", "ndarray"), T(I(0)), B(b"b")),
                 T(I(1), T(*(I(n) for n in shape)), dtype_bytes, FALSE, data))


def f8_array(values) -> bytes:
    a = np.asarray(values, "<f8")
    return ndarray(a.shape, dtype("f8"), B(a.tobytes()))


def tensor(key: str, numel: int, size, stride, offset: int = 0, storage: str = "FloatStorage"):
    """torch._utils._rebuild_tensor_v2 over the persistent storage ``key``."""
    pid = T(S("storage"), G("torch", storage), S(key), S("cpu"), I(numel)) + b"Q"
    return call(G("torch._utils", "_rebuild_tensor_v2"), pid, I(offset), T(*map(I, size)),
                T(*map(I, stride)), FALSE, call(G("collections", "OrderedDict")))


# ---------------------------------------------------------------- containers

def torch_zip(data_pkl: bytes, storages=None, deflate=()) -> bytes:
    """A torch zip file: ``archive/data.pkl``, ``archive/byteorder``, ``archive/data/<key>``;
    members named in ``deflate`` are compressed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        def add(name, raw):
            method = zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED
            zf.writestr(f"archive/{name}", raw, compress_type=method)
        add("data.pkl", data_pkl)
        add("byteorder", b"little")
        for key, raw in (storages or {}).items():
            add(f"data/{key}", raw)
        add("version", b"3\n")
    return buf.getvalue()


def legacy_torch(body: bytes, keys=(), storages=b"") -> bytes:
    """torch's legacy (non-zip) layout around one object pickle."""
    sys_info = D((S("protocol_version"), I(1001)), (S("little_endian"), TRUE),
                 (S("type_sizes"), D()))
    return (pickle_of(I(0x1950A86A20F9469CFC6C)) + pickle_of(I(1001)) + pickle_of(sys_info)
            + pickle_of(body) + pickle_of(L(*(S(k) for k in keys))) + storages)


def set_declared_size(archive: bytes, member: str, size: int) -> bytes:
    """The zip with ``member``'s uncompressed size in both headers replaced by ``size``."""
    out = bytearray(archive)
    name = member.encode()
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while True:
            start = out.find(sig, start)
            if start < 0:
                break
            name_at = start + (30 if sig == b"PK\x03\x04" else 46)
            if out[name_at:name_at + len(name)] == name:
                out[start + offset:start + offset + 4] = struct.pack("<I", size)
            start += 4
    return bytes(out)


def deflated_zeros(n_bytes: int) -> bytes:
    """A raw deflate stream that inflates to ``n_bytes`` zeros."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    out = [comp.compress(chunk) for _ in range(n_bytes >> 20)]
    return b"".join(out) + comp.flush()


def with_member_data(archive: bytes, member: str, raw_deflate: bytes) -> bytes:
    """A zip whose deflated ``member`` holds ``raw_deflate`` (sizes as written before: the
    stream inflates to more than the header says)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        infos = {i.filename: (i, zf.read(i)) for i in zf.infolist()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, (info, data) in infos.items():
            if name == member:
                info.compress_type = zipfile.ZIP_STORED       # write the stream as is ...
                zf.writestr(info, raw_deflate)
            else:
                zf.writestr(info, data)
    out = bytearray(buf.getvalue())
    for sig, method_at, name_at in ((b"PK\x03\x04", 8, 30), (b"PK\x01\x02", 10, 46)):
        start = out.find(sig)
        while start >= 0:                                     # ... then mark it deflated
            if out[start + name_at:start + name_at + len(member)] == member.encode():
                out[start + method_at:start + method_at + 2] = struct.pack("<H", 8)
                out[start + method_at + 14:start + method_at + 18] = struct.pack("<I", 4)
            start = out.find(sig, start + 4)
    return bytes(out)


def npy_bytes(array: np.ndarray, header_shape=None, descr=None) -> bytes:
    """A ``.npy`` of ``array``; the header may claim another shape or dtype."""
    header = {"descr": descr or np.lib.format.dtype_to_descr(array.dtype),
              "fortran_order": False,
              "shape": tuple(array.shape if header_shape is None else header_shape)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + array.tobytes()


def npz_bytes(members: dict, deflate=()) -> bytes:
    """A ``.npz`` from name -> .npy bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, raw in members.items():
            zf.writestr(name + ".npy", raw, compress_type=zipfile.ZIP_DEFLATED
                        if name in deflate else zipfile.ZIP_STORED)
    return buf.getvalue()
