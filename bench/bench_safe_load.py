"""Speed of the safe model-file reader on real-size replicas of the official files.

Writes replicas (test/assets/replicas.py: the official layouts, synthetic values, real
shapes) into a temporary folder, then times ``load_torch_file`` / ``load_pickle_file``
(best of ``--repeat``, file in the page cache) and prints a table.

Run: ``.venv/bin/python bench/bench_safe_load.py [--frontend] [--json]``.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _replicas():
    sys.path.insert(0, str(ROOT / "test" / "assets"))
    import replicas

    return replicas


def write_replicas(folder: str, frontend: bool):
    """name -> (path, kind) of the real-size replicas written into ``folder``."""
    from wham_ros.testing.synthetic_frontend import synthetic_tensor
    from wham_ros.testing.synthetic_wham import (learned_shapes_from_keys_json,
                                                 smpl_checkpoint_entries, synthetic_smpl_arrays,
                                                 wham_state_dict)

    replicas = _replicas()
    smpl = synthetic_smpl_arrays()
    smpl_300 = dict(smpl, shapedirs=np.random.default_rng(0).normal(
        0, 1e-3, (6890, 3, 300)).astype(np.float32))
    keys = ROOT / "test" / "data" / "wham_parity" / "keys.json"
    model = {k: torch.from_numpy(v) for k, v in
             wham_state_dict(learned_shapes_from_keys_json(str(keys))).items()}
    model.update({k: torch.from_numpy(v) for k, v in smpl_checkpoint_entries(smpl).items()})
    out = {
        "WHAM trainer .pth.tar": (replicas.write_wham_trainer_checkpoint(
            Path(folder) / "wham.pth.tar", model), "torch"),
        "SMPL v1.0.0 py2 .pkl": (replicas.write_mpi_smpl_pickle(
            Path(folder) / "smpl10.pkl", smpl), "pickle"),
        "SMPL v1.1.0 py2 .pkl (300 betas)": (replicas.write_mpi_smpl_pickle(
            Path(folder) / "smpl300.pkl", smpl_300), "pickle"),
        "SMPL clean_ch protocol 0 .pkl": (replicas.write_clean_ch_pickle(
            Path(folder) / "clean.pkl", smpl), "pickle"),
    }
    if frontend:
        spec = json.loads((ROOT / "test" / "data" / "frontend_parity" / "keys_vitpose.json")
                          .read_text())["state_dict"]
        state = {n: torch.from_numpy(synthetic_tensor(n, i["shape"])) for n, i in spec.items()}
        out["ViTPose-H mmcv .pth"] = (replicas.write_mmcv_checkpoint(
            Path(folder) / "vitpose.pth", state), "torch")
    return out


def _reader(reader_file):
    """The module whose ``load_torch_file``/``load_pickle_file`` are timed."""
    if not reader_file:
        from wham_ros.assets import safe_load

        return safe_load
    import importlib.util

    spec = importlib.util.spec_from_file_location("reader_under_test", reader_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_reads(files, repeat: int, reader_file=None):
    """name -> {"mb": file size, "s": best read time}."""
    reader = _reader(reader_file)
    load_pickle_file, load_torch_file = reader.load_pickle_file, reader.load_torch_file

    rows = {}
    for name, (path, kind) in files.items():
        read = load_torch_file if kind == "torch" else load_pickle_file
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            obj = read(path)
            best = min(best, time.perf_counter() - t0)
            del obj
        rows[name] = {"mb": os.path.getsize(path) / 1e6, "s": best}
    return rows


def main(argv=None):
    """Write the replicas, time the reader, print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="reads per file (best is kept)")
    parser.add_argument("--frontend", action="store_true",
                        help="also ViTPose-H at real size (2.5 GB file, ~6 GB of memory)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--reader", metavar="FILE",
                        help="time the reader defined in FILE (e.g. an older safe_load.py)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        rows = time_reads(write_replicas(folder, args.frontend), args.repeat, args.reader)
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| file | size (MB) | read (ms) | MB/s |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['mb']:.1f} | {row['s'] * 1e3:.1f} | {row['mb'] / row['s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
