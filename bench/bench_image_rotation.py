"""Per-frame cost of the image gyro-bias source (grey + downscale, corners, LK, RANSAC fit).

Frames of a textured world seen by a turning camera with two people walking in front
(``wham_ros.testing.textured_pan``) at the camera sizes below go through
``WorldGrounding.observe_image`` (the call the pipeline makes per processed frame, with the
people's boxes) after the IMU samples up to each frame; the time of that call alone is reported
(``--clock cpu`` reads the process's CPU time instead of elapsed time, so other processes on a
shared machine do not inflate it): the mean over all frames (what the source costs per frame;
images sooner than ``min_interval_ns`` after the key image are not looked at) and the median
and 95th percentile over the frames it looked at (ms).

Run: ``.venv/bin/python bench/bench_image_rotation.py [--frames N] [--clock wall|cpu] [--json]``
(``--json`` prints ``{"clock": ..., "sizes": {"WxH": {"mean_ms", "median_ms", "p95_ms", "looked_at",
"frames", "fitted", "refused"}}}``; image pairs fitted and refused; a frame that moved less
than 1.5 px is compared with a later one).
"""
import argparse
import json
import time

import numpy as np

from wham_ros.geometry.grounding import GroundingConfig, WorldGrounding
from wham_ros.geometry.imu import ImuConfig
from wham_ros.testing.imu_rig import NS, NoisyImu
from wham_ros.testing.textured_pan import TexturedCamera, TurningRig, render_recording, world_texture

SIZES = ((640, 480), (1280, 720))
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def measure(size, frames: int, clock) -> dict:
    """Mean ms of ``observe_image`` per frame, median / p95 ms of the frames it looked at,
    over ``frames`` frames at 30 Hz of size (W, H)."""
    W, H = size
    f = 0.9 * W
    K = np.array([[f, 0.0, W / 2], [0.0, f, H / 2], [0.0, 0.0, 1.0]])
    rig = TurningRig(duration_s=frames / 30.0 + 1.0)
    imu = NoisyImu(rate_hz=200.0, seed=0)
    samples, _ = imu.samples(rig)
    stamps = 0.5 + np.arange(frames) / 30.0
    images, boxes = render_recording(rig, TexturedCamera(world_texture(), K, size), stamps)
    g = WorldGrounding(GroundingConfig(imu=ImuConfig(R_cam_imu=imu.R_cam_imu)))
    k, times, looked = 0, [], []
    for t, image, b in zip(stamps, images, boxes):
        s = int(round(t * NS))
        while k < len(samples) and samples[k].stamp_ns <= s:
            g.add_imu(samples[k])
            k += 1
        t0 = clock()
        fit = g.observe_image(s, image, K, b)
        times.append((clock() - t0) * 1e3)
        looked.append(fit.reason != "wait")
    times, looked = np.array(times[1:]), np.array(looked[1:])  # the first frame only stores the image
    counts = g.image_bias.counts
    return {"mean_ms": float(times.mean()), "median_ms": float(np.median(times[looked])),
            "p95_ms": float(np.percentile(times[looked], 95)), "looked_at": int(looked.sum()),
            "frames": len(times), "fitted": int(counts.get("ok", 0)),
            "refused": int(sum(n for k, n in counts.items() if k != "ok"))}


def main():
    """Print a table (or JSON) of the per-frame cost at each camera size."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=150, help="frames per size (30 Hz)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="elapsed or CPU time")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    res = {"clock": args.clock, "sizes": {f"{W}x{H}": measure((W, H), max(args.frames, 3), CLOCKS[args.clock])
                                          for W, H in SIZES}}
    if args.json:
        print(json.dumps(res))
        return
    print(f"| camera image | per frame, mean (ms) | looked at: median (ms) | p95 (ms) | frames looked at "
          f"| pairs fitted | refused | ({args.clock} clock)")
    print("|---|---|---|---|---|---|---|")
    for name, row in res["sizes"].items():
        print(f"| {name} | {row['mean_ms']:.2f} | {row['median_ms']:.2f} | {row['p95_ms']:.2f} | "
              f"{row['looked_at']} / {row['frames']} | {row['fitted']} | {row['refused']} |")


if __name__ == "__main__":
    main()
