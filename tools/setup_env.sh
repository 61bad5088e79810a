#!/usr/bin/env bash
# Create (or update) the project virtual environment in .venv with everything the
# package and its tests need: CPU torch, onnxruntime, OpenCV 4.x, rosbag2 readers/writers,
# and the ROS 2 Python wheels. Idempotent: a second run only checks what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# CPU build of torch (an unpinned torch would pull a multi-GB CUDA build).
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test]"
# ROS 2 package (messages + nodes) built against the ROS 2 PyPI wheels into build/ros_install.
bash tools/build_ros.sh
