"""Benchmark: detector post-processing (decode + NMS) and tracker step time.

Prints a table (median over repeats, CPU). Usage: ``python bench/bench_detect_track.py``.
"""
import argparse
import time

import numpy as np

from wham_ros.detect.detector import postprocess
from wham_ros.detect.letterbox import letterbox
from wham_ros.tracking.tracker import MultiPersonTracker, TrackerConfig

TEMPLATE_Y = np.linspace(0.05, 0.97, 17)


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def yolo_output(rng, fmt, n=8400, n_people=10):
    """Random candidates with ``n_people`` clusters of confident overlapping person boxes."""
    cx, cy = rng.uniform(50, 590, n), rng.uniform(50, 590, n)
    w, h = rng.uniform(20, 200, n), rng.uniform(40, 400, n)
    cls = rng.uniform(0, 0.2, (n, 80))
    centres = rng.uniform(100, 540, (n_people, 2))
    for k in range(n_people):                      # 30 candidates per person, as a real head
        idx = slice(k * 30, k * 30 + 30)
        cx[idx] = centres[k, 0] + rng.normal(0, 3, 30)
        cy[idx] = centres[k, 1] + rng.normal(0, 3, 30)
        w[idx], h[idx] = 80 + rng.normal(0, 3, 30), 240 + rng.normal(0, 3, 30)
        cls[idx, 0] = rng.uniform(0.6, 0.95, 30)
    boxes = np.stack([cx, cy, w, h], 1)
    if fmt == "yolov8":
        return np.concatenate([boxes, cls], 1).T[None].astype(np.float32)
    obj = np.ones((n, 1))
    return np.concatenate([boxes, obj, cls], 1)[None].astype(np.float32)


def scene(rng, n_people, n_frames):
    """Per-frame (detections, keypoints) of people walking on a 1920x1080 image."""
    start = rng.uniform([0, 200], [1700, 700], (n_people, 2))
    vel = rng.uniform(-4, 4, (n_people, 2))
    frames = []
    for t in range(n_frames):
        xy = start + vel * t
        boxes = np.concatenate([xy, xy + [80, 240]], 1) + rng.normal(0, 1, (n_people, 4))
        det = np.concatenate([boxes, rng.uniform(0.6, 0.95, (n_people, 1))], 1)
        kp = np.zeros((n_people, 17, 3))
        kp[..., 0] = xy[:, None, 0] + 40 + rng.normal(0, 10, (n_people, 17))
        kp[..., 1] = xy[:, None, 1] + 240 * TEMPLATE_Y
        kp[..., 2] = 0.9
        frames.append((det, kp))
    return frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="repetitions per measurement")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    _, lb = letterbox(np.zeros((1080, 1920, 3), np.uint8), (640, 640))
    rows = []
    for fmt, shape in (("yolov8", "(1, 84, 8400)"), ("yolox", "(1, 8400, 85)")):
        out = yolo_output(rng, fmt)
        n_det = len(postprocess(out, fmt, lb, 0, 0.5, 0.7, 100))
        ms = median_ms(lambda: postprocess(out, fmt, lb, 0, 0.5, 0.7, 100), args.repeats)
        rows.append((f"decode+NMS {fmt} {shape}", f"{n_det} people", ms))
    img = np.zeros((1080, 1920, 3), np.uint8)
    ms = median_ms(lambda: letterbox(img, (640, 640)), args.repeats)
    rows.append(("letterbox 1920x1080 -> 640x640", "", ms))
    for n in (1, 4, 16):
        for use_kp in (False, True):
            frames = scene(rng, n, 30 + args.repeats)
            tracker = MultiPersonTracker(TrackerConfig())
            for det, kp in frames[:30]:                 # warm up: all tracks confirmed
                tracker.update(det, kp if use_kp else None)
            it = iter(frames[30:])

            def step():
                det, kp = next(it)
                tracker.update(det, kp if use_kp else None)
            ms = median_ms(step, args.repeats)
            rows.append((f"tracker step, {n} people", "IoU+OKS" if use_kp else "IoU", ms))
    print(f"{'stage':<40} {'note':<12} {'median ms':>10}")
    print("-" * 64)
    for name, note, ms in rows:
        print(f"{name:<40} {note:<12} {ms:>10.3f}")


if __name__ == "__main__":
    main()
