"""Per-frame time of the whole pipeline for 1 and 4 people, split into networks and host.

``--size tiny`` (default) runs the synthetic model set (tiny ViTPose/HMR2 ONNX, colour-blob
detector ONNX, full-size WHAM): it measures the pipeline around the networks. ``--size real``
swaps in real-size ViTPose-H and HMR2.0 (ViT-H, synthetic weights, PyTorch runners) to show
what the front-end costs on this CPU; expect seconds per frame without a GPU.

Network time, per frame: the time inside every ONNX Runtime session run (``session.run``, or
for I/O-bound sessions ``BoundSession.run``: binding, input upload, run, output download;
detector, ViTPose, HMR2.0; with ``--size real`` inside the PyTorch estimators'
``run_network``) plus the time inside WHAM's LSTM and linear layers
(``StreamingWHAM.network_time()``). Host time is
``total - network``: everything else the pipeline does for the frame (pre/post-processing,
crops, decode, tracking, WHAM's other tensor work, SMPL, world grounding, packing).

``--clock cpu`` reads every time above as the process's CPU time (``time.process_time``, all
threads) instead of elapsed time: on a shared machine other processes then do not inflate
the numbers; with idle cores and one torch thread the two agree except that ONNX Runtime's
pool threads add their CPU time to the networks.

Run: ``.venv/bin/python bench/bench_pipeline.py [--size tiny|real] [--frames N] [--clock wall|cpu] [--json]``
(``--json`` prints ``{"people": {"1": {"total_ms", "network_ms", "host_ms", "host_mean_ms",
"stages": {stage: {"total_ms", "network_ms", "host_ms"}}}, "4": ...}, "depth": {"1":
{"estimate_ms", "placement_ms", "per_person_ms"}, "4": ...}}``, medians per frame;
``host_mean_ms`` is the mean host time per frame, which also counts work done on some frames
only, such as the image gyro-bias source's pair every ~0.1 s).

Depth (RGB-D, doc/rgbd.md): the same scenes again with an aligned depth image per frame (4 m,
10 % holes); ``estimate_ms`` is the front-end's per-person body depth (its ``depth`` stage),
``placement_ms`` the WHAM stage's move of every person to their depth
(``DepthPlacement.apply``), ``per_person_ms`` their sum per person: the host time depth adds.
"""
import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections import defaultdict
from types import SimpleNamespace

import wham_ros.pipeline as pipeline_module
from wham_ros.pipeline import Pipeline, build_frontend, build_wham_stage
from wham_ros.testing.scenes import make_scene
from wham_ros.testing.synthetic_models import make_synthetic_model_dir, synthetic_pipeline_config

STAGES = ("detect", "keypoints", "track", "encode", "wham")
WARMUP_FRAMES = 3  # track birth and first runs


def real_size_frontend(cfg):
    """FrontEnd with real-size ViTPose-H / HMR2.0 (synthetic weights) in PyTorch."""
    from wham_ros.hmr2 import HMR2Encoder, load_hmr2
    from wham_ros.hmr2.estimator import HMR2Torch
    from wham_ros.testing.synthetic_frontend import synthetic_weights_for
    from wham_ros.vitpose import ViTPose, load_vitpose
    from wham_ros.vitpose.estimator import VitPoseTorch

    fe = build_frontend(cfg)
    fe.keypoints = VitPoseTorch(load_vitpose(synthetic_weights_for(ViTPose)))
    fe.encoder = HMR2Torch(load_hmr2(synthetic_weights_for(HMR2Encoder)))
    return fe


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


