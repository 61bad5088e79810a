"""Error of the WHAM step's precision modes, on the parity fixture and on a long sequence.

Used by ``bench/bench_wham.py`` (doc/benchmarks.md numbers) and ``test/wham/test_step_engine.py`` (their
bounds). The long sequence plays the parity fixture's T60 inputs forwards and backwards
(ping-pong: every step continues smoothly) for as many frames as asked.
"""
import os
from typing import Dict, List, Tuple

import numpy as np
import torch

from wham_ros.wham.streaming import StreamingWHAM, WHAMFrame

PARITY_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "test", "data", "wham_parity")
# Streaming output -> parity fixture key (y-down world, per frame).
PARITY_KEYS = {"pose": "pose", "betas": "betas", "cam": "cam", "contact": "contact",
               "feet": "feet", "vel_root_refined": "vel_root_refined",
               "poses_root_world": "poses_root_world_ydown", "trans_world": "trans_world_ydown",
               "trans_cam": "trans_cam", "poses_body": "poses_body",
               "joints_cam": "smpl_joints_cam"}


def load_parity(T: int, root: str = PARITY_DIR):
    """(inputs, outputs) npz of the fixture's sequence ``T`` (24 or 60)."""
    return (np.load(os.path.join(root, f"inputs_T{T}.npz")),
            np.load(os.path.join(root, f"outputs_T{T}.npz")))


def fixture_frame(i, t: int) -> WHAMFrame:
    """Frame ``t`` of a fixture inputs npz."""
    return WHAMFrame(x=i["x"][0, t], mask=i["mask"][0, t], features=i["features"][0, t],
                     cam_angvel=i["cam_angvel"][0, t], cam_intrinsics=i["cam_intrinsics"][0, 0],
                     bbox=i["bbox"][0, t], res=i["res"][0])


def start_fixture_track(eng: StreamingWHAM, tid, i) -> None:
    eng.start_track(tid, i["init_kp"][0, 0], i["init_smpl"][0, 0], i["init_root"][0, 0],
                    first_features=i["features"][0, 0])


def pingpong_frames(i, n: int) -> List[WHAMFrame]:
    """``n`` frames of a fixture sequence played 0..T-1, T-2..0, 1..T-1, …"""
    T = i["x"].shape[1]
    period = 2 * (T - 1)
    return [fixture_frame(i, t % period if t % period < T else period - t % period)
            for t in range(n)]


def run_track(eng: StreamingWHAM, i, frames: List[WHAMFrame],
              keys=tuple(PARITY_KEYS)) -> Dict[str, np.ndarray]:
    """Stream one track; returns key -> (T, ...) float64 outputs."""
    start_fixture_track(eng, "a", i)
    out: Dict[str, List[np.ndarray]] = {k: [] for k in keys}
    for fr in frames:
        res = eng.step({"a": fr})["a"]
        for k in keys:
            out[k].append(res[k].double().cpu().numpy())
    eng.end_track("a")
    return {k: np.stack(v) for k, v in out.items()}


def parity_error(eng: StreamingWHAM, T: int = 60) -> Tuple[float, str]:
    """Max over outputs of max|Δ| / max(1, max|ref|) against the float64 reference.

    Returns:
        (error, the output where it is largest).
    """
    i, o = load_parity(T)
    got = run_track(eng, i, [fixture_frame(i, t) for t in range(T)])
    errs = {}
    for k, ref_key in PARITY_KEYS.items():
        ref = o[ref_key]
        ref = ref.reshape((T,) + ref.shape[2:]) if ref.shape[0] == 1 else ref
        errs[k] = float(np.abs(got[k] - ref).max() / max(1.0, np.abs(ref).max()))
    worst = max(errs, key=errs.get)
    return errs[worst], worst


DRIFT_KEYS = ("trans_world", "joints_cam", "pose")


def long_sequence(eng: StreamingWHAM, n: int = 600) -> Dict[str, np.ndarray]:
    """Outputs (:data:`DRIFT_KEYS`) of an ``n``-frame ping-pong sequence of the T60 track."""
    i, _ = load_parity(60)
    return run_track(eng, i, pingpong_frames(i, n), DRIFT_KEYS)


def drift(a: Dict[str, np.ndarray], exact: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Differences of :func:`long_sequence` outputs ``a`` to the exact engine's.

    Returns:
        ``trans_mm``: max |Δ trans_world| (mm; world trajectory drift), ``trans_end_mm`` at the
        last frame, ``path_m``: length of the exact trajectory (m), ``joints_mm``: max
        |Δ joints_cam| (hip-centred, mm), ``pose``: max |Δ| of the 6D pose.
    """
    dt = np.linalg.norm(a["trans_world"] - exact["trans_world"], axis=-1) * 1e3
    path = np.linalg.norm(np.diff(exact["trans_world"], axis=0), axis=-1).sum()
    return {"trans_mm": float(dt.max()), "trans_end_mm": float(dt[-1]), "path_m": float(path),
            "joints_mm": float(np.linalg.norm(a["joints_cam"] - exact["joints_cam"],
                                              axis=-1).max() * 1e3),
            "pose": float(np.abs(a["pose"] - exact["pose"]).max())}


@torch.no_grad()
def precision_report(net, precisions=("fp32", "fp16", "int8"), n: int = 600
                     ) -> Dict[str, Dict[str, float]]:
    """Parity-fixture error and long-sequence drift (vs fp32) of each precision."""
    exact = StreamingWHAM(net)
    ref = long_sequence(exact, n)
    out = {}
    for p in precisions:
        eng = exact if p == "fp32" else StreamingWHAM(net, precision=p)
        err, worst = parity_error(eng)
        out[p] = {"parity_rel": err, "parity_worst": worst}
        if p != "fp32":
            out[p].update(drift(long_sequence(eng, n), ref))
    return out
