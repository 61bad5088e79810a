"""One-shot GPU check: what this machine can run, how fast, in one table.

Builds synthetic models in place (name-seeded weights; real ViT-H shapes, or the tiny test
models with ``--cpu-smoke``; nothing is downloaded or carried), then times:

* ViTPose (flip test: N crops + N mirrored in one call) and HMR2.0 (N crops) per frame for
  1/4/8 people, on every backend this machine has: torch CUDA fp32/fp16/bf16 (autocast),
  ONNX Runtime CUDA and TensorRT (onnxruntime-gpu); crops made on the device, plus the
  OpenCV host crops once for comparison;
* the WHAM step for 1/4/8 tracks, fp32 and fp16 weights, eager and as a CUDA graph;
* the whole :class:`wham_ros.pipeline.Pipeline` (detector, ViTPose, tracker, HMR2.0, world
  grounding, WHAM) on a synthetic scene: frames per second and per-frame latency;
* peak GPU memory of each torch row.

A backend this machine lacks is a row that says why it was skipped; a part that fails is a
row with the error. ``--cpu-smoke`` runs the same code paths on CPU with the tiny models
(what CI runs, via ``bench/gpu_check.sh --cpu-smoke``).
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

PEOPLE = (1, 4, 8)
#: People the synthetic scenes can draw (one colour per person).
SCENE_MAX_PEOPLE = 4


@dataclass
class Row:
    """One table row: a stage on one backend; values per people count."""

    stage: str
    provider: str
    precision: str = "fp32"
    crops: str = "-"
    wham: str = "-"
    values: Dict[int, float] = field(default_factory=dict)
    unit: str = "ms"
    peak_mb: Optional[float] = None
    note: str = ""


class Check:
    """Collects rows; runs each part so that a failure or a missing backend is a row."""

    def __init__(self, budget_s: float):
        self.rows: List[Row] = []
        self.deadline = time.monotonic() + budget_s

    def skip(self, row: Row, reason: str) -> None:
        row.note = f"skipped: {reason}"
        self.rows.append(row)

    def run(self, row: Row, fn: Callable[[Row], None]) -> None:
        """Fill ``row`` with ``fn(row)``; over budget or failing, the row says so."""
        if time.monotonic() > self.deadline:
            return self.skip(row, "time budget used up")
        try:
            fn(row)
        except Exception as exc:  # a part that fails is reported, the check goes on
            row.note = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            traceback.print_exc(file=sys.stderr)
        self.rows.append(row)

    def print_table(self, people: Sequence[int]) -> None:
        cols = ["stage", "provider", "precision", "crops", "wham"] + \
            [f"{n} pers." for n in people] + ["unit", "peak GPU MB", "note"]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in self.rows:
            vals = [f"{r.values[n]:.2f}" if n in r.values else "-" for n in people]
            peak = "-" if r.peak_mb is None else f"{r.peak_mb:.0f}"
            print("| " + " | ".join([r.stage, r.provider, r.precision, r.crops, r.wham, *vals,
                                    r.unit, peak, r.note]) + " |")


def median_ms(fn: Callable[[], object], warmup: int, iters: int) -> float:
    """Median wall time of ``fn`` in ms (``fn`` returns host arrays, so the device is done)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


