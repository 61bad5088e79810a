"""Benchmark of the WHAM core: streaming step vs batch forward (synthetic weights).

Prints a table of milliseconds per frame (per step for all tracks together) on CPU, and on
CUDA when available. Run: ``.venv/bin/python bench/bench_wham.py [--threads N] [--iters N]``.
"""
import argparse
import tempfile
import time

import numpy as np
import torch

from wham_ros.testing.synthetic_wham import (synthetic_smpl_arrays, wham_state_dict,
                                             write_body_model_dir)
from wham_ros.wham import StreamingWHAM, WHAMFrame, load_network
from wham_ros.wham.network import WHAMNetwork



def learned_shapes(body_dir):
    from wham_ros.body import SMPLBody
    net = WHAMNetwork(SMPLBody.from_dir(body_dir))
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def random_frame(rng, W=1920, H=1080):
    f = np.sqrt(W * W + H * H)
    return WHAMFrame(x=rng.uniform(-1, 1, 37).astype(np.float32), mask=rng.uniform(size=17) < 0.1,
                     features=rng.normal(size=1024).astype(np.float32),
                     cam_angvel=rng.normal(0, 0.01, 6).astype(np.float32),
                     cam_intrinsics=np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], np.float32),
                     bbox=np.array([960, 540, 3.0], np.float32), res=np.array([W, H], np.float32))


def bench_stream(net, n_tracks, mesh, iters, device):
    rng = np.random.default_rng(0)
    eng = StreamingWHAM(net)
    for i in range(n_tracks):
        eng.start_track(i, rng.normal(0, 0.3, 88), np.tile([1, 0, 0, 0, -1, 0], 24),
                        [1, 0, 0, 0, -1, 0], residual=True)
    frames = {i: random_frame(rng) for i in range(n_tracks)}
    for _ in range(3):
        eng.step(frames, full_mesh=mesh)
    sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        eng.step(frames, full_mesh=mesh)
    sync(device)
    return (time.perf_counter() - t) / iters * 1e3


def bench_batch(net, T, device):
    rng = np.random.default_rng(1)
    fr = [random_frame(rng) for _ in range(T)]
    tt = lambda a: torch.as_tensor(np.stack(a))[None].to(device)  # noqa: E731
    x = tt([f.x for f in fr]).float()
    args = dict(mask=tt([f.mask for f in fr]), init_root=torch.tensor([[[1., 0, 0, 0, -1, 0]]]),
                cam_angvel=tt([f.cam_angvel for f in fr]), cam_intrinsics=tt([fr[0].cam_intrinsics]),
                bbox=tt([f.bbox for f in fr]), res=torch.tensor([[1920., 1080.]]))
    inits = (torch.randn(1, 1, 88), torch.tensor([1., 0, 0, 0, -1, 0]).repeat(1, 1, 24, 1))
    feats = tt([f.features for f in fr])
    with torch.no_grad():
        net(x, inits, feats, **args)
        sync(device)
        t = time.perf_counter()
        net(x, inits, feats, **args)
        sync(device)
    return (time.perf_counter() - t) / T * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--iters", type=int, default=50, help="timed steps per configuration")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory() as tmp:
        body = write_body_model_dir(tmp, synthetic_smpl_arrays())
        sd = {k: torch.from_numpy(v) for k, v in wham_state_dict(learned_shapes(body)).items()}
        rows = []
        for dev in devices:
            net = load_network(sd, body, device=dev)
            name = torch.cuda.get_device_name() if dev == "cuda" else f"cpu x{args.threads} thr"
            for n in (1, 4, 16):
                for mesh in (False, True):
                    ms = bench_stream(net, n, mesh, args.iters, dev)
                    rows.append((name, f"stream {n:2d} track(s)", "yes" if mesh else "no", ms, ms / n))
            ms = bench_batch(net, 60, dev)
            rows.append((name, "batch forward T=60", "yes", ms, ms))
    print(f"torch {torch.__version__}, float32")
    print("| device | mode | mesh | ms / step | ms / track-frame |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} |")


if __name__ == "__main__":
    main()
