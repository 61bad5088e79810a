# Source this file (bash/zsh) to use the package built by tools/build_ros.sh by hand:
#     source tools/ros_env.sh
# It activates .venv and puts the checkout's wham_ros first on PYTHONPATH with the
# generated messages (build/ros_install) after it, so `import wham_ros.msg`, `ros2`-style
# executables in build/ros_install/lib/wham_ros and `python -m wham_ros.ros.node` work.
# With a colcon workspace, source its install/setup.bash instead.
_wham_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
_wham_prefix=$_wham_root/build/ros_install
. "$_wham_root/.venv/bin/activate"
for _wham_sp in "$_wham_prefix"/lib/python3*/site-packages; do :; done
export PYTHONPATH=$_wham_root:$_wham_sp${PYTHONPATH:+:$PYTHONPATH}
export LD_LIBRARY_PATH=$_wham_prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export AMENT_PREFIX_PATH=$_wham_prefix:$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}
unset _wham_root _wham_prefix _wham_sp