class Gpu:
    """Peak-memory bookkeeping of torch on CUDA (no-op on CPU)."""

    def __init__(self, device: str):
        import torch

        self.torch, self.cuda = torch, device.startswith("cuda")

    def reset(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()

    def peak_mb(self) -> Optional[float]:
        return self.torch.cuda.max_memory_allocated() / 2 ** 20 if self.cuda else None


# --- scene inputs ---------------------------------------------------------------------------

def frame_inputs(n: int, size):
    """A textured (H, W, 3) uint8 image and n person boxes: xyxy (n, 4) and cxcys (n, 3)."""
    w, h = size
    rng = np.random.default_rng(n)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cx = np.linspace(0.1, 0.9, n) * w
    bw, bh = 0.12 * w, 0.6 * h
    xyxy = np.stack([cx - bw / 2, np.full(n, 0.2 * h), cx + bw / 2, np.full(n, 0.2 * h + bh)], 1)
    cxcys = np.stack([cx, np.full(n, 0.5 * h), np.full(n, bh * 1.2 / 200)], 1)
    return image, xyxy.astype(np.float32), cxcys


def per_frame(estimator, image: np.ndarray, boxes: np.ndarray) -> Callable[[], object]:
    """A call of ``estimator`` on a new image array each time (two alternating copies), so
    the per-frame image upload is part of the measured stage."""
    images, count = [image, image.copy()], [0]

    def call():
        count[0] += 1
        return estimator(images[count[0] % 2], boxes)
    return call


# --- front-end rows ---------------------------------------------------------------------------

def frontend_rows(check: Check, args, models, device: str) -> None:
    """ViTPose and HMR2.0 per frame: torch backends, then ONNX Runtime providers."""
    import torch

    from wham_ros.frontend.device_crops import FrameUpload
    from wham_ros.hmr2 import HMR2Torch
    from wham_ros.vitpose import VitPoseTorch

    provider = f"torch-{device.split(':')[0]}"
    precisions = ["fp32", "fp16", "bf16"]
    for name, model, runner in (("vitpose", models["vitpose"], VitPoseTorch),
                                ("hmr2", models["hmr2"], HMR2Torch)):
        model = model.to(device)
        variants = [("device", p) for p in precisions] + [("opencv", "fp32")]
        for crops, precision in variants:
            row = Row(f"{name} (flip)" if name == "vitpose" else name, provider, precision, crops)

            def fill(row, model=model, runner=runner, crops=crops, precision=precision, name=name):
                gpu = Gpu(device)
                gpu.reset()
                est = runner(model, crop_backend=crops, autocast="none" if precision == "fp32"
                             else precision, upload=FrameUpload(
                                 lambda a: torch.from_numpy(a).to(device)))
                for n in args.people:
                    image, xyxy, cxcys = frame_inputs(n, args.image_size)
                    row.values[n] = median_ms(per_frame(est, image, xyxy if name == "vitpose"
                                                        else cxcys), args.warmup, args.iters)
                row.peak_mb = gpu.peak_mb()
            check.run(row, fill)
        model.to("cpu")
    onnx_rows(check, args, models)


def onnx_rows(check: Check, args, models) -> None:
    """ViTPose and HMR2.0 graphs with crops inside on each ONNX Runtime provider."""
    try:
        import onnxruntime as ort
    except ImportError:
        for name in ("vitpose (flip)", "hmr2"):
            check.skip(Row(name, "ort"), "onnxruntime is not installed")
        return
    from wham_ros.models.export_onnx import export_hmr2, export_vitpose
    from wham_ros.hmr2.onnx_backend import HMR2Onnx
    from wham_ros.ort_session import OrtOptions, format_placement
    from wham_ros.vitpose.onnx_backend import VitPoseOnnx

    available = ort.get_available_providers()
    wanted = [("CUDAExecutionProvider", "cuda", "fp32", OrtOptions()),
              ("TensorrtExecutionProvider", "tensorrt", "fp32", OrtOptions()),
              ("TensorrtExecutionProvider", "tensorrt", "fp16", OrtOptions(trt_fp16=True))]
    if args.cpu_smoke:
        wanted.insert(0, ("CPUExecutionProvider", "cpu", "fp32", OrtOptions()))
    with tempfile.TemporaryDirectory() as tmp:
        paths: Dict[str, str] = {}
        for ep, alias, precision, options in wanted:
            label = f"ort-{ep.replace('ExecutionProvider', '')}"
            for name in ("vitpose", "hmr2"):
                row = Row(f"{name} (flip)" if name == "vitpose" else name, label, precision,
                          "device")
                if ep not in available:
                    check.skip(row, f"onnxruntime {ort.__version__} has no {ep} "
                                    f"(pip install -e .[gpu] for onnxruntime-gpu)")
                    continue

                def fill(row, name=name, alias=alias, options=options):
                    # fp16 rows take the --fp16 export: an fp32 ViT-H (> 2 GB) is more than the
                    # TensorRT provider can take and runs on CUDA (the note says so).
                    fp16 = options.trt_fp16
                    key = f"{name}_fp16" if fp16 else name
                    if key not in paths:  # export once, with the crops inside the graph
                        paths[key] = os.path.join(tmp, f"{key}.onnx")
                        export = export_vitpose if name == "vitpose" else export_hmr2
                        export(models[name].cpu(), paths[key], fp16=fp16, device_crops=True)
                    # One profile for 1..max people: the engine is built once per row, at
                    # creation, not at each new people count.
                    options = OrtOptions(trt_cache_dir=os.path.join(tmp, "trt_cache"),
                                         trt_fp16=options.trt_fp16, max_people=max(args.people))
                    est = (VitPoseOnnx if name == "vitpose" else HMR2Onnx)(
                        paths[key], providers=alias, options=options, crop_backend="device")
                    row.note = f"runs on {est.provider}" + (
                        f"; nodes: {format_placement(est.placement)}" if est.placement else "")
                    for n in args.people:
                        image, xyxy, cxcys = frame_inputs(n, args.image_size)
                        row.values[n] = median_ms(per_frame(est, image, xyxy if name == "vitpose"
                                                            else cxcys), args.warmup, args.iters)
                check.run(row, fill)


# --- WHAM rows --------------------------------------------------------------------------------

def wham_modes(device: str):
    """(mode, StreamingWHAM keyword arguments, note): eager, and the step as a CUDA graph
    (on CPU: the same graph-shaped step on fixed slot buffers, without capture)."""
    if device.startswith("cuda"):
        graph = ({"cuda_graph": True}, "")
    else:
        graph = ({"static_buffers": True}, "CPU: graph-shaped step, no capture")
    return [("eager", {}, ""), ("graph", *graph)]


def wham_rows(check: Check, args, files, device: str) -> None:
    """One batched WHAM step for N tracks, per weight precision and mode."""
    from wham_ros.wham import StreamingWHAM, WHAMFrame, load_network

    net = {}
    for precision in ("fp32", "fp16"):
        for mode, kwargs, note in wham_modes(device):
            row = Row("wham step", f"torch-{device.split(':')[0]}", precision, "-", mode,
                      note=note)

            def fill(row, kwargs=kwargs, precision=precision):
                gpu = Gpu(device)
                gpu.reset()
                if not net:
                    net["net"] = load_network(files["wham_checkpoint"], files["body_model_dir"],
                                              device=device)
                rng = np.random.default_rng(0)
                w, h = args.image_size
                f = float(np.hypot(w, h))
                K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], np.float32)
                for n in args.people:
                    eng = StreamingWHAM(net["net"], precision=precision, **kwargs)
                    for i in range(n):
                        eng.start_track(i, rng.normal(0, 0.3, 88),
                                        np.tile([1, 0, 0, 0, -1, 0], 24), [1, 0, 0, 0, -1, 0],
                                        residual=True)
                    frames = {i: WHAMFrame(rng.uniform(-1, 1, 37).astype(np.float32),
                                           rng.uniform(size=17) < 0.1,
                                           rng.normal(size=1024).astype(np.float32),
                                           np.zeros(6, np.float32), K,
                                           np.array([w / 2, h / 2, 3.0], np.float32),
                                           np.array([w, h], np.float32)) for i in range(n)}
                    # outputs to the host, as the pipeline does (waits for the device)
                    row.values[n] = median_ms(
                        lambda: {k: v["trans_cam"].cpu() for k, v in eng.step(frames).items()},
                        args.warmup + 2, args.iters)
                row.peak_mb = gpu.peak_mb()
            check.run(row, fill)


