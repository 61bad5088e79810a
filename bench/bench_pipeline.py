"""Per-stage time of the whole pipeline for 1 and 4 people (synthetic scenes, CPU).

``--size tiny`` (default) runs the synthetic model set (tiny ViTPose/HMR2 ONNX, colour-blob
detector ONNX, full-size WHAM): it measures the pipeline around the networks. ``--size real``
swaps in real-size ViTPose-H and HMR2.0 (ViT-H, synthetic weights, PyTorch runners) to show
what the front-end costs on this CPU; expect seconds per frame without a GPU.

Run: ``.venv/bin/python bench/bench_pipeline.py [--size tiny|real] [--frames N]``
"""
import argparse
import statistics
import tempfile
from collections import defaultdict


from wham_ros.pipeline import Pipeline, build_frontend, build_wham_stage
from wham_ros.testing.scenes import make_scene
from wham_ros.testing.synthetic_models import make_synthetic_model_dir, synthetic_pipeline_config

STAGES = ("detect", "keypoints", "track", "encode", "wham")


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


def measure(pipe, people, frames):
    scene = make_scene(frames + 3, people=people, size=(640 * max(1, people // 2), 480))
    k, times = 0, defaultdict(list)
    for i, fr in enumerate(scene.frames):
        while k < len(scene.imu) and scene.imu[k].stamp_ns <= fr.stamp_ns:
            pipe.add_imu(scene.imu[k])
            k += 1
        r = pipe.process(fr)
        if i >= 3:  # after track birth and warm-up
            assert len(r.humans) == people, f"expected {people} humans, got {len(r.humans)}"
            for s in STAGES:
                times[s].append(r.timings_ms.get(s, 0.0))
            times["total"].append(sum(r.timings_ms.get(s, 0.0) for s in STAGES))
    return {s: statistics.median(v) for s, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=("tiny", "real"), default="tiny")
    ap.add_argument("--frames", type=int, default=10, help="timed frames per configuration")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (PipelineConfig.torch_threads)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = synthetic_pipeline_config(make_synthetic_model_dir(tmp), torch_threads=args.threads)
        cols = {}
        for people in (1, 4):
            fe = real_size_frontend(cfg) if args.size == "real" else build_frontend(cfg)
            pipe = Pipeline(cfg, frontend=fe, wham=build_wham_stage(cfg))
            cols[people] = measure(pipe, people, args.frames)
        prov = pipe.providers
    print(f"front-end models: {args.size}; providers: {prov}; torch threads {args.threads}")
    print("| stage | 1 person ms | 4 people ms |")
    print("|---|---|---|")
    for s in STAGES + ("total",):
        print(f"| {s} | {cols[1][s]:.1f} | {cols[4][s]:.1f} |")


if __name__ == "__main__":
    main()
