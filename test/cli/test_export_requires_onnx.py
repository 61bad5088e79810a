"""``wham-ros export`` without the ``onnx`` package: one clear line, before any model loads."""
import logging
import sys

import pytest

import wham_ros.models.export_onnx as cli


@pytest.mark.parametrize("precision", [[], ["--fp16"]])   # torch.onnx.export needs onnx in both
def test_export_without_onnx_fails_fast_with_install_hint(tmp_path, monkeypatch, caplog, precision):
    monkeypatch.setitem(sys.modules, "onnx", None)           # import onnx -> ImportError
    monkeypatch.setattr(cli, "load_vitpose", lambda *a, **k: pytest.fail("loaded a model"))
    with caplog.at_level(logging.ERROR):
        assert cli.main(["vitpose", str(tmp_path / "v.pth"), str(tmp_path / "out.onnx"),
                         *precision]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["exporting needs the onnx package, which is not installed: "
                      "pip install \"wham_ros[export]\" (or: pip install onnx)"]
    assert not (tmp_path / "out.onnx").exists()
