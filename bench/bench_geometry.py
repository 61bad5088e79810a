"""Per-call cost of the world-grounding path (CPU, numpy): prints a table.

Run: ``.venv/bin/python bench/bench_geometry.py``.
"""
import sys
import time
from pathlib import Path

import numpy as np

from wham_ros.geometry.grounding import GroundingConfig, WorldGrounding
from wham_ros.geometry.imu import ImuIntegrator
from wham_ros.types import ImuSample


def _time(fn, n):
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n * 1e6


def main():
    """Time IMU add, per-frame integration and a full on_frame step."""
    rng = np.random.default_rng(0)
    rows = []
    for rate in (200, 400, 1000):
        dt = int(1e9 / rate)
        samples = [ImuSample(1_000_000_000 + k * dt, rng.normal(0, 0.5, 3), rng.normal(0, 0.1, 3) + [0, 0, 9.8])
                   for k in range(rate * 20)]
        integ = ImuIntegrator()
        us_add = _time(lambda i: integ.add(samples[i]), len(samples))
        frames = np.arange(2e9, 20e9, 1e9 / 30).astype(np.int64)
        us_rel = _time(lambda i: integ.relative_rotation(int(frames[i]), int(frames[i + 1])), len(frames) - 1)
        g = WorldGrounding(GroundingConfig())
        for s in samples:
            g.add_imu(s)
        us_frame = _time(lambda i: g.on_frame(int(frames[i])), len(frames))
        rows.append((rate, us_add, us_rel, us_frame))
    print("| IMU rate (Hz) | add() per sample (us) | relative_rotation per 30 Hz frame (us) | on_frame (us) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.1f} |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