# --- end-to-end rows --------------------------------------------------------------------------

def pipeline_rows(check: Check, args, files, models, device: str, root: str) -> None:
    """The real Pipeline on a synthetic scene: FPS and per-frame latency."""
    import torch

    precision = "fp16" if device.startswith("cuda") else "fp32"
    for mode, kwargs, _ in wham_modes(device):
        base = dict(provider=f"torch-{device.split(':')[0]}", precision=precision,
                    crops="device", wham=mode)
        fps, lat = Row("pipeline FPS", unit="fps", **base), Row("pipeline latency p50", **base)
        p95 = Row("pipeline latency p95", **base)
        result: Dict[str, object] = {}

        def fill(row, kwargs=kwargs):
            from wham_ros.detect.detector import load_detector
            from wham_ros.frontend.device_crops import FrameUpload
            from wham_ros.geometry.grounding import WorldGrounding
            from wham_ros.hmr2 import HMR2Torch
            from wham_ros.pipeline import FrontEnd, Pipeline, PipelineConfig, WhamStage
            from wham_ros.testing.scenes import make_scene
            from wham_ros.testing.synthetic_models import export_detector
            from wham_ros.tracking.tracker import MultiPersonTracker, TrackerConfig
            from wham_ros.vitpose import VitPoseTorch
            from wham_ros.wham import StreamingWHAM, load_network

            det_path = os.path.join(root, "detector.onnx")
            if not os.path.exists(det_path):
                export_detector(det_path)
            gpu = Gpu(device)
            gpu.reset()
            upload = FrameUpload(lambda a: torch.from_numpy(a).to(device))
            autocast = "none" if precision == "fp32" else precision
            vitpose = VitPoseTorch(models["vitpose"].to(device), crop_backend="device",
                                   autocast=autocast, upload=upload)
            hmr2 = HMR2Torch(models["hmr2"].to(device), crop_backend="device",
                             autocast=autocast, upload=upload)
            cfg = PipelineConfig(**files, device=device, camera_motion="imu")
            net = load_network(files["wham_checkpoint"], files["body_model_dir"], device=device)
            for n in [p for p in args.people if p <= SCENE_MAX_PEOPLE]:
                detector = load_detector("yolo_onnx", model_path=det_path, providers="cpu",
                                         output_format="yolov8")
                frontend = FrontEnd(detector, vitpose, hmr2,
                                    MultiPersonTracker(TrackerConfig(min_hits=2)))
                stage = WhamStage(StreamingWHAM(net, **kwargs),
                                  WorldGrounding(cfg.grounding_config()))
                pipe = Pipeline(cfg, frontend=frontend, wham=stage)
                scene = make_scene(args.frames, size=tuple(args.image_size), people=n)
                k, times, humans = 0, [], 0
                for i, frame in enumerate(scene.frames):
                    while k < len(scene.imu) and scene.imu[k].stamp_ns <= frame.stamp_ns:
                        pipe.add_imu(scene.imu[k])
                        k += 1
                    t0 = time.perf_counter()
                    out = pipe.process(frame)
                    if i >= args.warmup + 2:  # tracks born (min_hits 2) and warmed up
                        times.append((time.perf_counter() - t0) * 1e3)
                        humans += len(out.humans)
                result[n] = (1e3 / statistics.mean(times), statistics.median(times),
                             float(np.percentile(times, 95)), humans / len(times))
            result["peak"] = gpu.peak_mb()
            for m in ("vitpose", "hmr2"):
                models[m].to("cpu")
        check.run(fps, fill)
        if not result:  # failed or skipped: the FPS row carries the reason
            continue
        for n in [p for p in args.people if p <= SCENE_MAX_PEOPLE]:
            fps.values[n], lat.values[n], p95.values[n], _ = result[n]
        fps.peak_mb = result["peak"]
        people = ", ".join(f"{result[n][3]:.1f}" for n in args.people if n in result)
        note = (f"people found per frame: {people}; WHAM fp32, front-end {precision}; "
                f"detector: synthetic ONNX on ORT CPU; frames back to back: latency = "
                f"Pipeline.process time (stamp-to-publish in the node adds image "
                f"conversion and publishing, and, when slower than the camera, a wait of up "
                f"to one frame's processing); "
                f"8 people: scenes draw at most {SCENE_MAX_PEOPLE}")
        fps.note = note
        check.rows += [lat, p95]


