"""Split mode pieces that need no DDS: the WHAM stage's slot merge, parameter roles, launch."""
import importlib.util
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from wham_ros.ros.params import COMPOSED_ONLY, FRONTEND_ONLY, PARAMS, WHAM_ONLY, params_for

ROOT = Path(__file__).resolve().parents[2]


def test_replaced_observations_keep_their_ended_tracks(ros):
    from wham_ros.ros.split_nodes import WhamStageNode

    merge = WhamStageNode._merge_replaced  # pure: no node state is used
    first = SimpleNamespace(ended_track_ids=[4])
    second = SimpleNamespace(ended_track_ids=[6, 7])
    third = SimpleNamespace(ended_track_ids=[])
    slot = merge(None, (first, ()), (second, ()))
    slot = merge(None, slot, (third, ()))
    assert slot == (third, (4, 6, 7))


def test_parameter_roles_partition_the_parameters():
    names = {p.name for p in PARAMS}
    assert FRONTEND_ONLY <= names and WHAM_ONLY <= names and not FRONTEND_ONLY & WHAM_ONLY
    fe = {p.name for p in params_for("frontend")}
    stage = {p.name for p in params_for("wham")}
    assert fe | stage | COMPOSED_ONLY == names == {p.name for p in params_for("composed")}
    assert not COMPOSED_ONLY & (fe | stage)  # the overlay needs the image and WHAM's output
    assert "detector_onnx" in fe - stage and "wham_checkpoint" in stage - fe
    assert {"frame_rate_mode", "time_jump_tolerance_s", "autostart"} <= fe & stage
    with pytest.raises(ValueError, match="Unknown node role 'both'"):
        params_for("both")


class _Node:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


def _launch_nodes(monkeypatch, **args):
    """Run launch/wham.launch.py's node function with stand-ins for the launch packages."""
    defaults = {"namespace": "", "image_topic": "/cam/image_raw", "compressed": "false",
                "camera_info_topic": "/cam/info", "imu_topic": "/imu", "config": "/p.yaml",
                "autostart": "true", "use_sim_time": "false", "rviz": "false",
                "log_level": "info", "split": "false", "fixed_frame": ""}
    defaults.update(args)
    stubs = {
        "ament_index_python": None,
        "ament_index_python.packages": SimpleNamespace(get_package_share_directory=lambda p: "/share",
                                                       PackageNotFoundError=LookupError),
        "launch": SimpleNamespace(LaunchDescription=list),
        "launch.actions": SimpleNamespace(DeclareLaunchArgument=None, OpaqueFunction=None,
                                          LogInfo=None),
        "launch.substitutions": SimpleNamespace(LaunchConfiguration=lambda name: SimpleNamespace(
            perform=lambda context: context[name])),
        "launch_ros": None,
        "launch_ros.actions": SimpleNamespace(Node=_Node),
    }
    for name, mod in stubs.items():
        m = types.ModuleType(name)
        if mod is not None:
            m.__dict__.update(vars(mod))
        monkeypatch.setitem(sys.modules, name, m)
    spec = importlib.util.spec_from_file_location("wham_launch", ROOT / "launch" / "wham.launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    return [n.kwargs for n in launch._nodes(defaults) if n.kwargs.get("package") == "wham_ros"]


def test_launch_composed_by_default(monkeypatch):
    (node,) = _launch_nodes(monkeypatch)
    assert (node["executable"], node["name"]) == ("wham_node", "wham")
    assert sorted(node["remappings"]) == [("camera_info", "/cam/info"), ("image", "/cam/image_raw"),
                                          ("imu", "/imu")]
    assert node["parameters"][0] == "/p.yaml" and node["parameters"][1]["image_transport"] == "raw"


def test_launch_fixed_frame_goes_to_the_node_that_grounds(monkeypatch):
    (node,) = _launch_nodes(monkeypatch, fixed_frame="odom")
    assert node["parameters"][1]["fixed_frame"] == "odom"
    assert "fixed_frame" not in _launch_nodes(monkeypatch)[0]["parameters"][1]  # the file's value
    fe, stage = _launch_nodes(monkeypatch, split="true", fixed_frame="map")
    assert stage["parameters"][1]["fixed_frame"] == "map"
    assert "fixed_frame" not in fe["parameters"][1]  # the front-end does not declare it


def test_launch_split(monkeypatch):
    fe, stage = _launch_nodes(monkeypatch, split="true", compressed="true")
    assert (fe["executable"], fe["name"]) == ("wham_frontend_node", "wham_frontend")
    assert (stage["executable"], stage["name"]) == ("wham_stage_node", "wham_stage")
    assert sorted(fe["remappings"]) == [("camera_info", "/cam/info"),
                                        ("image/compressed", "/cam/image_raw/compressed")]
    assert stage["remappings"] == [("imu", "/imu")]
    assert fe["parameters"][1]["image_transport"] == "compressed"
    assert "image_transport" not in stage["parameters"][1]  # the stage does not declare it
    # A bad boolean (split:=maybe) is refused by launch itself from the declared choices
    # (test_launch_files.py).
