"""The safe reader reads what Python's pickle, numpy and torch write, exactly: every pickle
protocol, every plain dtype and byte order, torch's zip and legacy formats (shared storages,
views, parameters, big-endian files) and ``.npz``."""
import argparse
import collections
import io
import pickle
import types
import zipfile

import numpy as np
import pytest
import torch

import replicas
from wham_ros.assets.safe_load import (ModelFileReadError, load_npy_file, load_npz_file,
                                       load_pickle_file, load_torch_file)

PLAIN = {
    "scalars": [0, 1, -5, 255, 65536, 2 ** 31, -2 ** 63, 10 ** 30, 2.5, -0.0, True, False, None,
                complex(1, -2)],
    "text": ["", "a", "ü€\U0001F600", "x" * 70_000],
    "bytes": [b"", b"\x00\xff" * 3, bytes(range(256)) * 300, bytearray(b"ab")],
    "nested": (1, (2, (3,)), [[], {}], {"s": {"x", "y"}, "f": frozenset({1, 2})}),
    "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
    "default": collections.defaultdict(list, {"k": [1]}),
    "counter": collections.Counter("aab"),
    1: "int key",
}
ARRAYS = [np.arange(6, dtype=t).reshape(2, 3) for t in
          ("f2", "<f4", ">f4", "f8", ">f8", "i1", "i2", ">i4", "i8", "u1", "u2", "u4", "u8",
           "c8", ">c16")]
ARRAYS += [np.array([True, False]), np.array([b"ab", b"cde"]), np.array(["x", "yz"]),
           np.array(3.5), np.zeros((0, 4)), np.asfortranarray(np.arange(12.0).reshape(3, 4)),
           np.random.default_rng(0).normal(size=(300, 100))]     # 240 kB: the raw-data path


def _read_pickle(tmp_path, data: bytes):
    path = tmp_path / "x.pkl"
    path.write_bytes(data)
    return load_pickle_file(path)


@pytest.mark.parametrize("protocol", range(6))
def test_plain_data_every_protocol(tmp_path, protocol):
    obj = dict(PLAIN, ns=types.SimpleNamespace(a=1), args=argparse.Namespace(b=[2]))
    loaded = _read_pickle(tmp_path, pickle.dumps(obj, protocol=protocol))
    assert loaded == pickle.loads(pickle.dumps(obj, protocol=protocol))
    for key in ("ordered", "default", "counter"):
        assert type(loaded[key]) is type(obj[key])
    assert loaded["default"].default_factory is list
    assert type(loaded["bytes"][3]) is bytearray


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_numpy_arrays_and_scalars_every_protocol(tmp_path, protocol):
    obj = {"arrays": ARRAYS, "scalars": [np.float64(45.873), np.float32(0.5), np.int64(-3),
                                         np.bool_(True), np.uint8(7)], "dtypes": [a.dtype for a in ARRAYS]}
    loaded = _read_pickle(tmp_path, pickle.dumps(obj, protocol=protocol))
    for got, want in zip(loaded["arrays"], ARRAYS):
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
        assert got.flags.writeable
    for got, want in zip(loaded["scalars"], obj["scalars"]):
        assert type(got) is type(want) and got == want
    assert loaded["dtypes"] == obj["dtypes"]


@pytest.mark.parametrize("protocol", [0, 2])
def test_python2_numpy1_arrays(tmp_path, protocol):
    """Python-2 strings (latin-1) as array data, numpy 1 names, Python 2 dtype arguments."""
    data = replicas.pickle_bytes({"a": ARRAYS, "s": "caf\xe9"}, protocol=protocol, py2=True)
    loaded = _read_pickle(tmp_path, data)
    assert loaded["s"] == "caf\xe9"
    for got, want in zip(loaded["a"], ARRAYS):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def _torch_objects():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    return {"base": base, "row": base[1], "cols": base[:, 2:4], "t": base.t(),
            "param": torch.nn.Parameter(torch.ones(3)), "frozen": torch.nn.Parameter(
                torch.zeros(2), requires_grad=False),
            "kinds": [torch.tensor([1.5], dtype=d) for d in (
                torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.int32,
                torch.int64, torch.uint8, torch.bool, torch.complex64)],
            "empty": torch.zeros(0, 3), "scalar": torch.tensor(7), "size": torch.Size([2, 3]),
            "dtype": torch.float16, "device": torch.device("cpu"), "np": np.float64(1.25)}