# --- main -------------------------------------------------------------------------------------

def build_frontend_models(smoke: bool) -> Dict[str, object]:
    """Tiny test models (smoke) or real-size ViTPose-H / HMR2.0 with name-seeded weights."""
    if smoke:
        from wham_ros.testing.synthetic_models import tiny_hmr2, tiny_vitpose

        return {"vitpose": tiny_vitpose(), "hmr2": tiny_hmr2()}
    from wham_ros.hmr2 import HMR2Encoder, load_hmr2
    from wham_ros.testing.synthetic_frontend import synthetic_weights_for
    from wham_ros.vitpose import ViTPose, load_vitpose

    return {"vitpose": load_vitpose(synthetic_weights_for(ViTPose)),
            "hmr2": load_hmr2(synthetic_weights_for(HMR2Encoder))}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point (see ``bench/gpu_check.sh``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="tiny models on CPU, few iterations (CI keeps the script working)")
    parser.add_argument("--people", type=int, nargs="+", default=list(PEOPLE),
                        help="people per frame")
    parser.add_argument("--iters", type=int, default=None, help="timed calls per value")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="parts starting after this many seconds are skipped")
    args = parser.parse_args(argv)
    t_start = time.monotonic()
    import torch

    smoke = args.cpu_smoke
    device = "cuda" if torch.cuda.is_available() and not smoke else "cpu"
    args.warmup = 0 if smoke else 3
    args.iters = args.iters or (1 if smoke else 10)
    args.frames = 6 if smoke else 40
    args.image_size = (320, 240) if smoke else (1280, 720)
    if smoke:
        torch.set_num_threads(1)
    try:
        import onnxruntime as ort
        ort_providers = ort.get_available_providers()
        ort_line = f"onnxruntime {ort.__version__}: {', '.join(ort_providers)}"
    except ImportError:
        ort_providers, ort_line = [], "onnxruntime: not installed"
    gpu_line = (f"GPU: {torch.cuda.get_device_name()} (torch CUDA {torch.version.cuda})"
                if torch.cuda.is_available() else "GPU: none visible to torch")
    print(f"gpu_check {'--cpu-smoke ' if smoke else ''}on {platform.node()}, "
          f"python {platform.python_version()}, torch {torch.__version__}")
    print(gpu_line)
    print(ort_line)
    check = Check(args.budget_s)
    with tempfile.TemporaryDirectory() as root:
        from wham_ros.testing.synthetic_models import write_wham_files

        files = write_wham_files(root)
        models: Dict[str, object] = {}
        missing = ""  # why the front-end models could not be built
        gpu_ort = any(p in ort_providers for p in ("CUDAExecutionProvider",
                                                   "TensorrtExecutionProvider"))
        if smoke or device != "cpu" or gpu_ort:  # else every front-end row is skipped
            t0 = time.monotonic()
            try:
                models = build_frontend_models(smoke)
            except Exception as exc:  # e.g. a package missing on this machine
                missing = f"front-end models not built: {type(exc).__name__}: {exc}"
                traceback.print_exc(file=sys.stderr)
            else:
                print(f"front-end models ({'tiny' if smoke else 'ViT-H'}, name-seeded) built "
                      f"in {time.monotonic() - t0:.1f} s", flush=True)
        provider = f"torch-{device}"
        if missing:
            for name in ("vitpose (flip)", "hmr2"):
                check.skip(Row(name, provider), missing)
        elif device == "cpu" and not smoke:
            for name in ("vitpose (flip)", "hmr2"):
                check.skip(Row(name, "torch-cuda"), "no CUDA device (run --cpu-smoke on CPU)")
            onnx_rows(check, args, models)
        else:
            frontend_rows(check, args, models, device)
        wham_rows(check, args, files, device)
        if device == "cpu" and not smoke:
            check.skip(Row("pipeline FPS", "torch-cuda", unit="fps"), "no CUDA device")
        elif missing:
            check.skip(Row("pipeline FPS", provider, unit="fps"), missing)
        else:
            pipeline_rows(check, args, files, models, device, root)
    print()
    check.print_table(args.people)
    print(f"\ntotal {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
