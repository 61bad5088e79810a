"""ROS-free installation of wham_ros (``pip install -e .``).

Under ROS 2 the package is built by colcon/ament_cmake (CMakeLists.txt), which also
generates the messages in msg/. This file serves the core, the offline runner and tests.
"""
import glob

from setuptools import find_packages, setup

setup(
    name="wham_ros",
    version="0.1.0",
    description="Live, world-grounded 3D humans (WHAM) for ROS 2",
    license="MIT",
    packages=find_packages(include=["wham_ros", "wham_ros.*"]),
    package_data={"wham_ros.bag": ["hri_msgs/msg/*.msg", "hri_msgs/README.md"]},
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "torch>=2.6",
        "onnxruntime>=1.17",
        "opencv-python-headless>=4.5,<5",
        "rosbags>=0.10",
        "scipy>=1.10",
        "tqdm",
        "pyyaml",
    ],
    extras_require={
        "test": ["pytest>=7", "ruff", "onnx", "smplx", "mcap", "mcap-ros2-support", "scikit-image",
                 "motmetrics"],
        # mediapipe 0.10.21 itself declares numpy<2 and protobuf<5 but runs with numpy 2 and
        # protobuf 6; install it with: pip install -e ".[mediapipe]" &&
        # pip install --no-deps mediapipe==0.10.21
        "mediapipe": ["absl-py", "attrs", "flatbuffers", "matplotlib", "protobuf>=4.25.3,<7"],
        "export": ["onnx"],
        # GPU execution providers (CUDA, TensorRT). onnxruntime-gpu provides the same
        # `onnxruntime` module: uninstall the CPU wheel first (see doc/gpu.md).
        "gpu": ["onnxruntime-gpu>=1.17"],
    },
    entry_points={"console_scripts": [
        "wham-ros = wham_ros.cli.main:main",
        "wham_node = wham_ros.ros.node:main",
        "wham_frontend_node = wham_ros.ros.split_nodes:frontend_main",
        "wham_stage_node = wham_ros.ros.split_nodes:wham_stage_main",
    ]},
    data_files=[("share/wham_ros/msg", sorted(glob.glob("msg/*.msg")))],
)
