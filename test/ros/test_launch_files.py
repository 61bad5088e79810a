"""launch/, config/ and the CMake install rules.

Static checks always run. With the real ``launch``/``launch_ros`` libraries importable (a ROS
installation; they have no PyPI wheels) the launch description is also evaluated with the
launch API, and started for real in a loopback-only namespace.
"""
import ast
import importlib.util
import os
import sys
from pathlib import Path

import pytest
import yaml

from wham_ros.ros.rviz_config import render_rviz_config, resolve_topic, world_frame_from_params

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LAUNCH_FILE = ROOT / "launch" / "wham.launch.py"


def _arguments():
    tree = ast.parse(LAUNCH_FILE.read_text())
    args = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", "") == "ARGUMENTS")
    return {elt.elts[0].value: elt.elts[3] for elt in args.elts}, tree


def test_launch_declares_the_documented_arguments_with_choices_for_booleans():
    args, tree = _arguments()
    assert set(args) >= {"image_topic", "compressed", "camera_info_topic", "imu_topic", "config",
                         "rviz", "use_sim_time", "namespace", "split", "autostart", "log_level"}
    for name in ("compressed", "autostart", "use_sim_time", "rviz", "split", "log_level"):
        assert isinstance(args[name], ast.Name), f"{name} declares no choices"
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
               for n in tree.body)
    docs = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "doc").glob("*.md"))])
    for name in args:
        assert f"`{name}`" in docs, f"launch argument {name} is not in the README or doc/"


def test_rviz_config_shows_mesh_skeleton_contacts_and_tf():
    cfg = yaml.safe_load((ROOT / "config" / "wham.rviz").read_text())
    displays = cfg["Visualization Manager"]["Displays"]
    classes = {d["Class"] for d in displays}
    assert {"rviz_default_plugins/TF", "rviz_default_plugins/MarkerArray"} <= classes
    topics = {d["Topic"]["Value"] for d in displays if "Topic" in d}
    assert {"/human_pose/markers", "/human_pose/mesh"} <= topics
    assert cfg["Visualization Manager"]["Global Options"]["Fixed Frame"] == "wham_world"


def test_rviz_config_follows_namespace_image_topic_and_world_frame(tmp_path):
    text = render_rviz_config((ROOT / "config" / "wham.rviz").read_text(), "/robot1",
                              "/cam/front/image_raw", "odom")
    cfg = yaml.safe_load(text)
    topics = {d["Name"]: d["Topic"]["Value"] for d in cfg["Visualization Manager"]["Displays"]
              if "Topic" in d}
    assert topics["SMPL meshes"] == "/robot1/human_pose/mesh"
    assert topics["Skeletons and foot contacts"] == "/robot1/human_pose/markers"
    assert topics["Camera"] == "/cam/front/image_raw"
    assert cfg["Visualization Manager"]["Global Options"]["Fixed Frame"] == "odom"
    assert resolve_topic("image", "robot1") == "/robot1/image"
    assert resolve_topic("image", "") == "/image"
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"world_frame_id": "map"}}}))
    assert world_frame_from_params(str(params)) == "map"
    assert world_frame_from_params(str(ROOT / "config" / "wham.yaml")) == "wham_world"


def test_cmake_installs_what_ros2_run_and_launch_need():
    lines = (ROOT / "CMakeLists.txt").read_text().splitlines()
    text = "\n".join(line.split("#")[0] for line in lines)  # code only
    gen = text.index("rosidl_generate_interfaces(")
    assert text.index("install(DIRECTORY wham_ros/") > gen  # after rosidl, see ros2/rosidl_python#141
    assert "ament_python_install_package" not in text
    for msg in sorted((ROOT / "msg").glob("*.msg")):
        assert f'"msg/{msg.name}"' in text
    for script in ("scripts/wham_node", "scripts/wham_frontend_node", "scripts/wham_stage_node",
                   "scripts/wham-ros"):
        assert script in text and (ROOT / script).stat().st_mode & 0o111


# ---------------------------------------------------------------- the real launch API
def _launch_api():
    try:
        import launch  # noqa: F401
        import launch_ros  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"launch/launch_ros not importable ({exc}); they come with a ROS "
                    "installation (no PyPI wheels), static checks above still ran")
    import ros_env

    ok, reason = ros_env.check()
    if not ok:
        pytest.skip(reason)
    ros_env.activate()
    spec = importlib.util.spec_from_file_location("wham_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _evaluate(module, **overrides):
    """Declared arguments executed (validates choices), then the node actions of ``_nodes``."""
    from launch import LaunchContext

    ld = module.generate_launch_description()
    context = LaunchContext()
    context.launch_configurations.update(overrides)
    for action in ld.entities[:-1]:
        action.execute(context)
    return context, ld.entities[-1].execute(context)


def test_launch_api_rejects_a_bad_boolean_naming_the_argument():
    module = _launch_api()
    with pytest.raises(Exception, match="split"):
        _evaluate(module, split="yes")


def test_launch_api_log_level_targets_the_node_loggers_only():
    module = _launch_api()
    from launch_ros.actions import Node

    context, actions = _evaluate(module, namespace="robot1", split="true", log_level="debug")
    nodes = [a for a in actions if isinstance(a, Node)]
    assert len(nodes) == 2
    for node in nodes:
        node._perform_substitutions(context)
        arguments = node._Node__arguments
        level = arguments[arguments.index("--log-level") + 1]
        assert level == f"robot1.{node.node_name.rsplit('/', 1)[1]}:=debug"


def test_launch_api_without_rviz2_warns_first_and_starts_no_rviz(monkeypatch):
    module = _launch_api()
    from launch.actions import LogInfo
    from launch_ros.actions import Node

    if os.environ.get("AMENT_PREFIX_PATH") and any(
            (Path(p) / "share" / "rviz2").is_dir()
            for p in os.environ["AMENT_PREFIX_PATH"].split(os.pathsep)):
        pytest.skip("rviz2 is installed here")
    _, actions = _evaluate(module, rviz="true")
    assert isinstance(actions[0], LogInfo)
    assert all(isinstance(a, Node) and a.node_package == "wham_ros" for a in actions[1:])


def test_launch_starts_activates_and_stops_cleanly_without_orphans(request, tmp_path):
    """rviz:=true with no rviz2, split nodes in a namespace: both activate; Ctrl-C ends all."""
    _launch_api()
    synthetic_models = request.getfixturevalue("synthetic_models")
    import netns
    import synthetic_set

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": dict(
        synthetic_set.load_paths(synthetic_models), providers="cpu", detector_format="yolov8")}}))
    proc = netns.run_isolated([sys.executable, str(HERE / "scenario_launch.py"), str(params),
                               "rviz:=true", "split:=true", "namespace:=robot1"], timeout=150)
    result = netns.result_of(proc, "launch scenario")
    assert result["activated"] == 2, result["log_tail"]
    assert len(result["started"]) >= 2
    assert result["left"] == [], f"processes left running: {result['left']}"
    assert result["return_code"] == 0
