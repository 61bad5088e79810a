#!/usr/bin/env bash
# One-shot GPU check: builds synthetic models in place and prints one table of per-stage
# times (1/4/8 people) for every backend this machine has, WHAM eager vs graph, end-to-end
# FPS and latency through the real Pipeline, and peak GPU memory (see bench/gpu_check.py).
#
#   bench/gpu_check.sh                 # on a GPU machine (about 5-8 minutes)
#   bench/gpu_check.sh --cpu-smoke     # same code paths, tiny models on CPU (CI)
#   PYTHON=/usr/bin/python3 bench/gpu_check.sh --cpu-smoke
#
# Runs with the Python it is given (PYTHON), else the repository's .venv, else python3;
# installs nothing and downloads nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" "$ROOT/bench/gpu_check.py" "$@"
