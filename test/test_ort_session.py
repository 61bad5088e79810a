"""Execution-provider options, provider fallback and I/O binding (CPU onnxruntime)."""
import logging
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from wham_ros.ort_session import BoundSession, OrtOptions, make_session, provider_options

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"


def test_tensorrt_options_with_cache_and_fp16():
    opts = provider_options(TRT, OrtOptions(device_id=1, trt_cache_dir="/var/cache/trt",
                                            trt_fp16=True, trt_max_workspace_size=2 << 30))
    assert opts == {"device_id": "1", "trt_fp16_enable": "True",
                    "trt_engine_cache_enable": "True", "trt_engine_cache_path": "/var/cache/trt",
                    "trt_timing_cache_enable": "True", "trt_timing_cache_path": "/var/cache/trt",
                    "trt_max_workspace_size": str(2 << 30)}


def test_tensorrt_options_without_cache():
    opts = provider_options(TRT, OrtOptions())
    assert opts == {"device_id": "0", "trt_fp16_enable": "False",
                    "trt_engine_cache_enable": "False", "trt_timing_cache_enable": "False"}


def test_cuda_and_cpu_options():
    assert provider_options(CUDA, OrtOptions(device_id=2)) == {
        "device_id": "2", "cudnn_conv_algo_search": "EXHAUSTIVE",
        "do_copy_in_default_stream": "True"}
    assert provider_options(CPU, OrtOptions(device_id=2, trt_fp16=True)) == {}


@pytest.fixture(scope="module")
def linear_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("ort") / "linear.onnx"
    with warnings.catch_warnings():  # torch >= 2.9: the TorchScript exporter is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(torch.nn.Linear(4, 3), (torch.zeros(2, 4),), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "b"}})
    return str(path)


class _FakeSession:
    """Stands in for InferenceSession on a machine with the GPU providers."""

    calls = []
    runs_on = None

    def __init__(self, path, sess_options=None, providers=None, provider_options=None):
        self.calls.append((providers, provider_options))
        self.providers = providers

    def get_providers(self):
        return [self.runs_on or self.providers[0]]


def test_session_gets_provider_options_and_cache_dir(linear_onnx, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT, CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", _FakeSession)
    cache = tmp_path / "trt_cache"
    options = OrtOptions(trt_cache_dir=str(cache), trt_fp16=True)
    with caplog.at_level(logging.INFO, logger="wham_ros.ort_session"):
        _, used = make_session(linear_onnx, "auto", "m", options=options)
    providers, opts = _FakeSession.calls[-1]
    assert used == TRT and providers == [TRT, CUDA, CPU]
    assert opts == [provider_options(p, options) for p in providers]
    assert opts[0]["trt_engine_cache_path"] == str(cache) and cache.is_dir()
    assert "m: running on TensorrtExecutionProvider" in caplog.text
    # The TensorRT provider listed but not created (missing libraries): the log says so.
    monkeypatch.setattr(_FakeSession, "runs_on", CUDA)
    with caplog.at_level(logging.INFO, logger="wham_ros.ort_session"):
        _, used = make_session(linear_onnx, "tensorrt", "m", options=options)
    assert used == CUDA
    assert "m: TensorrtExecutionProvider could not be created; running on CUDA" in caplog.text


def test_fallback_on_cpu_onnxruntime_logs_the_provider(linear_onnx, caplog):
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with caplog.at_level(logging.INFO, logger="wham_ros.ort_session"):
        session, used = make_session(linear_onnx, "tensorrt", "det",
                                     options=OrtOptions(trt_cache_dir="/nonexistent/never"))
    assert used == CPU and session.get_providers()[0] == CPU
    assert "det: tensorrt requested but this onnxruntime only has" in caplog.text
    assert "falling back to CPUExecutionProvider" in caplog.text
    assert "det: running on CPUExecutionProvider" in caplog.text


def test_io_binding_run_equals_plain_run(linear_onnx):
    session, used = make_session(linear_onnx, "cpu", "m")
    bound = BoundSession(session, used)
    assert bound.device == "cpu"
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    plain = session.run(["y"], {"x": x})[0]
    np.testing.assert_array_equal(bound.run(["y"], {"x": x})[0], plain)
    uploaded = bound.upload(x)  # an OrtValue bound as is (shared between sessions)
    assert isinstance(uploaded, ort.OrtValue) and uploaded.device_name() == "cpu"
    np.testing.assert_array_equal(bound.run(["y"], {"x": uploaded})[0], plain)


def test_bound_session_device_follows_provider():
    assert BoundSession(None, CUDA, device_id=1).device == "cuda"
    assert BoundSession(None, TRT, device_id=1).device_id == 1
    assert BoundSession(None, CPU, device_id=1).device_id == 0


def test_node_parameters_map_onto_ort_options():
    from dataclasses import fields

    from wham_ros.pipeline import PipelineConfig
    from wham_ros.ros.params import ParameterError, pipeline_kwargs, validate_all

    values = {"ort_device_id": 1, "trt_cache_dir": "/var/cache/trt", "trt_fp16": True,
              "trt_max_workspace_size": 1 << 30, "crop_backend": "device", "tracker_min_hits": 5}
    kwargs = pipeline_kwargs(validate_all(values), [f.name for f in fields(PipelineConfig)])
    cfg = PipelineConfig(**kwargs)
    assert cfg.ort == OrtOptions(device_id=1, trt_cache_dir="/var/cache/trt", trt_fp16=True,
                                 trt_max_workspace_size=1 << 30)
    assert cfg.crop_backend == "device" and cfg.tracker.min_hits == 5
    assert PipelineConfig().ort == OrtOptions() and PipelineConfig().crop_backend == "opencv"
    with pytest.raises(ParameterError, match="'crop_backend' = 'gpu' is invalid"):
        validate_all({"crop_backend": "gpu"})
    with pytest.raises(ParameterError, match="'trt_max_workspace_size' = -1 is invalid"):
        validate_all({"trt_max_workspace_size": -1})
