"""``wham-ros <verb>``: the dispatcher, every verb's --help, ``models list/check`` and ``doctor``
with and without the model files (CPU provider only), and the runner's start-up check using
the same registry."""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthetic_set import load_paths
from wham_ros.models.registry import CACHE_ENV, ModelSet, resolve_model_paths
from wham_ros.cli import doctor
from wham_ros.cli.main import VERBS, main

ROOT = Path(__file__).resolve().parents[2]


def write_config(path, **values):
    path.write_text(yaml.safe_dump({"wham": {"ros__parameters": values}}))
    return str(path)


@pytest.fixture
def synthetic_config(tmp_path, synthetic_models):
    return write_config(tmp_path / "wham.yaml", **load_paths(synthetic_models),
                        detector_format="yolov8", providers="cpu")


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """The default model cache is an empty folder (never the user's ~/.cache)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    return cache


def test_help_lists_verbs(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in ("run", "demo", "export", "convert-smpl", "models", "doctor"):
        assert f"\n  {verb} " in out
    assert main([]) == 2


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_help(verb, capsys):
    assert main([verb, "--help"]) == 0
    assert f"usage: wham-ros {verb}" in capsys.readouterr().out


def test_models_subcommands_have_help(capsys):
    for action in ("list", "check", "fetch"):
        assert main(["models", action, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--config" in out and "--dir" in out
    assert "--smpl" in out


def test_dispatch_errors_and_old_form(capsys):
    assert main(["--bogus"]) == 2
    assert "unknown option" in capsys.readouterr().err
    assert main(["models"]) == 2  # argparse: the action is required
    # the old verb-less form is 'run' (here: a missing input, exit 2 from the runner)
    assert main(["/nonexistent/recording.mcap", "-o", "/nonexistent/out"]) == 2
    assert "running 'wham-ros run /nonexistent/recording.mcap" in capsys.readouterr().err


def test_console_script_entry_point():
    """setup.py's ``wham-ros`` is the dispatcher, and it runs as a process."""
    assert "wham-ros = wham_ros.cli.main:main" in (ROOT / "setup.py").read_text()
    proc = subprocess.run([sys.executable, "-m", "wham_ros.cli.main", "--help"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and "doctor" in proc.stdout


def test_models_check_with_the_files(synthetic_config, synthetic_models, capsys):
    paths = load_paths(synthetic_models)
    assert main(["models", "check", "--config", synthetic_config]) == 0
    out = capsys.readouterr().out
    npz = os.path.join(paths["body_model_dir"], "smpl", "SMPL_NEUTRAL.npz")
    digest = hashlib.sha256(Path(npz).read_bytes()).hexdigest()
    assert npz in out and f"sha256 {digest}" in out
    for key in ("wham_checkpoint", "smpl_neutral", "j_regressor_wham", "j_regressor_feet",
                "detector_onnx", "vitpose_onnx", "hmr2_onnx"):
        assert f"  {key} " in out
    assert "MISSING" not in out and "7 of 7 file(s) present" in out


def test_models_check_without_the_files(tmp_path, capsys):
    cache = tmp_path / "elsewhere"
    assert main(["models", "check", "--dir", str(cache)]) == 1
    out = capsys.readouterr().out
    assert f"model cache: {cache}" in out and "0 of 9 file(s) present" in out
    assert out.count("MISSING") == 9
    assert f"fix: wham-ros models fetch --dir {cache}\n" in out
    assert "--smpl PATH/TO/basicModel_neutral_lbs_10_207_0_v1.0.0.pkl" in out
    assert str(cache / "vitpose_h.onnx.data") in out
    # list: the same files, licences and sources, exit 0
    assert main(["models", "list", "--dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "Apache-2.0 (YOLOX, Megvii)" in out and "releases/download/0.1.1rc0/yolox_l.onnx" in out


def test_mediapipe_needs_no_vitpose(tmp_path, capsys):
    config = write_config(tmp_path / "mp.yaml", keypoint_backend="mediapipe")
    assert main(["models", "check", "--config", config]) == 1
    out = capsys.readouterr().out
    assert "vitpose" not in out and "0 of 7 file(s)" in out


def test_check_flags_a_detector_with_the_wrong_digest(empty_cache, capsys):
    empty_cache.mkdir()
    (empty_cache / "yolox_l.onnx").write_bytes(b"not the YOLOX-L release file")
    assert main(["models", "check"]) == 1
    out = capsys.readouterr().out
    assert "SHA256 MISMATCH" in out
    assert f"fix: rm {empty_cache / 'yolox_l.onnx'} && wham-ros models fetch" in out


def test_external_data_files_are_required(tmp_path, capsys):
    """An exported .onnx with external weights needs the file it names (read from the protobuf)."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])],
                              [w])
    path = tmp_path / "hmr2_custom.onnx"
    onnx.save_model(helper.make_model(graph), str(path), save_as_external_data=True,
                    location="weights.bin", size_threshold=0)
    config = write_config(tmp_path / "c.yaml", hmr2_onnx=str(path))
    files = {f.key: f.path for f in ModelSet(yaml.safe_load(Path(config).read_text())["wham"]
                                             ["ros__parameters"]).files()}
    assert files["hmr2_onnx_data"] == str(tmp_path / "weights.bin")
    os.remove(tmp_path / "weights.bin")
    main(["models", "check", "--config", config])
    out = capsys.readouterr().out
    assert "hmr2_onnx_data     MISSING" in out
    assert f"fix: wham-ros models fetch --config {config}" in out


def test_resolution_fills_empty_paths_from_the_cache(tmp_path):
    values = {"wham_checkpoint": "", "detector_onnx": "", "detector_format": "auto",
              "hmr2_onnx": "~/h.onnx"}
    out = resolve_model_paths(values, str(tmp_path))
    assert out["wham_checkpoint"] == str(tmp_path / "wham_vit_bedlam_w_3dpw.pth.tar")
    assert out["detector_onnx"] == str(tmp_path / "yolox_l.onnx")
    assert out["detector_format"] == "yolox_raw"  # Megvii's export: no grid decode inside
    assert out["hmr2_onnx"] == os.path.expanduser("~/h.onnx")
    assert "vitpose_onnx" not in out  # a split node's values: only its own parameters
    assert resolve_model_paths(dict(values, detector_onnx="/m/y.onnx"))["detector_format"] == "auto"


def test_doctor_with_the_files(synthetic_config, capsys, monkeypatch):
    assert doctor.main(["--config", synthetic_config]) == 0
    out = capsys.readouterr().out
    assert "CPUExecutionProvider" in out and "'cpu': front-end models run on CPUExecutionProvider" in out
    assert "torch" in out and "onnxruntime" in out and "python" in out
    assert "offline runner (wham-ros run): can start" in out
    assert "[FAIL]" not in out
    # without rclpy the offline runner still starts: reported, not an error
    monkeypatch.setitem(sys.modules, "rclpy", None)
    assert doctor.main(["--config", synthetic_config]) == 0
    out = capsys.readouterr().out
    assert "[warn] rclpy" in out and "live node (ros2 launch wham_ros wham.launch.py): cannot start" in out


def test_doctor_without_the_files(tmp_path, capsys):
    assert doctor.main(["--dir", str(tmp_path / "none")]) == 1
    out = capsys.readouterr().out
    assert out.count("[FAIL] model ") == 9
    assert f"fix: wham-ros models fetch --dir {tmp_path / 'none'}" in out
    assert "offline runner (wham-ros run): cannot start: 9 problem(s)" in out


def test_doctor_reports_unavailable_accelerators(tmp_path, synthetic_config, capsys):
    import onnxruntime
    import torch

    if torch.cuda.is_available() or "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this host has CUDA; the test is about a CPU-only host")
    params = yaml.safe_load(Path(synthetic_config).read_text())["wham"]["ros__parameters"]
    config = write_config(tmp_path / "gpu.yaml", **dict(params, providers="cuda"))
    assert doctor.main(["--config", config]) == 0  # ONNX Runtime falls back to CPU
    out = capsys.readouterr().out
    assert "[warn] providers" in out and "falls back to CPUExecutionProvider" in out
    assert "fix: pip uninstall onnxruntime && pip install onnxruntime-gpu" in out
    config = write_config(tmp_path / "dev.yaml", **dict(params, device="cuda"))
    assert doctor.main(["--config", config]) == 1  # torch cannot put WHAM on a GPU
    assert "[FAIL] device" in capsys.readouterr().out


def test_runner_stops_with_the_check_message(tmp_path, caplog, capsys, typestore):
    """Empty model parameters: the runner looks in the cache like ``models check`` and stops
    with the same lines and fixes (exit 3)."""
    from rosbags.rosbag2 import StoragePlugin

    from wham_ros.testing.scene_bag import write_scene_bag
    from wham_ros.testing.scenes import make_scene

    write_scene_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, make_scene(2), "cam")
    config = write_config(tmp_path / "w.yaml", providers="cpu")
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--config", config,
                 "--no-progress"]) == 3
    assert main(["models", "check", "--config", config]) == 1
    check = capsys.readouterr().out
    logged = [line.strip() for line in caplog.text.splitlines()]
    fixes = [line for line in logged if line.startswith("fix:")]
    paths = [line.split(": ")[-1] for line in logged if ": missing: " in line]
    assert len(fixes) == len(paths) == 9
    assert all(f in check for f in fixes) and all(p in check for p in paths)


def test_runner_uses_the_cache_layout(tmp_path, synthetic_models, empty_cache, monkeypatch):
    """A cache laid out as documented (here: the synthetic set) is found with no path set;
    the detector is named in the config (the cached one must be the YOLOX-L release file)."""
    from wham_ros.offline.runner import default_pipeline_factory, load_parameters

    paths = load_paths(synthetic_models)
    empty_cache.mkdir()
    shutil.copy(paths["wham_checkpoint"], empty_cache / "wham_vit_bedlam_w_3dpw.pth.tar")
    shutil.copytree(paths["body_model_dir"], empty_cache / "body_models")
    shutil.copy(paths["vitpose_onnx"], empty_cache / "vitpose_h.onnx")
    shutil.copy(paths["hmr2_onnx"], empty_cache / "hmr2_encoder.onnx")
    config = write_config(tmp_path / "w.yaml", providers="cpu", detector_format="yolov8",
                          detector_onnx=paths["detector_onnx"])
    assert main(["models", "check", "--config", config]) == 0
    pipe = default_pipeline_factory(load_parameters(config, {}))
    assert pipe.cfg.wham_checkpoint == str(empty_cache / "wham_vit_bedlam_w_3dpw.pth.tar")
    assert pipe.cfg.detector_format == "yolov8"
    # a present but broken file: stopped with the file named and how to re-create it
    (empty_cache / "hmr2_encoder.onnx").write_bytes(b"garbage")
    from wham_ros.ort_session import ModelFileError

    with pytest.raises(ModelFileError, match="hmr2_onnx .* cannot be loaded") as err:
        default_pipeline_factory(load_parameters(config, {}))
    assert f"fix: rm {empty_cache / 'hmr2_encoder.onnx'} && wham-ros models fetch" in str(err.value)


def _venv_commands(page):
    import shlex

    commands = []
    for line in page.read_text().splitlines():
        for part in line.split("&&"):
            part = part.split("#")[0].strip()
            if part.startswith(".venv/bin/wham-ros "):
                commands.append(shlex.split(part)[1:])
    return commands


def test_readme_commands_parse():
    """Every ``.venv/bin/wham-ros ...`` command of the README and the doc pages names a verb
    and parses."""
    from wham_ros.cli import models as models_cli
    from wham_ros.offline import runner as run_cli

    parsers = {"run": run_cli.build_parser, "models": models_cli.build_parser}
    commands = _venv_commands(ROOT / "README.md")
    assert [c[0] for c in commands[:1]] == ["demo"]  # the Quick start's first command
    assert {"demo", "models", "run", "doctor"} <= {c[0] for c in commands}
    for page in sorted((ROOT / "doc").glob("*.md")):
        commands += _venv_commands(page)
    for args in commands:
        assert args[0] in VERBS, args
        if args[0] in parsers:
            parsers[args[0]]().parse_args(args[1:])


def test_without_onnx_export_stops_early_and_doctor_says_so(monkeypatch, tmp_path, caplog, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError, find_spec -> None
    assert main(["export", "vitpose", str(tmp_path / "v.pth"), str(tmp_path / "v.onnx")]) == 1
    assert "needs the onnx package" in caplog.text and "pip install onnx" in caplog.text
    assert doctor.main(["--dir", str(tmp_path)]) == 1
    assert "fix: pip install onnx" in capsys.readouterr().out


def test_models_fetch_converts_the_users_smpl(tmp_path, synthetic_models, smpl_arrays, capsys):
    """Only SMPL missing: ``fetch --smpl`` converts it (no download) and ends with check = 0."""
    import pickle

    paths = load_paths(synthetic_models)
    body = tmp_path / "body"
    body.mkdir()
    for name in ("J_regressor_wham.npy", "J_regressor_feet.npy"):
        shutil.copy(os.path.join(paths["body_model_dir"], name), body / name)
    config = write_config(tmp_path / "w.yaml", **dict(paths, body_model_dir=str(body)))
    assert main(["models", "fetch", "--config", config, "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "NOT made" in out and "smplify.is.tue.mpg.de" in out
    pkl = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    with open(pkl, "wb") as fh:
        pickle.dump({k: smpl_arrays[k] for k in ("v_template", "shapedirs", "posedirs",
                                                 "J_regressor", "weights", "kintree_table", "f")},
                    fh, protocol=2)
    assert main(["models", "fetch", "--config", config, "--smpl", str(pkl), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"made {body / 'smpl' / 'SMPL_NEUTRAL.npz'}" in out and "7 of 7 file(s) present" in out


def test_a_named_missing_detector_is_not_replaced_by_yolox(tmp_path, capsys):
    config = write_config(tmp_path / "d.yaml", detector_onnx=str(tmp_path / "my_yolo11.onnx"))
    assert main(["models", "check", "--config", config]) == 1
    out = capsys.readouterr().out
    assert f"fix: export your detector to {tmp_path / 'my_yolo11.onnx'}" in out
    assert "set detector_onnx to \"\" for the cached YOLOX-L" in out


def test_doctor_says_fp32_vit_h_runs_on_cuda_under_tensorrt(tmp_path, synthetic_config, capsys):
    """A ViTPose export over 2 GB (fp32 ViT-H, weights in .onnx.data): TensorRT's provider
    cannot take it; the doctor says it runs on the CUDA provider and how to get TensorRT."""
    import shutil

    params = yaml.safe_load(Path(synthetic_config).read_text())["wham"]["ros__parameters"]
    big = tmp_path / "vitpose_h.onnx"
    shutil.copy(params["vitpose_onnx"], big)
    with open(str(big) + ".data", "wb") as fh:  # sparse: 2 GiB without using the disk
        fh.truncate(2 ** 31)
    config = write_config(tmp_path / "trt.yaml", **dict(params, providers="tensorrt",
                                                         vitpose_onnx=str(big)))
    doctor.main(["--config", config])
    out = capsys.readouterr().out
    assert "vitpose_onnx" in out and "runs on CUDAExecutionProvider (fp32)" in out
    assert "wham-ros export vitpose <checkpoint> <model>.onnx --fp16" in out
    assert out.count("runs on CUDAExecutionProvider (fp32)") == 1  # the small HMR2.0: no line
