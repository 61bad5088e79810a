"""Runs each crafted file through one loader in its own child process.

Usage: ``python attack_runner.py SPEC.json RESULTS.json``. SPEC holds ``cases`` (``id``,
``loader``, ``path``), ``legit`` (files that must still load afterwards), ``body_model_dir``,
``memory_bytes`` and ``timeout_s``. This process imports the loaders once, then forks a
child per case: the child limits its address space (RLIMIT_AS) to what it holds plus
``memory_bytes``, runs the loader (recording how far its resident memory rose), checks that no watched interpreter class or function
changed and that the legitimate files still load, and writes its outcome. The parent
records a signal or a timeout (the child is killed) as the outcome instead.
"""
import argparse
import collections
import copyreg
import io
import json
import os
import resource
import signal
import sys
import time
import types

import numpy as np
import torch

from wham_ros.assets import allowlist, safe_load
from wham_ros.assets.safe_load import load_pickle_file, load_torch_file
from wham_ros.body.convert import main as convert_main
from wham_ros.body.smpl import read_body_model_dir
from wham_ros.hmr2 import load_hmr2
from wham_ros.vitpose import load_vitpose
from wham_ros.wham import load_network
from wham_ros.wham.checkpoint import read_checkpoint


def _watched():
    numeric = allowlist._numpy_core_module("numeric")
    return {
        "argparse.Namespace": argparse.Namespace, "collections.Counter": collections.Counter,
        "collections.OrderedDict": collections.OrderedDict,
        "collections.defaultdict": collections.defaultdict,
        "types.SimpleNamespace": types.SimpleNamespace,
        "copyreg._reconstructor": copyreg._reconstructor, "copyreg.__newobj__": copyreg.__newobj__,
        "numpy _frombuffer": numeric._frombuffer, "numpy.ndarray": np.ndarray,
        "numpy.dtype": np.dtype, "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
        "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter,
        "Inert": allowlist.Inert, "builtins.dict": dict, "builtins.set": set,
    }


def fingerprint():
    """name -> (attribute name -> id of value, defaults) of every watched class/function."""
    out = {}
    for name, obj in _watched().items():
        attrs = {k: id(v) for k, v in vars(obj).items()} if hasattr(obj, "__dict__") else {}
        out[name] = (attrs, repr(getattr(obj, "__defaults__", None)),
                     repr(getattr(obj, "__kwdefaults__", None)))
    return out


def _convert(path):
    err = io.StringIO()
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = io.StringIO(), err
    try:
        rc = convert_main([path, path + ".out.npz"])
    finally:
        sys.stdout, sys.stderr = stdout, stderr
    if rc != 0:
        raise RuntimeError(f"convert-smpl exit {rc}: {err.getvalue().strip()}")
    return rc


def loaders(body_model_dir):
    return {
        "pickle": load_pickle_file, "torch": load_torch_file, "wham_ckpt": read_checkpoint,
        "load_network": lambda p: load_network(p, body_model_dir), "vitpose": load_vitpose,
        "hmr2": load_hmr2, "convert": _convert, "smpl_dir": read_body_model_dir,
    }


def legit_ok(legit):
    """Whether the legitimate files load and hold what they should."""
    ckpt = load_torch_file(legit["torch"])
    smpl = load_pickle_file(legit["pickle"])
    return (ckpt["hyper_parameters"]["cfg"]["TRAIN"]["LR"] == 1e-5
            and isinstance(smpl["v_template"], safe_load.Inert)
            and np.array_equal(safe_load.as_array(smpl["v_template"]), legit["v_template"]))


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def run_child(case, spec, out_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        held = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (held + spec["memory_bytes"], hard))
    before = fingerprint()
    load = loaders(spec["body_model_dir"])[case["loader"]]
    result = {"id": case["id"]}
    rss_before = _status_kb("VmRSS")     # the peak (VmHWM) of a forked child starts here
    t0 = time.perf_counter()
    try:
        value = load(case["path"])
        result.update(status="ok", type=type(value).__name__, message="")
    except BaseException as exc:  # the outcome under test: recorded, judged by the test
        result.update(status="error", type=type(exc).__name__, message=str(exc)[:2000])
    result["seconds"] = time.perf_counter() - t0
    result["peak_mb"] = (_status_kb("VmHWM") - rss_before) / 1024
    del load
    after = fingerprint()
    result["changed"] = sorted(n for n in before if before[n] != after[n])
    try:
        result["legit"] = legit_ok(spec["legit"])
    except BaseException as exc:  # a poisoned reader shows here
        result["legit"] = f"{type(exc).__name__}: {exc}"
    with open(out_path, "w") as fh:
        json.dump(result, fh)


def run_case(case, spec, out_path):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            run_child(case, spec, out_path)
        except BaseException:  # noqa: B902  the child must never return into the parent's code
            code = 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + spec["timeout_s"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"id": case["id"], "status": "timeout"}
        time.sleep(0.005)
    if os.WIFSIGNALED(status):
        return {"id": case["id"], "status": "signal", "signal": os.WTERMSIG(status)}
    try:
        with open(out_path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {"id": case["id"], "status": "no result", "exit": os.WEXITSTATUS(status)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("results")
    args = parser.parse_args()
    with open(args.spec) as fh:
        spec = json.load(fh)
    spec["legit"]["v_template"] = np.asarray(spec["legit"]["v_template"])
    torch.set_num_threads(1)
    results = []
    for i, case in enumerate(spec["cases"]):
        t0 = time.perf_counter()
        results.append(run_case(case, spec, f"{args.results}.{i}"))
        results[-1]["wall_s"] = time.perf_counter() - t0
    with open(args.results, "w") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