class NetworkClock:
    """Seconds spent inside the front-end networks, per stage, since the last :meth:`reset`.

    Wraps each model's ONNX Runtime ``session.run`` and, for I/O-bound sessions,
    ``BoundSession.run`` (binding, input upload, run, output download), or ``run_network`` for
    a PyTorch runner, with ``timer``.
    """

    def __init__(self, frontend, timer) -> None:
        self.timer = timer
        self.seconds = defaultdict(float)
        for stage, model in (("detect", frontend.detector), ("keypoints", frontend.keypoints),
                             ("encode", frontend.encoder)):
            session = getattr(model, "session", None)
            if session is None:  # a PyTorch runner
                model.run_network = self._timed(stage, model.run_network)
                continue
            session.run = self._timed(stage, session.run)
            bound = getattr(model, "bound", None)  # I/O binding: transfers + run
            if bound is not None:
                bound.run = self._timed(stage, bound.run)

    def _timed(self, stage, fn):
        def run(*args, **kwargs):
            t0 = self.timer()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += self.timer() - t0
        return run

    def reset(self) -> None:
        self.seconds.clear()


@contextlib.contextmanager
def stage_timer(timer):
    """The pipeline's per-stage timings (``timings_ms``, read with ``time.perf_counter`` in
    :mod:`wham_ros.pipeline`) taken with ``timer`` inside the block."""
    saved = pipeline_module.time
    pipeline_module.time = SimpleNamespace(perf_counter=timer)
    try:
        yield
    finally:
        pipeline_module.time = saved


