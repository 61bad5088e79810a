"""bench/gpu_check.sh --cpu-smoke: the GPU check's code paths on CPU, its table parsed."""
import os
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]


def _table(stdout: str):
    lines = [ln for ln in stdout.splitlines() if ln.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return header, [dict(zip(header, (c.strip() for c in ln.strip("|").split("|"))))
                    for ln in lines[1:]]


def test_cpu_smoke_prints_the_table():
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--cpu-smoke"],
                          capture_output=True, text=True, env=env, timeout=600, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GPU: none visible to torch" in proc.stdout
    header, rows = _table(proc.stdout)
    assert header == ["stage", "provider", "precision", "crops", "wham", "1 pers.", "4 pers.",
                      "8 pers.", "unit", "peak GPU MB", "note"]
    by_key = {(r["stage"], r["provider"], r["precision"], r["crops"], r["wham"]): r for r in rows}
    for r in rows:  # every row names its provider, and WHAM rows their mode
        assert r["provider"].split("-")[0] in ("torch", "ort") and r["provider"] != "ort-"
        if r["stage"].startswith(("wham", "pipeline")):
            assert r["wham"] in ("eager", "graph")
        assert "failed" not in r["note"], r
    for stage in ("vitpose (flip)", "hmr2"):
        for precision in ("fp32", "fp16", "bf16"):
            row = by_key[stage, "torch-cpu", precision, "device", "-"]
            assert all(float(row[f"{n} pers."]) > 0 for n in (1, 4, 8))
        assert float(by_key[stage, "torch-cpu", "fp32", "opencv", "-"]["8 pers."]) > 0
        assert float(by_key[stage, "ort-CPU", "fp32", "device", "-"]["4 pers."]) > 0
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            assert by_key[stage, "ort-CUDA", "fp32", "device", "-"]["note"].startswith(
                "skipped: onnxruntime")
    assert float(by_key["wham step", "torch-cpu", "fp32", "-", "eager"]["8 pers."]) > 0
    fps = by_key["pipeline FPS", "torch-cpu", "fp32", "device", "eager"]
    assert float(fps["1 pers."]) > 0 and float(fps["4 pers."]) > 0 and fps["8 pers."] == "-"
    assert "people found per frame: 1.0, 4.0; WHAM fp32, front-end fp32" in fps["note"]
    assert float(by_key["pipeline latency p95", "torch-cpu", "fp32", "device", "eager"]["4 pers."]) > 0
    for precision in ("fp32", "fp16"):
        graph = by_key["wham step", "torch-cpu", precision, "-", "graph"]
        assert float(graph["8 pers."]) > 0 and graph["note"] == "CPU: graph-shaped step, no capture"
    graph_fps = by_key["pipeline FPS", "torch-cpu", "fp32", "device", "graph"]
    assert float(graph_fps["4 pers."]) > 0
