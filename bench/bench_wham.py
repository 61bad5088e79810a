"""Benchmark of the WHAM core: the streaming step per precision and engine mode, the
reference step, the batch forward, and each precision's error (synthetic weights).

Prints two tables: milliseconds per step for all tracks together (median and minimum over
``--iters`` steps; CPU: the thread's CPU time, so other processes on a shared machine do not
count; CUDA: synchronised wall-clock) on CPU, and on CUDA when available (CUDA rows include the CUDA-graph engine); then each precision's error
on the parity fixture and its drift against fp32 over a 600-frame sequence.
Run: ``.venv/bin/python bench/bench_wham.py [--threads N] [--iters N] [--tracks N ...]
[--no-errors]``.
"""
import argparse
import tempfile
import time

import numpy as np
import torch

from wham_ros.testing.synthetic_wham import (synthetic_smpl_arrays, wham_state_dict,
                                             write_body_model_dir)
from wham_ros.testing.wham_error import precision_report
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


def clock(device):
    """CPU: this thread's CPU time (a shared machine's other processes do not count);
    CUDA: wall-clock (after synchronising)."""
    return time.perf_counter if device.startswith("cuda") else time.thread_time


def timed(fn, iters, device):
    """(median ms, min ms) of ``fn()`` after 3 warm-up calls."""
    for _ in range(3):
        fn()
    ts, now = [], clock(device)
    for _ in range(iters):
        sync(device)
        t = now()
        fn()
        sync(device)
        ts.append((now() - t) * 1e3)
    return float(np.median(ts)), float(np.min(ts))


def bench_stream(net, n_tracks, mesh, iters, device, **engine):
    rng = np.random.default_rng(0)
    eng = StreamingWHAM(net, **engine)
    for i in range(n_tracks):
        eng.start_track(i, rng.normal(0, 0.3, 88), np.tile([1, 0, 0, 0, -1, 0], 24),
                        [1, 0, 0, 0, -1, 0], residual=True)
    frames = {i: random_frame(rng) for i in range(n_tracks)}
    med, best = timed(lambda: eng.step(frames, full_mesh=mesh), iters, device)
    with eng.network_time(clock(device)) as nt:
        eng.step(frames, full_mesh=mesh)
    return med, best, nt.ms


@torch.no_grad()
def bench_reference_step(net, n_tracks, iters, device):
    """The unfused :meth:`WHAMNetwork.step` (what the batch forward runs), state kept as
    separate tensors."""
    B = n_tracks
    dt = dict(device=device, dtype=net.dtype)
    eye6 = torch.tensor([1.0, 0, 0, 0, -1, 0], **dt)
    state = [net.init_state(torch.randn(B, 88, **dt) * 0.3, eye6.repeat(B, 24, 1),
                            eye6.repeat(B, 1), torch.ones(B, dtype=torch.bool))]
    rng = np.random.default_rng(0)
    fr = [random_frame(rng) for _ in range(B)]
    st = lambda n, dtype=None: torch.as_tensor(np.stack([getattr(f, n) for f in fr])).to(  # noqa: E731
        device=device, dtype=dtype or net.dtype)
    args = (st("x"), st("mask", torch.bool), st("features"), st("cam_angvel"),
            st("cam_intrinsics"), st("bbox"), st("res"))

    def step():
        state[0] = net.step(state[0], *args)[1]
    return timed(step, iters, device)


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
    now = clock(device)
    with torch.no_grad():
        net(x, inits, feats, **args)
        sync(device)
        t = now()
        net(x, inits, feats, **args)
        sync(device)
    return (now() - t) / T * 1e3


def engine_modes(device):
    """(label, StreamingWHAM keyword arguments) benchmarked on ``device``."""
    modes = [("fp32", {}), ("fp16", {"precision": "fp16"})]
    if device == "cpu":
        modes += [("int8", {"precision": "int8"}), ("fp32 static", {"static_buffers": True})]
    else:
        modes += [("fp32 cuda graph", {"cuda_graph": True}),
                  ("fp16 cuda graph", {"precision": "fp16", "cuda_graph": True})]
    return modes


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--iters", type=int, default=50, help="timed steps per configuration")
    ap.add_argument("--tracks", type=int, nargs="+", default=[1, 4, 16],
                    help="track counts of the streaming rows")
    ap.add_argument("--no-errors", action="store_true", help="skip the precision error table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        body = write_body_model_dir(tmp, synthetic_smpl_arrays())
        sd = {k: torch.from_numpy(v) for k, v in wham_state_dict(learned_shapes(body)).items()}
        for dev in devices:
            net = load_network(sd, body, device=dev)
            name = torch.cuda.get_device_name() if dev == "cuda" else f"cpu x{args.threads} thr"
            for label, kw in engine_modes(dev):
                for n in args.tracks:
                    for mesh in ((False, True) if label == "fp32" else (False,)):
                        med, best, net_ms = bench_stream(net, n, mesh, args.iters, dev, **kw)
                        rows.append((name, f"stream {label}", n, "yes" if mesh else "no",
                                     med, best, net_ms))
            for n in sorted({1, 4} & set(args.tracks)) or args.tracks[:1]:
                med, best = bench_reference_step(net, n, args.iters, dev)
                rows.append((name, "reference step (unfused)", n, "no", med, best, None))
            ms = bench_batch(net, 60, dev)
            rows.append((name, "batch forward T=60 (per frame)", 1, "yes", ms, ms, None))
        errors = None if args.no_errors else precision_report(load_network(sd, body))
    print(f"torch {torch.__version__}, float32 network")
    print("| device | engine | tracks | mesh | ms / step (median) | ms / step (min) "
          "| in LSTM+linear (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        net_ms = "" if r[6] is None else f"{r[6]:.2f}"
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2f} | {r[5]:.2f} | {net_ms} |")
    if errors:
        print("\n| precision | parity fixture T60 max rel. error (worst output) "
              "| 600 frames vs fp32: trajectory drift max / end (mm) | joints (mm) "
              "| pose 6D max abs |")
        print("|---|---|---|---|---|")
        for p, e in errors.items():
            drift = (f"{e['trans_mm']:.1f} / {e['trans_end_mm']:.1f} "
                     f"(path {e['path_m']:.1f} m) | {e['joints_mm']:.2f} | {e['pose']:.1e}"
                     if "trans_mm" in e else "0 (reference) | 0 | 0")
            print(f"| {p} | {e['parity_rel']:.1e} ({e['parity_worst']}) | {drift} |")


if __name__ == "__main__":
    main()
