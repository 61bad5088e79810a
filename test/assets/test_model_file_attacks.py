"""Attack suite: crafted model files through every loader a user's file reaches.

Each file is generated here (crafted_files.py) and read in its own child process with its
address space limited to what it holds plus 1 GiB and a timeout (attack_runner.py). Every
one must end in the loader's own error naming the file -- refused before any large
allocation (not "not enough memory"; resident memory up by at most 400 MB), within seconds
(over 20 s counts as a hang), with no signal -- leave every watched interpreter class and
function unchanged, and leave the reader able to load legitimate files afterwards.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import replicas
from crafted_files import (APPEND, BUILD, EMPTY_DICT, EMPTY_LIST, MARK, NEWOBJ, NONE, NP, POP, SETITEM,
                           STOP, B, D, G, I, L, S, T, build, call, deflated_zeros, dtype, f8_array,
                           get, legacy_torch, ndarray, npy_bytes, npz_bytes, pickle_of, put,
                           set_declared_size, tensor, torch_zip, with_member_data)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GIB = 1 << 30
PEAK_MB = 400            # resident memory a refusal may add ("well under 1 GB")
DEPTH = 200_000          # nesting of the stack-overflow files (a few hundred kB to MB)
CHAIN = 50_000           # length of the top-down chains (a bottom-up count sees depth 2)

PICKLE_LOADERS = ("pickle", "convert")
TORCH_LOADERS = ("torch", "wham_ckpt", "vitpose")
ERRORS = {
    "pickle": {"ModelFileReadError", "UnsafeModelFile"},
    "torch": {"ModelFileReadError", "UnsafeModelFile"},
    "wham_ckpt": {"CheckpointError"}, "load_network": {"CheckpointError"},
    "vitpose": {"CheckpointError"}, "hmr2": {"CheckpointError"},
    "convert": {"RuntimeError"},       # attack_runner: convert-smpl's exit 1 and its message
    "smpl_dir": {"BodyModelError"},
}
SMPL_KEEP = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table",
             "f")


def smpl_dict(**override) -> bytes:
    """A small SMPL-like dict (every array convert-smpl needs) with some entries replaced."""
    values = {k: f8_array(np.zeros((2, 2))) for k in SMPL_KEEP}
    values.update(override)
    return D(*((S(k), v) for k, v in values.items()))


def chain(n: int, make: bytes, link) -> bytes:
    """``n`` objects made by ``make``, memoized, then linked top-down (object i gets object
    i+1 after it was itself placed in object i-1): a deep chain whose depth a bottom-up
    count would miss. Returns object 0."""
    body = b"".join(make + put(i) + POP for i in range(n))
    body += b"".join(link(i) for i in range(n - 1))
    return body + get(0)


# ---------------------------------------------------------------- payloads (pickle bodies)

ARGS_F8 = (S("f8"), b"\x89", b"\x88")
F8_STATE = T(I(3), S("<"), NONE, NONE, NONE, I(-1), I(-1), I(0))


def fields(order: str, field_dtype: bytes, offset: int, size: int, flags: int) -> bytes:
    """A dtype state with one field at ``offset`` (what numpy would BUILD into a void)."""
    return T(I(3), S(order), NONE, T(S("a")), D((S("a"), T(field_dtype, I(offset)))),
             I(size), I(1), I(flags))

MARKER = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"wham_ros_attack_ran_{os.getpid()}")
"""The file the forbidden commands would create."""

PAYLOADS = {
    # heap corruption: dtype and array state only through a checked description
    "void dtype with fields": build(call(G("numpy", "dtype"), S("V16"), *ARGS_F8[1:]),
                                    fields("|", dtype("O8"), 8, 16, 0x3F)),
    "f8 dtype state with fields": build(call(G("numpy", "dtype"), *ARGS_F8),
                                        fields("<", dtype("f8"), 1 << 40, 8, 0)),
    "object dtype": dtype("O8"),
    "numpy2 dtype class": build(call(G("numpy.dtypes", "Float64DType")), F8_STATE),
    "array data shorter than shape": ndarray((1_000_000,), dtype("f8"), B(bytes(8))),
    "object array": ndarray((3,), dtype("f8"), L(NONE, NONE, NONE)),
    "array state set twice": build(ndarray((1,), dtype("f8"), B(bytes(8))),
                                   T(I(1), T(I(4)), dtype("f8"), b"\x89", B(bytes(32)))),
    "_reconstruct of a huge shape": call(G(NP, "_reconstruct"), G("numpy", "ndarray"),
                                         T(I(300_000_000)), B(b"b")),
    "state on numpy.ndarray": build(G("numpy", "ndarray"),
                                    T(I(1), T(I(1)), dtype("f8"), b"\x89", B(bytes(8)))),
    "_frombuffer size mismatch": call(G("numpy.core.numeric", "_frombuffer"), B(bytes(8)),
                                      dtype("f8"), T(I(1 << 30)), S("C")),
    # process-wide changes: BUILD on classes and functions
    "state on argparse.Namespace": build(G("argparse", "Namespace"),
                                         T(NONE, D((S("x"), I(1))))),
    "dict state on argparse.Namespace": build(G("argparse", "Namespace"), D((S("x"), I(1)))),
    "Counter.__missing__": build(G("collections", "Counter"),
                                 T(NONE, D((S("__missing__"), I(1))))),
    "copyreg._reconstructor defaults": build(G("copyreg", "_reconstructor"),
                                             T(NONE, D((S("__defaults__"), T(I(1)))))),
    "copyreg._reconstructor dict": build(G("copyreg", "_reconstructor"), D((S("x"), I(1)))),
    "numpy function defaults": build(G("numpy.core.numeric", "_frombuffer"),
                                     T(NONE, D((S("__defaults__"), T(I(1), I(2)))))),
    "placeholder class poisoned": build(G("yacs.config", "CfgNode"),
                                        T(NONE, D((S("__new__"), I(1)), (S("foreign"), S("x"))))),
    "chumpy class poisoned": build(G("chumpy.ch", "Ch"), D((S("foreign"), S("poisoned")))),
    "torch function defaults": build(G("torch._utils", "_rebuild_tensor_v2"),
                                     T(NONE, D((S("__defaults__"), T(I(1)))))),
    # crashes: nesting that overflows the C stack when freed or walked
    "nested lists": MARK * DEPTH + EMPTY_LIST + b"l" * DEPTH,
    "nested tuples": MARK * DEPTH + b")" + b"t" * DEPTH,
    "nested defaultdicts": G("collections", "defaultdict") + put(0) + POP
    + b"".join(call(get(0)) + (S("a") if i < DEPTH - 1 else b"") for i in range(DEPTH))
    + SETITEM * (DEPTH - 1),
    "lists chained top-down": chain(CHAIN, EMPTY_LIST,
                                    lambda i: get(i) + get(i + 1) + APPEND + POP),
    "placeholders chained top-down": chain(
        CHAIN // 2, G("chumpy.ch", "Ch") + b")" + NEWOBJ,
        lambda i: get(i) + D((S("x"), get(i + 1))) + BUILD + POP),
    # hangs
    "punycode encode": call(G("_codecs", "encode"),
                            S("".join(map(chr, range(0x100, 0x100 + 60_000)))), S("punycode")),
    "colliding int keys": D(*((I(k * (2 ** 61 - 1)), NONE) for k in range(1, 50_001))),
    "tuple keys (collisions can be chosen)": D(*((T(I(k), I(0)), NONE) for k in range(50_000))),
    "100k-digit int": b"I" + b"9" * 100_000 + b"\n",
    "10 MB LONG4": b"\x8b" + (10 << 20).to_bytes(4, "little") + bytes(16),
    # memory from tiny files
    "bytearray(3e9)": call(G("builtins", "bytearray"), I(3_000_000_000)),
    "bytes(3e9)": call(G("builtins", "bytes"), I(3_000_000_000)),
    "object array of 3e8 elements": ndarray((300_000_000,), dtype("O8"), L()),
    "copies of a 100k-item list": L(*[NONE] * 100_000) + put(1) + POP
    + L(*[call(G("builtins", "list"), get(1))] * 100),
    "copies of a 1 MB string": B(bytes(1 << 20)) + put(1) + POP
    + L(*[call(G("builtins", "bytearray"), get(1))] * 2000),
    "600k empty dicts": EMPTY_LIST + MARK + EMPTY_DICT * 600_000 + b"e",
    "a million MARKs": MARK * 1_000_000,
    "3 GB string in a tiny file": b"\x8d" + (3 << 30).to_bytes(8, "little") + b"abc",
    # untidy errors
    "namespace with int attribute names": build(G("argparse", "Namespace") + b")" + NEWOBJ,
                                                D((I(1), I(2)))),
    # forbidden globals run nothing (the command would create the marker file)
    "os.system": call(G("posix", "system"), S(f"touch {MARKER}")),
    "os.system by INST": MARK + S(f"touch {MARKER}") + b"ios\nsystem\n",
    "os.system by OBJ": MARK + G("os", "system") + S(f"touch {MARKER}") + b"o",
    "os.system by STACK_GLOBAL": call(S("os") + S("system") + b"\x93", S(f"touch {MARKER}")),
    "builtins.getattr": call(G("builtins", "getattr"), G("os", "path"), S("join")),
    "builtins.eval": call(G("__builtin__", "eval"),
                          S(f"__import__('os').system('touch {MARKER}')")),
    "copyreg extension": b"\x82\x01",
    "value-only global called": call(G("numpy", "ndarray"), T(I(3))),
    "reconstructor with an int base": call(G("copyreg", "_reconstructor"), G("chumpy.ch", "Ch"),
                                           G("builtins", "int"), I(5)),
    "new object of builtins.object": G("builtins", "object") + b")" + NEWOBJ,
}
EVERY_LOADER = {"void dtype with fields", "state on argparse.Namespace", "nested lists",
                "punycode encode", "bytearray(3e9)", "os.system"}
"""Payloads also sent through the loaders that share their reading with the others (HMR2.0
with ViTPose, load_network with read_checkpoint, the body-model folder's pickle fallback
with convert-smpl)."""

HEAVY = {"nested defaultdicts", "lists chained top-down", "placeholders chained top-down"}
"""Payloads of a million opcodes: read through the reader's entry points only (the loaders'
own checks come after the reader, which the light payloads cover)."""

OK_PAYLOADS = {
    # must load (nothing to refuse) without allocating what the index says
    "memo index 2**32-1": NONE + b"r\xff\xff\xff\xff",
}


def _torch_wrapped(body: bytes) -> bytes:
    return pickle_of(D((S("model"), body), (S("state_dict"), D())))


def _cases_from_payloads(folder: Path):
    cases = []
    for i, (name, body) in enumerate(PAYLOADS.items()):
        pkl = folder / f"p{i}.pkl"
        pkl.write_bytes(pickle_of(D((S("v_template"), body))))
        zipped = folder / f"p{i}.pth"
        zipped.write_bytes(torch_zip(_torch_wrapped(body)))
        legacy = folder / f"p{i}.legacy.pth"
        legacy.write_bytes(legacy_torch(D((S("model"), body))))
        heavy = name in HEAVY
        cases += [(f"{name} [pickle via {ld}]", ld, pkl) for ld in PICKLE_LOADERS[:1 if heavy else 2]]
        cases += [(f"{name} [torch zip via {ld}]", ld, zipped) for ld in TORCH_LOADERS[:1 if heavy else 3]]
        if not heavy:
            cases.append((f"{name} [legacy torch]", "torch", legacy))
        if name in EVERY_LOADER:
            cases += [(f"{name} [torch zip via {ld}]", ld, zipped) for ld in ("hmr2", "load_network")]
            body_dir = folder / f"p{i}_body"
            (body_dir / "smpl").mkdir(parents=True)
            (body_dir / "smpl" / "SMPL_NEUTRAL.pkl").write_bytes(pkl.read_bytes())
            cases.append((f"{name} [pickle in a body-model folder]", "smpl_dir", body_dir))
    return cases


def _torch_cases(folder: Path):
    """Storage, tensor and zip attacks."""
    def write(name, data):
        path = folder / name
        path.write_bytes(data)
        return path

    one = np.float32(1).tobytes()
    model = lambda t: pickle_of(D((S("model"), D((S("w"), t))), (S("state_dict"), D((S("w"), t)))))  # noqa: E731
    big = torch_zip(model(tensor("0", 1, (1,), (1,))), {"0": one}, deflate=("data/0",))
    files = {
        "storage of 3 GB declared, 4 bytes held": write("s1.pth", torch_zip(
            model(tensor("0", 750_000_000, (750_000_000,), (1,))), {"0": one})),
        "deflated storage declaring 3 GB": write("s2.pth", set_declared_size(
            torch_zip(model(tensor("0", 750_000_000, (750_000_000,), (1,))), {"0": one},
                      deflate=("data/0",)), "archive/data/0", 3_000_000_000)),
        "deflated storage inflating past its header": write("s3.pth", with_member_data(
            big, "archive/data/0", deflated_zeros(64 << 20))),
        "deflated data.pkl declaring 3 GB": write("s4.pth", set_declared_size(
            torch_zip(model(NONE), deflate=("data.pkl",)), "archive/data.pkl", 3_000_000_000)),
        "tensor past its storage": write("s5.pth", torch_zip(
            model(tensor("0", 1, (10,), (1,))), {"0": one})),
        "broadcast tensor of 1e12 elements": write("s6.pth", torch_zip(
            model(tensor("0", 1, (10 ** 12,), (0,))), {"0": one})),
        "tensor strides past int64": write("s11.pth", torch_zip(
            model(tensor("0", 1, (0, 2 ** 70), (1, 2 ** 70))), {"0": one})),
        "tensor with a negative stride": write("s7.pth", torch_zip(
            model(tensor("0", 4, (2,), (-1,), offset=3)), {"0": one * 4})),
        "storage of a dtype torch does not save": write("s8.pth", torch_zip(
            model(tensor("0", 1, (1,), (1,), storage="QInt8Storage")), {"0": b"\0"})),
        "legacy tar format": write("s10.pth", bytes(257) + b"ustar" + bytes(1000)),
    }
    # the legacy persistent id has a sixth entry (view metadata)
    legacy_pid = T(S("storage"), G("torch", "FloatStorage"), S("0"), S("cpu"), I(1 << 30), NONE) + b"Q"
    files["legacy storage of 4 GB in a tiny file"] = write("s9.pth", legacy_torch(
        D((S("model"), call(G("torch._utils", "_rebuild_tensor_v2"), legacy_pid, I(0), T(I(1)),
                            T(I(1)), b"\x89", call(G("collections", "OrderedDict"))))), keys=["0"]))
    cases = []
    for name, path in files.items():
        cases += [(f"{name} [via {ld}]", ld, path) for ld in TORCH_LOADERS]
    return cases


def _structure_cases(folder: Path, smpl_npz_members):
    """Files the reader accepts but the loaders must refuse by their structure."""
    def write(name, data):
        path = folder / name
        path.write_bytes(data)
        return path

    ch = G("chumpy.ch", "Ch") + b")" + NEWOBJ
    csc = G("scipy.sparse.csc", "csc_matrix") + b")" + NEWOBJ
    int_array = lambda v: ndarray((len(v),), dtype("i8"), B(np.asarray(v, "<i8").tobytes()))  # noqa: E731
    cases = [
        ("chumpy Ch whose state holds itself [convert]", "convert", write("u1.pkl", pickle_of(
            smpl_dict(v_template=ch + put(7) + D((S("x"), get(7))) + BUILD)))),
        ("sparse regressor of shape (1, 2e8) [convert]", "convert", write("u2.pkl", pickle_of(
            smpl_dict(J_regressor=build(csc, D((S("_shape"), T(I(1), I(200_000_000))),
                                               (S("data"), f8_array([])), (S("indices"), int_array([])),
                                               (S("indptr"), int_array([0, 0])))))))),
        ("SMPL pickle holding a list [convert]", "convert", write("u3.pkl", pickle_of(L(I(1))))),
        ("SMPL arrays of bytes strings [convert]", "convert", write("u4.pkl", pickle_of(
            smpl_dict(v_template=ndarray((2,), dtype("S3", "|"), B(b"abcdef")))))),
        ("mixed keys at the top [wham]", "wham_ckpt", write("u5.pth", torch_zip(
            pickle_of(D((I(1), I(2)), (S("a"), I(3))))))),
        ("int keys in the model [wham]", "wham_ckpt", write("u6.pth", torch_zip(
            pickle_of(D((S("model"), D((I(1), I(2))))))))),
        ("int keys in the model [load_network]", "load_network", folder / "u6.pth"),
        ("mixed keys in the state dict [vitpose]", "vitpose", write("u7.pth", torch_zip(
            pickle_of(D((S("state_dict"), D((I(1), I(2)), (S("w"), I(3))))))))),
        ("state dict of placeholders [hmr2]", "hmr2", write("u8.pth", torch_zip(
            pickle_of(D((S("state_dict"), D((S("backbone.w"), ch)))))))),
        ("state dict that is a list [vitpose]", "vitpose", write("u9.pth", torch_zip(
            pickle_of(D((S("state_dict"), L(I(1), I(2)))))))),
        ("byte-string array as a weight [vitpose]", "vitpose", write("u10.pth", torch_zip(
            pickle_of(D((S("state_dict"), D((S("w"), ndarray((1,), dtype("S3", "|"), B(b"abc")))))))))),
    ]
    for name, members, deflate, declared in (
            ("needed npz member declaring 3 GB", {}, ("shapedirs",), ("shapedirs.npy", 3_000_000_000)),
            ("npz header claiming 1e9 vertices", {"v_template": npy_bytes(
                np.zeros((2, 3), np.float32), header_shape=(10 ** 9, 3))}, (), None),
            ("npz member of object dtype", {"f": npy_bytes(np.zeros(3, np.int64), descr="|O")}, (), None),
            ("npz member deflating past its header", {}, ("v_template",), None)):
        body_dir = folder / name.replace(" ", "_")
        (body_dir / "smpl").mkdir(parents=True)
        data = npz_bytes(dict(smpl_npz_members, **members), deflate)
        if declared:
            data = set_declared_size(data, *declared)
        if name.startswith("npz member deflating"):
            data = with_member_data(data, "v_template.npy", deflated_zeros(64 << 20))
        (body_dir / "smpl" / "SMPL_NEUTRAL.npz").write_bytes(data)
        for reg, rows in (("J_regressor_wham", 31), ("J_regressor_feet", 4)):
            (body_dir / f"{reg}.npy").write_bytes(npy_bytes(np.zeros((rows, 6890), np.float32)))
        cases.append((f"{name} [smpl_dir]", "smpl_dir", body_dir))
    return cases


def _ok_cases(folder: Path, smpl_npz_members):
    cases = []
    for i, (name, body) in enumerate(OK_PAYLOADS.items()):
        path = folder / f"ok{i}.pkl"
        path.write_bytes(pickle_of(body))
        cases.append((f"{name} [pickle]", "pickle", path))
    body_dir = folder / "extra_member_bomb"
    (body_dir / "smpl").mkdir(parents=True)
    data = npz_bytes(dict(smpl_npz_members, junk=npy_bytes(np.zeros(4, np.uint8))), ("junk",))
    (body_dir / "smpl" / "SMPL_NEUTRAL.npz").write_bytes(
        set_declared_size(data, "junk.npy", 3_000_000_000))
    for reg, rows in (("J_regressor_wham", 31), ("J_regressor_feet", 4)):
        (body_dir / f"{reg}.npy").write_bytes(npy_bytes(np.zeros((rows, 6890), np.float32)))
    cases.append(("extra npz member declaring 3 GB (never read) [smpl_dir]", "smpl_dir", body_dir))
    return cases


@pytest.fixture(scope="module")
def attack_results(tmp_path_factory, body_model_dir, smpl_arrays):
    folder = tmp_path_factory.mktemp("attacks")
    marker = Path(MARKER)
    if marker.exists():
        marker.unlink()
    small = {"v_template": np.arange(12.0).reshape(4, 3), "shapedirs": np.ones((4, 3, 2)),
             "posedirs": np.ones((4, 3, 5)), "J_regressor": np.eye(2, 4), "weights": np.ones((4, 2)),
             "kintree_table": np.zeros((2, 2), np.int64), "f": np.zeros((1, 3), np.int64)}
    legit = {"torch": str(replicas.write_lightning_checkpoint(
                 folder / "legit.ckpt", {"w": torch.arange(3.0)}, "yacs")),
             "pickle": str(replicas.write_mpi_smpl_pickle(folder / "legit.pkl", small)),
             "v_template": small["v_template"].tolist()}
    smpl_npz_members = {k: npy_bytes(np.asarray(v, np.float32 if k not in ("f", "kintree_table")
                                                else np.int64)) for k, v in smpl_arrays.items()
                        if k in SMPL_KEEP}
    cases = (_cases_from_payloads(folder) + _torch_cases(folder)
             + _structure_cases(folder, smpl_npz_members))
    expected = {c[0]: "error" for c in cases}
    ok = _ok_cases(folder, smpl_npz_members)
    expected.update({c[0]: "ok" for c in ok})
    spec = {"cases": [{"id": i, "loader": ld, "path": str(p)} for i, ld, p in cases + ok],
            "legit": legit, "body_model_dir": body_model_dir, "memory_bytes": GIB,
            "timeout_s": 120}
    (folder / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
           "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(HERE / "attack_runner.py"), str(folder / "spec.json"),
                    str(folder / "results.json")], env=env, check=True, timeout=1800)
    results = json.loads((folder / "results.json").read_text())
    return {r["id"]: r for r in results}, expected, {c[0]: (c[1], str(c[2])) for c in cases + ok}, marker


def _problems(result, expect, loader, path):
    if result.get("status") != expect:
        return [f"{result.get('status')} ({result.get('type')}: {result.get('message', '')[:300]}"
                f"{', signal %s' % result['signal'] if 'signal' in result else ''})"]
    out = []
    if expect == "error":
        if result["type"] not in ERRORS[loader]:
            out.append(f"escaped as {result['type']}: {result['message'][:300]}")
        if path not in result["message"]:
            out.append(f"message does not name the file: {result['message'][:300]}")
        if "not enough memory" in result["message"] or "MemoryError" in result["message"]:
            out.append(f"allocated before checking: {result['message'][:300]}")
    if result["peak_mb"] > PEAK_MB:
        out.append(f"resident memory rose by {result['peak_mb']:.0f} MB")
    if result["seconds"] > 20:           # a hang; the heavy files take ~5 s on a busy CI machine
        out.append(f"took {result['seconds']:.1f} s")
    if result["changed"]:
        out.append(f"changed {result['changed']}")
    if result["legit"] is not True:
        out.append(f"legitimate files no longer load: {result['legit']}")
    return out


def test_every_crafted_file_is_refused_cleanly(attack_results):
    results, expected, where, marker = attack_results
    failures = {}
    for case, expect in expected.items():
        loader, path = where[case]
        problems = _problems(results[case], expect, loader, path)
        if problems:
            failures[case] = problems
    assert not failures, json.dumps(failures, indent=1)
    assert len(results) > 150
    worst = max(results.values(), key=lambda r: r["peak_mb"])
    slowest = max(results.values(), key=lambda r: r["seconds"])
    print(f"{len(results)} files; largest rise {worst['peak_mb']:.0f} MB ({worst['id']}); "
          f"slowest {slowest['seconds']:.1f} s ({slowest['id']})")
    assert not marker.exists()


def test_refusals_name_the_rule(attack_results):
    """Spot checks that each class of attack is refused for its own reason."""
    results, _, _, _ = attack_results
    reasons = {
        "void dtype with fields [pickle via pickle]": "not a plain numeric",
        "array data shorter than shape [pickle via pickle]": "needs 8000000 bytes",
        "state on argparse.Namespace [torch zip via torch]": "only objects the reader created",
        "Counter.__missing__ [legacy torch]": "only objects the reader created",
        "nested lists [pickle via pickle]": "nesting deeper than",
        "lists chained top-down [torch zip via torch]": "nesting deeper than",
        "placeholders chained top-down [pickle via pickle]": "nesting deeper than",
        "punycode encode [pickle via pickle]": "only latin-1",
        "tuple keys (collisions can be chosen) [pickle via pickle]": "dict key or set element",
        "bytearray(3e9) [pickle via pickle]": "bytearray argument must be",
        "copies of a 100k-item list [pickle via pickle]": "values (a memory bomb?)",
        "600k empty dicts [torch zip via torch]": "values (a memory bomb?)",
        "a million MARKs [pickle via pickle]": "values (a memory bomb?)",
        "copies of a 1 MB string [torch zip via torch]": "copied beyond twice the file's size",
        "deflated storage declaring 3 GB [via torch]": "inflate to more than",
        "deflated storage inflating past its header [via torch]": "Bad CRC",
        "broadcast tensor of 1e12 elements [via torch]": "reaches outside its storage",
        "legacy storage of 4 GB in a tiny file [via torch]": "storages larger than the file",
        "sparse regressor of shape (1, 2e8) [convert]": "too big to densify",
        "chumpy Ch whose state holds itself [convert]": "without an array",
        "needed npz member declaring 3 GB [smpl_dir]": "a zip bomb",
        "npz header claiming 1e9 vertices [smpl_dir]": "header says shape",
        "os.system [pickle via pickle]": "refusing to load posix.system",
        "os.system by INST [torch zip via torch]": "refusing to load os.system",
    }
    wrong = {case: results[case].get("message") for case, text in reasons.items()
             if text not in results[case].get("message", "")}
    assert not wrong, json.dumps(wrong, indent=1)


def test_attack_pickles_are_what_they_claim():
    """The assembler's pickles are valid pickles: Python's own reader decodes the harmless
    ones to the intended objects (so a refusal above is the reader's, not a typo's)."""
    import pickle

    assert pickle.loads(pickle_of(D((S("a"), L(I(1), I(2 ** 40))), (I(3), T(NONE))))) == \
        {"a": [1, 2 ** 40], 3: (None,)}
    depth = pickle.loads(pickle_of(MARK * 50 + EMPTY_LIST + b"l" * 50))
    for _ in range(50):
        depth = depth[0] if depth else depth
    assert depth == []
    array = pickle.loads(pickle_of(f8_array([[1.5, 2.0]])))
    assert array.dtype == np.float64 and array.tolist() == [[1.5, 2.0]]
    assert pickle.loads(pickle_of(chain(5, EMPTY_LIST, lambda i: get(i) + get(i + 1) + APPEND + POP))) \
        == [[[[[]]]]]
    assert STOP == b"." and B(b"x") == b"B\x01\x00\x00\x00x"
