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
# MediaPipe BlazePose fallback (weights ship in the wheel). mediapipe 0.10.21 declares
# numpy<2 / protobuf<5 but runs with numpy 2 and protobuf 6, hence --no-deps + the extra.
python -m pip install -q -e ".[mediapipe]"
python -m pip install -q --no-deps "mediapipe==0.10.21"
# ROS 2 package (messages + nodes) built against the ROS 2 PyPI wheels into build/ros_install.
bash tools/build_ros.sh
