"""World-frame drift over 5 minutes of a simulated rig (wham_ros.testing.imu_rig): prints a table.

The rig rests 6 s before the first frame, then pans slowly (0.01-0.1 rad/s), moves freely and
rests in between; the IMU has consumer-MEMS white noise (2.5e-4 rad/s/sqrt(Hz)), a 3e-5
rad/s/sqrt(s) bias random walk and a mixed mounting. IMU samples reach the grounding as they
arrive; frames (30 Hz) go through a latest-frame-only worker taking 10-70 ms, as in the node.
Per IMU rate, over ``--seeds`` runs: the largest camera orientation error of the run, the error
at the end, the worst 30 s slow pan (relative error of its angle), and what /diagnostics shows
at the end (``grounding.heading_drift_deg``) and at worst during the run
(``grounding.drift_since_rest_deg``).

Run: ``.venv/bin/python bench/bench_drift.py [--seeds 7]``.
"""
import argparse

import numpy as np

from wham_ros.geometry.frames import R_ZUP_YDOWN
from wham_ros.geometry.gravity import level_rotation
from wham_ros.geometry.grounding import GroundingConfig, WorldGrounding
from wham_ros.geometry.imu import ImuConfig
from wham_ros.geometry.so3 import angle_between
from wham_ros.testing.imu_rig import NS, LongRig, NoisyImu, play_live

DOWN = np.array([0.0, 0.0, -1.0])


def one_run(rig: LongRig, rate_hz: float, seed: int) -> dict:
    """Errors (deg, %) and diagnostics of one 5-minute run."""
    imu = NoisyImu(rate_hz=rate_hz, seed=seed)
    samples, _ = imu.samples(rig)
    g = WorldGrounding(GroundingConfig(imu=ImuConfig(R_cam_imu=imu.R_cam_imu)))
    frames = np.round(np.arange(6.0, rig.duration_s - 0.1, 1 / 30) * NS).astype(np.int64)

    def process(stamp):
        step = g.on_frame(stamp)
        return (g.world.camera_pose()[0], g.status()) if step.step else None

    played = [(t, r) for t, r in play_live(samples, frames, g.add_imu, process, seed=seed + 3) if r]
    t = np.array([s for s, _ in played]) / NS
    R_est = np.array([r[0] for _, r in played])
    C = rig.orientations(t)
    R_true = R_ZUP_YDOWN @ level_rotation(C[0].T @ DOWN) @ C[0].T @ C
    err = np.degrees(angle_between(R_est, R_true))
    pans = []
    for a, b, seg in rig.segment_times("pan"):
        if b - a == 30.0 and max(abs(x) for x in seg.rates) <= 0.03:
            i0, i1 = np.searchsorted(t, [a - 0.3, b + 0.3])
            true = angle_between(R_true[i0], R_true[i1])
            pans.append(abs(angle_between(R_est[i0], R_est[i1]) - true) / true * 100)
    status = [r[1] for _, r in played]
    return {"max_err": err.max(), "end_err": err[-1], "pan": max(pans),
            "heading_end": status[-1]["heading_drift_deg"],
            "since_rest_max": max(s["drift_since_rest_deg"] for s in status)}


def main():
    """Print one row per IMU rate: worst and median over the seeds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=7, help="runs per IMU rate")
    args = parser.parse_args()
    rig = LongRig()
    print("| IMU | runs | max orientation error, deg (worst / median) | error at 5 min, deg | "
          "worst 30 s slow pan, % | heading_drift_deg at 5 min | max drift_since_rest_deg |")
    print("|---|---|---|---|---|---|---|")
    for rate in (200.0, 400.0):
        runs = [one_run(rig, rate, seed) for seed in range(args.seeds)]
        col = {k: np.array([r[k] for r in runs]) for k in runs[0]}
        print(f"| {rate:.0f} Hz | {len(runs)} | {col['max_err'].max():.2f} / {np.median(col['max_err']):.2f} | "
              f"{np.median(col['end_err']):.2f} | {col['pan'].max():.1f} | "
              f"{np.median(col['heading_end']):.2f} | {np.median(col['since_rest_max']):.2f} |")


if __name__ == "__main__":
    main()
