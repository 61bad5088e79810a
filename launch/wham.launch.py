"""Launch the WHAM node (and optionally RViz).

    ros2 launch wham_ros wham.launch.py image_topic:=/camera/color/image_raw \
        camera_info_topic:=/camera/color/camera_info imu_topic:=/camera/imu rviz:=true

On a robot, ``fixed_frame:=odom`` (or ``map``) puts every world output into that frame of
the robot's TF tree (see doc/robot.md).

The node is a lifecycle node that configures and activates itself (parameter
``autostart``, default true); set ``autostart:=false`` to drive it with a lifecycle manager.
``split:=true`` starts the front-end node (``wham_frontend``: images -> person_observations)
and the WHAM-stage node (``wham_stage``: person_observations + IMU -> humans) instead of the
composed node (``wham``); both read the same parameter file (use the ``/**:`` key).
``log_level`` applies to the WHAM node loggers only (not to rcl/rmw). ``rviz:=true`` renders
``config/wham.rviz`` for the namespace, image topic and world frame of this launch; without
an installed ``rviz2`` it warns and starts the nodes alone.
"""
import tempfile
from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

BOOL = ("true", "false")
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
# (name, default, description, choices or None)
ARGUMENTS = [
    ("namespace", "", "Namespace of the node and its relative topics (human_pose, ...).", None),
    ("image_topic", "/camera/image_raw", "Raw image topic (sensor_msgs/Image); with "
     "compressed:=true the node subscribes to <image_topic>/compressed.", None),
    ("compressed", "false", "Subscribe to sensor_msgs/CompressedImage on "
     "<image_topic>/compressed.", BOOL),
    ("camera_info_topic", "/camera/camera_info", "sensor_msgs/CameraInfo topic.", None),
    ("imu_topic", "/imu/data", "sensor_msgs/Imu topic (gyro of the camera rig).", None),
    ("config", "", "Parameter YAML (default: the installed config/wham.yaml).", None),
    ("fixed_frame", "", "A z-up frame of the robot's TF tree (odom, map) for every world "
     "output (empty: the parameter file's fixed_frame, by default the node's own "
     "wham_world).", None),
    ("autostart", "true", "Configure and activate the lifecycle node at startup.", BOOL),
    ("use_sim_time", "false", "Use /clock (bag playback with --clock).", BOOL),
    ("rviz", "false", "Start RViz with config/wham.rviz (topics follow namespace and "
     "image_topic).", BOOL),
    ("log_level", "info", "Log level of the WHAM node(s) (not of rcl/rmw).", LOG_LEVELS),
    ("split", "false", "Run the front-end and the WHAM stage as two nodes (wham_frontend, "
     "wham_stage) exchanging person_observations, instead of the composed node.", BOOL),
]


def logger_name(namespace: str, node_name: str) -> str:
    """rcl logger name of a node: its namespace and name joined by dots."""
    return ".".join([p for p in namespace.strip("/").split("/") if p] + [node_name])


def _rviz(share: Path, arg: dict, config: str):
    """The RViz node (first, so a missing rviz2 fails before any WHAM node starts), or a warning."""
    try:
        get_package_share_directory("rviz2")
    except PackageNotFoundError:
        return LogInfo(msg="[wham.launch] rviz:=true but rviz2 is not installed "
                           "(apt install ros-$ROS_DISTRO-rviz2); starting without RViz")
    from wham_ros.ros.rviz_config import render_rviz_config, world_frame_from_params

    text = render_rviz_config((share / "config" / "wham.rviz").read_text(), arg["namespace"],
                              arg["image_topic"],
                              arg["fixed_frame"] or world_frame_from_params(config))
    out = Path(tempfile.mkdtemp(prefix="wham_rviz_")) / "wham.rviz"
    out.write_text(text)
    return Node(package="rviz2", executable="rviz2", name="rviz2", output="log",
                arguments=["-d", str(out)],
                parameters=[{"use_sim_time": arg["use_sim_time"] == "true"}])


def _nodes(context):
    share = Path(get_package_share_directory("wham_ros"))
    arg = {name: LaunchConfiguration(name).perform(context).strip() for name, *_ in ARGUMENTS}
    config = arg["config"] or str(share / "config" / "wham.yaml")
    image = arg["image_topic"]
    remappings = [("camera_info", arg["camera_info_topic"]), ("imu", arg["imu_topic"])]
    if arg["compressed"] == "true":
        remappings.append(("image/compressed", image.rstrip("/") + "/compressed"))
    else:
        remappings.append(("image", image))
    common = {"autostart": arg["autostart"] == "true",
              "use_sim_time": arg["use_sim_time"] == "true"}
    image_params = {"image_transport": "compressed" if arg["compressed"] == "true" else "raw"}
    world_params = {"fixed_frame": arg["fixed_frame"]} if arg["fixed_frame"] else {}

    def wham_node(executable, name, params, remaps):
        return Node(package="wham_ros", executable=executable, name=name,
                    namespace=arg["namespace"], output="screen", emulate_tty=True,
                    remappings=remaps, parameters=[config, {**common, **params}],
                    arguments=["--ros-args", "--log-level",
                               f"{logger_name(arg['namespace'], name)}:={arg['log_level']}"])

    actions = [_rviz(share, arg, config)] if arg["rviz"] == "true" else []
    if arg["split"] == "true":
        imu = [r for r in remappings if r[0] == "imu"]
        actions += [wham_node("wham_frontend_node", "wham_frontend", image_params,
                              [r for r in remappings if r[0] != "imu"]),
                    wham_node("wham_stage_node", "wham_stage", world_params, imu)]
    else:
        actions.append(wham_node("wham_node", "wham", {**image_params, **world_params},
                                 remappings))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=desc,
                               **({"choices": list(choices)} if choices else {}))
         for name, default, desc, choices in ARGUMENTS] + [OpaqueFunction(function=_nodes)])
