"""Static checks of launch/, config/ and the CMake install rules (launch itself has no wheel)."""
import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_launch_declares_the_documented_arguments():
    tree = ast.parse((ROOT / "launch" / "wham.launch.py").read_text())
    args = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", "") == "ARGUMENTS")
    names = [elt.elts[0].value for elt in args.elts]
    assert set(names) >= {"image_topic", "compressed", "camera_info_topic", "imu_topic", "config",
                          "rviz", "use_sim_time", "namespace", "split"}
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
               for n in tree.body)


def test_rviz_config_shows_mesh_skeleton_contacts_and_tf():
    cfg = yaml.safe_load((ROOT / "config" / "wham.rviz").read_text())
    displays = cfg["Visualization Manager"]["Displays"]
    classes = {d["Class"] for d in displays}
    assert {"rviz_default_plugins/TF", "rviz_default_plugins/MarkerArray"} <= classes
    topics = {d["Topic"]["Value"] for d in displays if "Topic" in d}
    assert {"/human_pose/markers", "/human_pose/mesh"} <= topics
    assert cfg["Visualization Manager"]["Global Options"]["Fixed Frame"] == "wham_world"


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
