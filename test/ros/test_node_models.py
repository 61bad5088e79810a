"""The nodes' model start-up: the same registry, resolution and message as
``wham-ros models check`` (composed node and both split nodes)."""
import pytest

from wham_ros.models.registry import CACHE_ENV, MissingModelFiles, ModelSet
from wham_ros.ros.params import params_for


@pytest.mark.parametrize("role, factory_name", [
    ("composed", "wham_ros.ros.node:default_pipeline_factory"),
    ("frontend", "wham_ros.ros.split_nodes:default_frontend_factory"),
    ("wham", "wham_ros.ros.split_nodes:default_wham_stage_factory")])
def test_node_factories_stop_with_the_check_message(ros, tmp_path, monkeypatch, role, factory_name):
    import importlib

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    module, name = factory_name.split(":")
    factory = getattr(importlib.import_module(module), name)
    values = {spec.name: spec.default for spec in params_for(role)}
    with pytest.raises(MissingModelFiles) as err:
        factory(values, lambda text: None)
    models = ModelSet(values)
    problems = [s for s in models.status(hash_files=False) if not s.ok]
    assert str(err.value) == models.missing_message(problems)
    keys = {s.file.key for s in problems}
    assert ("detector_onnx" in keys) == (role != "wham")
    assert ("wham_checkpoint" in keys) == (role != "frontend")


def test_doctor_says_the_live_node_can_start(ros, tmp_path, synthetic_models, capsys):
    import yaml

    from synthetic_set import load_paths
    from wham_ros.cli import doctor

    config = tmp_path / "w.yaml"
    config.write_text(yaml.safe_dump({"wham": {"ros__parameters": dict(
        load_paths(synthetic_models), detector_format="yolov8", providers="cpu")}}))
    assert doctor.main(["--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "[  ok] rclpy" in out and "[  ok] wham_ros.msg" in out
    assert "live node (ros2 launch wham_ros wham.launch.py): can start" in out
