"""The core (everything outside wham_ros/ros) imports with rclpy and the ROS messages absent."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r'''
import importlib, pkgutil, sys
ROS = ("rclpy", "rosidl_runtime_py", "sensor_msgs", "std_msgs", "geometry_msgs",
       "visualization_msgs", "diagnostic_msgs", "tf2_msgs", "tf2_py", "tf2_ros", "hri_msgs",
       "launch", "launch_ros", "message_filters")

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ROS or name.startswith("wham_ros.msg"):
            raise ImportError("ROS is blocked: " + name)

sys.meta_path.insert(0, Block())
import wham_ros
names = [m.name for m in pkgutil.walk_packages(wham_ros.__path__, "wham_ros.")
         if not m.name.startswith(("wham_ros.ros.", "wham_ros.msg"))]
for name in names:
    importlib.import_module(name)
print(len(names))
'''


def test_core_modules_import_without_ros():
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 60  # every core module was imported