def _check_torch(loaded, obj):
    for key in ("base", "row", "cols", "t", "empty", "scalar"):
        assert torch.equal(loaded[key], obj[key]) and loaded[key].stride() == obj[key].stride()
    assert loaded["row"].untyped_storage().data_ptr() == loaded["base"].untyped_storage().data_ptr()
    assert type(loaded["param"]) is torch.nn.Parameter and loaded["param"].requires_grad
    assert not loaded["frozen"].requires_grad
    for got, want in zip(loaded["kinds"], obj["kinds"]):
        assert got.dtype == want.dtype and torch.equal(got, want)
    assert loaded["size"] == obj["size"] and loaded["dtype"] is torch.float16
    assert loaded["device"] == torch.device("cpu") and loaded["np"] == np.float64(1.25)


@pytest.mark.parametrize("zip_format", [True, False])
def test_torch_files(tmp_path, zip_format):
    obj = _torch_objects()
    path = tmp_path / "t.pth"
    torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    _check_torch(load_torch_file(path), obj)


def test_big_endian_torch_zip(tmp_path):
    """A file written on a big-endian machine: its storages are byte-swapped on reading."""
    kinds = _torch_objects()["kinds"] + [torch.arange(5.0)]
    path = tmp_path / "t.pth"
    torch.save({"kinds": kinds}, path)          # storage keys 0, 1, ... in this order
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in info.filename:
                tensor = kinds[int(info.filename.rsplit("/", 1)[1])]
                unit = tensor.element_size() // (2 if tensor.is_complex() else 1)
                if unit > 1:
                    data = np.frombuffer(data, f"<u{unit}").byteswap().tobytes()
            dst.writestr(info, data)
    big = tmp_path / "big.pth"
    big.write_bytes(buf.getvalue())
    for got, want in zip(load_torch_file(big)["kinds"], kinds):
        assert got.dtype == want.dtype and torch.equal(got, want)


def test_npz_and_npy(tmp_path):
    arrays = {f"a{i}": a for i, a in enumerate(ARRAYS)}
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{save.__name__}.npz"
        save(path, **arrays)
        loaded = load_npz_file(path)
        assert sorted(loaded) == sorted(arrays)
        for name, want in arrays.items():
            assert loaded[name].dtype == want.dtype and np.array_equal(loaded[name], want)
        assert sorted(load_npz_file(path, ["a1", "a3"])) == ["a1", "a3"]
        with pytest.raises(ModelFileReadError, match="no array 'zz'"):
            load_npz_file(path, ["zz"])
    np.save(tmp_path / "x.npy", ARRAYS[5])
    assert np.array_equal(load_npy_file(tmp_path / "x.npy"), ARRAYS[5])
    np.save(tmp_path / "o.npy", np.array([1, None], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileReadError, match="plain dtype"):
        load_npy_file(tmp_path / "o.npy")


def test_placeholders_are_made_per_file(tmp_path, smpl_arrays):
    """Two reads of one file share no placeholder class, so nothing done to one reaches the
    other; placeholders are still :class:`Inert` and name their foreign class."""
    from wham_ros.assets.safe_load import Inert

    path = replicas.write_mpi_smpl_pickle(tmp_path / "m.pkl", smpl_arrays)
    first, second = load_pickle_file(path), load_pickle_file(path)
    assert type(first["v_template"]) is not type(second["v_template"])
    assert isinstance(first["v_template"], Inert) and first["weights"].foreign == "chumpy.ch.Ch"
    assert type(first["v_template"]) is type(first["weights"])      # one class per file
