"""Benchmark: identity keeping of the tracker on simulated recordings (py-motmetrics).

Runs :class:`wham_ros.tracking.MultiPersonTracker` alone over the recordings of
:mod:`wham_ros.testing.tracking_scenes` (exits and returns in an order that fools "revive the
most recently lost track", occlusion, a fast head turn with and without a gyro, look-alikes,
and issue 19's four-person acceptance recording) and prints IDF1, ID switches, MOTA and the
most ids one person got, before and after issue 19:

* before: no image for the tracker (no appearance, no image bounds), no camera-motion
  compensation, no re-identification window, no occlusion allowance (the tracker as it was).
* after: the defaults with ``cmc`` gyro, or ``cmc`` image on the recording without a gyro.

Usage: ``python bench/bench_tracking.py [--scenes head_turn,look_alikes] [--json]``.
"""
import argparse
import json
import time

import numpy as np

from wham_ros.testing import tracking_scenes as ts
from wham_ros.tracking.camera_compensation import CameraCompensation
from wham_ros.tracking.tracker import MultiPersonTracker, TrackerConfig

BEFORE = dict(config=TrackerConfig(reid_window_s=0, occlusion_max_lost=0), features=False,
              cmc="off")
#: (row name, scene factory name, gyro on the camera, cmc of the "after" tracker)
ROWS = [
    ("exits_and_returns", "exits_and_returns", True, "gyro"),
    ("occlusion", "occlusion", True, "gyro"),
    ("head_turn (gyro)", "head_turn", True, "gyro"),
    ("head_turn (no gyro, cmc image)", "head_turn", False, "image"),
    ("head_turn (no gyro, cmc off)", "head_turn", False, "off"),
    ("look_alikes", "look_alikes", True, "gyro"),
    ("acceptance (issue 19)", "acceptance", True, "gyro"),
]
METRICS = ("idf1", "num_switches", "mota", "ids_per_person", "people_per_id")


def step_costs_ms(scene) -> dict:
    """Median per-frame cost of the tracker alone (detections precomputed): boxes only, with
    the image (signatures, bounds) and a homography, and of the image-based CMC estimate."""
    dets = [ts.colour_detections(f.image) for f in scene.frames]
    out = {}
    for name, with_image in (("tracker_boxes_only", False), ("tracker_with_image", True)):
        tracker, times = MultiPersonTracker(), []
        for f, d in zip(scene.frames, dets):
            t0 = time.perf_counter()
            tracker.update(d, None, f.stamp_ns * 1e-9, f.image if with_image else None,
                           np.eye(3) if with_image else None)
            times.append((time.perf_counter() - t0) * 1e3)
        out[name] = float(np.median(times))
    cmc, times = CameraCompensation("image"), []
    for f, d in zip(scene.frames, dets):
        t0 = time.perf_counter()
        cmc.homography(f.image, scene.K, None, d[:, :4])
        times.append((time.perf_counter() - t0) * 1e3)
    out["cmc_image"] = float(np.median(times))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", help="comma-separated scene names (default: all): "
                   + ", ".join(ts.SCENES))
    p.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = p.parse_args(argv)
    wanted = set(args.scenes.split(",")) if args.scenes else set(ts.SCENES)
    unknown = wanted - set(ts.SCENES)
    if unknown:
        p.error(f"unknown scene(s) {sorted(unknown)}; expected some of {list(ts.SCENES)}")
    results = {}
    cache = {}
    print(f"{'recording':32s} {'frames':>6s} | {'IDF1':>11s} | {'ID sw.':>7s} | {'MOTA':>11s} | "
          f"{'ids/person':>10s} | ms/frame")
    print(f"{'':32s} {'':>6s} | {'before after':>11s} | {'bef aft':>7s} | {'before after':>11s} | "
          f"{'bef aft':>10s} |")
    for row, name, gyro, cmc in ROWS:
        if name not in wanted:
            continue
        if (name, gyro) not in cache:
            cache[name, gyro] = ts.SCENES[name](gyro=gyro)
        scene = cache[name, gyro]
        before = ts.mot_metrics(scene, ts.track_scene(scene, **BEFORE))
        t0 = time.perf_counter()
        hyp = ts.track_scene(scene, cmc=cmc)
        ms = (time.perf_counter() - t0) * 1e3 / len(scene.frames)
        after = ts.mot_metrics(scene, hyp)
        results[row] = {"frames": len(scene.frames), "ms_per_frame": ms,
                        "before": {k: before[k] for k in METRICS},
                        "after": {k: after[k] for k in METRICS}}
        print(f"{row:32s} {len(scene.frames):6d} | {before['idf1']:5.3f} {after['idf1']:5.3f} | "
              f"{before['num_switches']:3.0f} {after['num_switches']:3.0f} | "
              f"{before['mota']:5.3f} {after['mota']:5.3f} | "
              f"{before['ids_per_person']:4.0f} {after['ids_per_person']:5.0f} | {ms:6.1f}")
    print("ms/frame: the 'after' tracker incl. the scene's detector and CMC, this machine's CPU")
    if "head_turn" in wanted:
        costs = step_costs_ms(cache["head_turn", True])
        results["cost_ms"] = costs
        print("median per frame, head_turn (3.7 people): tracker "
              f"{costs['tracker_boxes_only']:.2f} ms boxes only, "
              f"{costs['tracker_with_image']:.2f} ms with image + CMC homography; "
              f"cmc image estimate {costs['cmc_image']:.2f} ms")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