def measure(pipe, people, frames, timer=time.perf_counter):
    """Medians per frame: {"total_ms", "network_ms", "host_ms", "stages": {...}}, and the
    mean host time per frame ``host_mean_ms``."""
    scene = make_scene(frames + WARMUP_FRAMES, people=people, size=(640 * max(1, people // 2), 480))
    clock = NetworkClock(pipe.frontend, timer)
    engine = pipe.wham.engine
    k, rows = 0, defaultdict(list)
    for i, fr in enumerate(scene.frames):
        while k < len(scene.imu) and scene.imu[k].stamp_ns <= fr.stamp_ns:
            pipe.add_imu(scene.imu[k])
            k += 1
        clock.reset()
        with stage_timer(timer), engine.network_time(timer) as wham_net:
            t0 = timer()
            r = pipe.process(fr)
            total_ms = (timer() - t0) * 1e3
        if i < WARMUP_FRAMES:
            continue
        if len(r.humans) != people:
            raise RuntimeError(f"expected {people} humans, got {len(r.humans)}")
        net = {s: clock.seconds.get(s, 0.0) * 1e3 for s in STAGES}
        net["wham"] = wham_net.ms
        rows["total"].append(total_ms)
        rows["network"].append(sum(net.values()))
        for s in STAGES:
            rows[f"{s}.total"].append(r.timings_ms.get(s, 0.0))
            rows[f"{s}.network"].append(net[s])
    med = {key: statistics.median(v) for key, v in rows.items()}
    stages = {s: {"total_ms": med[f"{s}.total"], "network_ms": med[f"{s}.network"],
                  "host_ms": med[f"{s}.total"] - med[f"{s}.network"]} for s in STAGES}
    return {"total_ms": med["total"], "network_ms": med["network"],
            "host_ms": med["total"] - med["network"],
            "host_mean_ms": statistics.fmean(rows["total"]) - statistics.fmean(rows["network"]),
            "stages": stages}


def measure_depth(pipe, people, frames, timer=time.perf_counter):
    """Host time depth adds, medians per frame: {"estimate_ms", "placement_ms", "per_person_ms"}."""
    import numpy as np

    pipe.reset()
    scene = make_scene(frames + WARMUP_FRAMES, people=people, size=(640 * max(1, people // 2), 480))
    H, W = scene.frames[0].image.shape[:2]
    depth = np.full((H, W), 4.0, np.float32)
    depth[np.random.default_rng(0).random((H, W)) < 0.1] = np.nan
    placement = pipe.wham.depth
    apply, spent = placement.apply, [0.0]

    def timed_apply(*args, **kwargs):
        t0 = timer()
        try:
            return apply(*args, **kwargs)
        finally:
            spent[0] += timer() - t0

    placement.apply = timed_apply
    k, rows = 0, defaultdict(list)
    held = pipe.wham.grounding.imu.newest_stamp_ns or -1  # the IMU model keeps its samples over reset()
    try:
        for i, fr in enumerate(scene.frames):
            while k < len(scene.imu) and scene.imu[k].stamp_ns <= fr.stamp_ns:
                if scene.imu[k].stamp_ns > held:
                    pipe.add_imu(scene.imu[k])
                k += 1
            fr.depth, spent[0] = depth, 0.0
            with stage_timer(timer):
                r = pipe.process(fr)
            if i < WARMUP_FRAMES:
                continue
            if sum(h.root_source == "depth" for h in r.humans) != people:
                raise RuntimeError(f"expected {people} humans placed from depth")
            rows["estimate"].append(r.timings_ms["depth"])
            rows["placement"].append(spent[0] * 1e3)
    finally:
        placement.apply = apply
    est, place = statistics.median(rows["estimate"]), statistics.median(rows["placement"])
    return {"estimate_ms": est, "placement_ms": place, "per_person_ms": (est + place) / people}


def run(size: str, frames: int, threads: int, clock: str = "wall") -> dict:
    """{"people": {"1": ..., "4": ...}, "providers", "size", "frames", "torch_threads", "clock"}."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = synthetic_pipeline_config(make_synthetic_model_dir(tmp), torch_threads=threads)
        out, depth = {}, {}
        for people in (1, 4):
            fe = real_size_frontend(cfg) if size == "real" else build_frontend(cfg)
            pipe = Pipeline(cfg, frontend=fe, wham=build_wham_stage(cfg))
            out[str(people)] = measure(pipe, people, frames, CLOCKS[clock])
            depth[str(people)] = measure_depth(pipe, people, frames, CLOCKS[clock])
    return {"people": out, "depth": depth, "providers": {k: str(v) for k, v in pipe.providers.items()},
            "size": size, "frames": frames, "torch_threads": threads, "clock": clock}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=("tiny", "real"), default="tiny")
    ap.add_argument("--frames", type=int, default=10, help="timed frames per configuration")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (PipelineConfig.torch_threads)")
    ap.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                    help="wall: elapsed time; cpu: the process's CPU time (all its threads), "
                         "which other processes on a shared machine do not inflate")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    res = run(args.size, args.frames, args.threads, args.clock)
    if args.json:
        print(json.dumps(res))
        return
    one, four = res["people"]["1"], res["people"]["4"]
    print(f"front-end models: {args.size}; providers: {res['providers']}; torch threads "
          f"{args.threads}; clock {args.clock}")
    print("| stage | 1 person total | network | host | 4 people total | network | host |")
    print("|---|---|---|---|---|---|---|")
    for s in STAGES:
        a, b = one["stages"][s], four["stages"][s]
        print(f"| {s} | {a['total_ms']:.1f} | {a['network_ms']:.1f} | {a['host_ms']:.1f} "
              f"| {b['total_ms']:.1f} | {b['network_ms']:.1f} | {b['host_ms']:.1f} |")
    print(f"| **frame** | {one['total_ms']:.1f} | {one['network_ms']:.1f} | {one['host_ms']:.1f} "
          f"| {four['total_ms']:.1f} | {four['network_ms']:.1f} | {four['host_ms']:.1f} |")
    print(f"| frame host, mean | | | {one['host_mean_ms']:.1f} | | | {four['host_mean_ms']:.1f} |")
    d1, d4 = res["depth"]["1"], res["depth"]["4"]
    print(f"\nDepth (host): 1 person {d1['estimate_ms']:.3f} + {d1['placement_ms']:.3f} ms "
          f"= {d1['per_person_ms']:.3f} ms/person; 4 people {d4['estimate_ms']:.3f} + "
          f"{d4['placement_ms']:.3f} ms = {d4['per_person_ms']:.3f} ms/person")


if __name__ == "__main__":
    main()
