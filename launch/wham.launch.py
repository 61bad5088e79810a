"""Launch the WHAM node (and optionally RViz).

    ros2 launch wham_ros wham.launch.py image_topic:=/camera/color/image_raw \
        camera_info_topic:=/camera/color/camera_info imu_topic:=/camera/imu rviz:=true

The node is a lifecycle node that configures and activates itself (parameter
``autostart``, default true); set ``autostart:=false`` to drive it with a lifecycle manager.
``split:=true`` starts the front-end node (``wham_frontend``: images -> person_observations)
and the WHAM-stage node (``wham_stage``: person_observations + IMU -> humans) instead of the
composed node (``wham``); both read the same parameter file.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

ARGUMENTS = [
    ("namespace", "", "Namespace of the node and its relative topics (human_pose, ...)."),
    ("image_topic", "/camera/image_raw", "Raw image topic (sensor_msgs/Image); with "
     "compressed:=true the node subscribes to <image_topic>/compressed."),
    ("compressed", "false", "Subscribe to sensor_msgs/CompressedImage on <image_topic>/compressed."),
    ("camera_info_topic", "/camera/camera_info", "sensor_msgs/CameraInfo topic."),
    ("imu_topic", "/imu/data", "sensor_msgs/Imu topic (gyro of the camera rig)."),
    ("config", "", "Parameter YAML (default: the installed config/wham.yaml)."),
    ("autostart", "true", "Configure and activate the lifecycle node at startup."),
    ("use_sim_time", "false", "Use /clock (bag playback with --clock)."),
    ("rviz", "false", "Start RViz with config/wham.rviz."),
    ("log_level", "info", "Node log level."),
    ("split", "false", "Run the front-end and the WHAM stage as two nodes (wham_frontend, "
     "wham_stage) exchanging person_observations, instead of the composed node."),
]


def _truthy(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ValueError(f"expected true or false, got '{text}'")
    return value in ("true", "1")


def _nodes(context):
    share = Path(get_package_share_directory("wham_ros"))
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    config = arg["config"] or str(share / "config" / "wham.yaml")
    compressed = _truthy(arg["compressed"])
    image = arg["image_topic"]
    remappings = [("camera_info", arg["camera_info_topic"]), ("imu", arg["imu_topic"])]
    if compressed:
        remappings.append(("image/compressed", image.rstrip("/") + "/compressed"))
    else:
        remappings.append(("image", image))
    common = {"autostart": _truthy(arg["autostart"]), "use_sim_time": _truthy(arg["use_sim_time"])}
    image_params = {"image_transport": "compressed" if compressed else "raw"}

    def wham_node(executable, name, params, remaps):
        return Node(package="wham_ros", executable=executable, name=name,
                    namespace=arg["namespace"], output="screen", emulate_tty=True,
                    remappings=remaps, parameters=[config, {**common, **params}],
                    arguments=["--ros-args", "--log-level", arg["log_level"]])

    if _truthy(arg["split"]):
        imu = [r for r in remappings if r[0] == "imu"]
        nodes = [wham_node("wham_frontend_node", "wham_frontend", image_params,
                           [r for r in remappings if r[0] != "imu"]),
                 wham_node("wham_stage_node", "wham_stage", {}, imu)]
    else:
        nodes = [wham_node("wham_node", "wham", image_params, remappings)]
    rviz = Node(package="rviz2", executable="rviz2", name="rviz2", output="log",
                arguments=["-d", str(share / "config" / "wham.rviz")],
                parameters=[{"use_sim_time": _truthy(arg["use_sim_time"])}],
                condition=IfCondition(arg["rviz"]))
    return nodes + [rviz]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=desc)
         for name, default, desc in ARGUMENTS] + [OpaqueFunction(function=_nodes)])
