"""The doctor tells "messages built but not sourced" apart from "not built", with the line to
source."""
import sys

from wham_ros.cli import doctor as doctor_cli
from wham_ros.models import doctor


def _fake_build(prefix, python="python3.12", site="lib/{py}/site-packages"):
    msg = prefix / site.format(py=python) / "wham_ros" / "msg"
    msg.mkdir(parents=True)
    (msg / "__init__.py").write_text("")


def test_not_built(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "tools").mkdir(parents=True)
    builds = doctor.message_builds(checkout, tmp_path)
    assert builds == []
    finding = doctor.messages_finding(builds)
    assert "not built" in finding.text and "bash tools/build_ros.sh" in finding.fix


def test_built_by_build_ros_but_not_sourced(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "tools").mkdir(parents=True)
    _fake_build(checkout / "build" / "ros_install")
    builds = doctor.message_builds(checkout, tmp_path / "elsewhere")
    assert builds == [(checkout / "build" / "ros_install",
                       f"source {checkout / 'tools' / 'ros_env.sh'}")]
    finding = doctor.messages_finding(builds)
    assert "built in" in finding.text and "not sourced" in finding.text
    assert finding.fix == f"source {checkout / 'tools' / 'ros_env.sh'}"  # one line, nothing else


def test_built_by_colcon_but_not_sourced(tmp_path):
    ws = tmp_path / "ws"
    _fake_build(ws / "install" / "wham_ros")  # colcon's isolated layout
    builds = doctor.message_builds(None, ws)
    assert [line for _, line in builds] == [f"source {ws / 'install' / 'setup.bash'}"]


def test_doctor_prints_the_line_to_source(tmp_path, monkeypatch, capsys):
    """End to end: rclpy present, wham_ros.msg not importable, a build in the checkout."""
    checkout = tmp_path / "checkout"
    (checkout / "tools").mkdir(parents=True)
    _fake_build(checkout / "build" / "ros_install", python="python3.11")
    monkeypatch.setattr(doctor, "checkout_root", lambda: checkout)
    monkeypatch.setitem(sys.modules, "wham_ros.msg", None)  # import raises ImportError
    monkeypatch.chdir(tmp_path)
    if doctor._version("rclpy") is None:
        monkeypatch.setitem(sys.modules, "rclpy", type(sys)("rclpy"))
    doctor_cli.main(["--dir", str(tmp_path / "models")])
    out = capsys.readouterr().out
    assert "[warn] wham_ros.msg" in out and "not sourced" in out
    assert f"fix: source {checkout / 'tools' / 'ros_env.sh'}" in out


def test_doctor_without_onnxruntime_says_fail_instead_of_crashing(tmp_path, monkeypatch):
    """No onnxruntime (default providers 'auto'): one FAIL finding with the install line, and
    the TensorRT check, which needs onnxruntime, adds nothing."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    findings = doctor.diagnose({"providers": "auto"}, str(tmp_path / "models"))
    ort = [f for f in findings if f.topic == "onnxruntime"]
    assert [f.level for f in ort] == [doctor.FAIL] and "pip install onnxruntime" in ort[0].fix
    assert doctor.check_tensorrt_models({"providers": "tensorrt"}, str(tmp_path)) == []
    assert "cannot start" in doctor.format_findings(findings)
