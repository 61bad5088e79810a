"""The benchmarks run and print the JSON the tables of doc/benchmarks.md come from (tiny sizes, 1 frame)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, *args, "--json"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_bench_pipeline_json_splits_host_and_network():
    res = run_bench("bench/bench_pipeline.py", "--size", "tiny", "--frames", "1", "--clock", "cpu")
    assert set(res["people"]) == {"1", "4"} and res["clock"] == "cpu"
    for people in ("1", "4"):
        row = res["people"][people]
        assert row["total_ms"] > row["network_ms"] > 0
        assert abs(row["host_ms"] - (row["total_ms"] - row["network_ms"])) < 1e-9
        assert row["host_mean_ms"] > 0
        assert set(row["stages"]) == {"detect", "keypoints", "track", "encode", "wham"}
        for name, stage in row["stages"].items():
            assert set(stage) == {"total_ms", "network_ms", "host_ms"}
            assert stage["total_ms"] >= 0 and stage["network_ms"] >= 0
        # every ONNX model and WHAM's layers ran inside the timed networks
        assert all(row["stages"][s]["network_ms"] > 0 for s in ("detect", "keypoints", "encode", "wham"))
        assert row["stages"]["track"]["network_ms"] == 0
        depth = res["depth"][people]  # the host time an aligned depth image adds
        assert depth["estimate_ms"] > 0 and depth["placement_ms"] > 0
        assert abs(depth["per_person_ms"] - (depth["estimate_ms"] + depth["placement_ms"]) / int(people)) < 1e-9


def test_bench_ros_json_times_every_builder():
    res = run_bench("bench/bench_ros.py", "--iters", "1")
    assert {"human_array", "human_array_vertices", "skeleton_markers", "mesh_markers", "tf",
            "frame_outputs"} <= set(res)
    for name, ms in res.items():
        assert set(ms) == {"1", "4"} and all(v >= 0 for v in ms.values()), name
    assert res["mesh_markers"]["4"] < res["mesh_markers_objects"]["4"]


def test_bench_wham_prints_every_engine_row():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "bench/bench_wham.py", "--iters", "1", "--tracks", "1",
                          "--no-errors"], cwd=ROOT, env=env, check=True, capture_output=True,
                         text=True, timeout=600).stdout
    rows = [r.split("|")[2].strip() for r in out.splitlines() if r.startswith("| cpu")]
    assert rows == ["stream fp32", "stream fp32", "stream fp16", "stream int8",
                    "stream fp32 static", "reference step (unfused)",
                    "batch forward T=60 (per frame)"]


def test_bench_image_rotation_json_times_each_camera_size():
    res = run_bench("bench/bench_image_rotation.py", "--frames", "12", "--clock", "cpu")
    assert res["clock"] == "cpu" and set(res["sizes"]) == {"640x480", "1280x720"}
    for row in res["sizes"].values():
        assert 0 < row["median_ms"] <= row["p95_ms"] and 0 < row["mean_ms"] < row["p95_ms"]
        # a pair per ~0.1 s: 11 frames after the first at 30 Hz, 3 or 4 looked at
        assert row["frames"] == 11 and 3 <= row["looked_at"] <= 4
        assert row["refused"] == 0 and row["fitted"] >= 2  # the textured scene: no pair refused


def test_bench_tracking_json_before_and_after():
    res = run_bench("bench/bench_tracking.py", "--scenes", "look_alikes")
    assert set(res) == {"look_alikes"}
    row = res["look_alikes"]
    assert row["frames"] == 180 and row["ms_per_frame"] > 0
    assert row["after"]["idf1"] >= 0.95 and row["after"]["num_switches"] == 0
    assert row["before"]["idf1"] < row["after"]["idf1"]
