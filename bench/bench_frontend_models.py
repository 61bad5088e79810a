"""Per-crop time of ViTPose-H and the HMR2.0 encoder: torch vs ONNX Runtime (CPU by default).

Real sizes with random weights (timing does not depend on the values). Each engine/batch
gets one warm-up call and ``--iters`` timed calls; the table shows the mean. ONNX models are
exported to a temporary folder (~2.5 GB each, external-data format) and deleted afterwards.

    .venv/bin/python bench/bench_frontend_models.py [--iters 2] [--batches 1 4] [--device cpu]
"""
import argparse
import gc
import os
import tempfile
import time

import numpy as np
import torch

from wham_ros.models.export_onnx import export_hmr2, export_vitpose
from wham_ros.hmr2 import HMR2Encoder, HMR2Torch
from wham_ros.hmr2.onnx_backend import HMR2Onnx
from wham_ros.vitpose import ViTPose, VitPoseTorch
from wham_ros.vitpose.onnx_backend import VitPoseOnnx

MODELS = {
    "vitpose": (ViTPose, VitPoseTorch, VitPoseOnnx, export_vitpose, (3, 256, 192)),
    "hmr2": (HMR2Encoder, HMR2Torch, HMR2Onnx, export_hmr2, (3, 256, 256)),
}


def _time(fn, x, iters):
    fn(x)  # warm-up
    start = time.perf_counter()
    for _ in range(iters):
        fn(x)
    return (time.perf_counter() - start) / iters


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                        help="networks to time")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4], help="batch sizes")
    parser.add_argument("--iters", type=int, default=2, help="timed calls per measurement")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="torch device; ONNX Runtime uses the matching provider")
    parser.add_argument("--no-onnx", action="store_true", help="time torch only")
    args = parser.parse_args()

    rows = []
    for name in args.models:
        build, torch_runner, onnx_runner, export, chw = MODELS[name]
        torch.manual_seed(0)
        t0 = time.perf_counter()
        model = build().eval().requires_grad_(False)
        print(f"{name}: built in {time.perf_counter() - t0:.1f} s "
              f"({sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters)", flush=True)
        inputs = {b: np.random.default_rng(b).standard_normal((b, *chw)).astype(np.float32)
                  for b in args.batches}
        runner = torch_runner(model.to(args.device)) if name == "hmr2" else \
            torch_runner(model.to(args.device), flip_test=False)
        for b in args.batches:
            sec = _time(runner.run_network, inputs[b], args.iters)
            rows.append((name, f"torch-{args.device}", b, sec))
            print(rows[-1], flush=True)
        if not args.no_onnx:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, f"{name}.onnx")
                t0 = time.perf_counter()
                export(model.cpu(), path)
                print(f"{name}: exported in {time.perf_counter() - t0:.1f} s", flush=True)
                del model, runner
                gc.collect()
                ort = onnx_runner(path, providers=args.device) if name == "hmr2" else \
                    onnx_runner(path, providers=args.device, flip_test=False)
                for b in args.batches:
                    rows.append((name, f"ort-{ort.provider.replace('ExecutionProvider', '')}", b,
                                 _time(ort.run_network, inputs[b], args.iters)))
                    print(rows[-1], flush=True)
                del ort
        gc.collect()

    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, iters={args.iters}")
    print(f"{'model':<8} {'engine':<10} {'batch':>5} {'ms/batch':>10} {'ms/crop':>9}")
    for name, engine, b, sec in rows:
        print(f"{name:<8} {engine:<10} {b:>5} {sec * 1e3:>10.0f} {sec * 1e3 / b:>9.0f}")


if __name__ == "__main__":
    main()
