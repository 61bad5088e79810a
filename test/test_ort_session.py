"""Execution-provider options, profiles, provider fallback, placement and I/O binding
(CPU onnxruntime; the GPU providers through a stand-in session)."""
import json
import logging
import os
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from wham_ros.ort_session import (BoundSession, ModelFileError, OrtOptions, TrtProfile, chunks,
                                  join_chunks, make_session, node_placement, open_session, provider_options,
                                  too_big_for_tensorrt)

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
PROFILE = TrtProfile({"x": ((1, 4), (8, 4), (8, 4)), "image": ((1, 1, 3), (720, 1280, 3),
                                                               (4096, 4096, 3))})


def test_tensorrt_options_with_cache_fp16_and_profile():
    opts = provider_options(TRT, OrtOptions(device_id=1, trt_cache_dir="/var/cache/trt",
                                            trt_fp16=True, trt_max_workspace_size=2 << 30,
                                            trt_layer_norm_fp32_fallback=False), PROFILE)
    assert opts == {"device_id": "1", "trt_fp16_enable": "True",
                    "trt_layer_norm_fp32_fallback": "False",
                    "trt_engine_cache_enable": "True", "trt_engine_cache_path": "/var/cache/trt",
                    "trt_timing_cache_enable": "True", "trt_timing_cache_path": "/var/cache/trt",
                    "trt_max_workspace_size": str(2 << 30),
                    "trt_profile_min_shapes": "x:1x4,image:1x1x3",
                    "trt_profile_opt_shapes": "x:8x4,image:720x1280x3",
                    "trt_profile_max_shapes": "x:8x4,image:4096x4096x3"}


def test_tensorrt_options_without_cache():
    opts = provider_options(TRT, OrtOptions())
    assert opts == {"device_id": "0", "trt_fp16_enable": "False",
                    "trt_layer_norm_fp32_fallback": "True",
                    "trt_engine_cache_enable": "False", "trt_timing_cache_enable": "False"}


def test_cuda_and_cpu_options():
    assert provider_options(CUDA, OrtOptions(device_id=2)) == {
        "device_id": "2", "cudnn_conv_algo_search": "EXHAUSTIVE",
        "do_copy_in_default_stream": "True", "arena_extend_strategy": "kNextPowerOfTwo"}
    assert provider_options(CUDA, OrtOptions(gpu_mem_limit=4 << 30,
                                             arena_extend_strategy="kSameAsRequested"),
                            PROFILE) == {
        "device_id": "0", "cudnn_conv_algo_search": "EXHAUSTIVE",
        "do_copy_in_default_stream": "True", "arena_extend_strategy": "kSameAsRequested",
        "gpu_mem_limit": str(4 << 30)}
    assert provider_options(CPU, OrtOptions(device_id=2, trt_fp16=True), PROFILE) == {}
    with pytest.raises(ValueError, match="Unknown arena_extend_strategy 'grow'"):
        provider_options(CUDA, OrtOptions(arena_extend_strategy="grow"))


def test_profile_of_the_runners_names_every_dynamic_input(tmp_path):
    """Each runner's profile covers all inputs of its graph (the provider refuses partial
    profiles), 1..max_batch crops, and the opt shape is the max batch."""
    from wham_ros.frontend.crops import HMR2_INPUT_HW, VITPOSE_INPUT_HW
    from wham_ros.frontend.device_crops import TAP_INPUTS, graph_inputs, graph_profile
    from wham_ros.hmr2.model import ONNX_INPUT as HMR2_INPUT
    from wham_ros.vitpose.model import ONNX_INPUT as VITPOSE_INPUT

    for crops_input, hw in ((VITPOSE_INPUT, VITPOSE_INPUT_HW), (HMR2_INPUT, HMR2_INPUT_HW)):
        assert graph_inputs("opencv", crops_input) == [crops_input]
        assert graph_inputs("device", crops_input) == ["image", *TAP_INPUTS]
        for backend in ("opencv", "device"):
            p = graph_profile(backend, 16, hw, crops_input)
            assert list(p.shapes) == graph_inputs(backend, crops_input)
            if backend == "opencv":
                assert p.shapes[crops_input][0] == (1, 3) + hw
            for name, (lo, opt, hi) in p.shapes.items():
                if name != "image":
                    assert lo[0] == 1 and opt[0] == hi[0] == 16 and lo[1:] == hi[1:]
    assert chunks(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert chunks(3, 8) == [slice(0, 3)] and chunks(0, 8) == [slice(0, 0)]


def test_join_chunks_concatenates_and_keeps_a_single_float32_chunk():
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((1, 3), np.float16)
    joined = join_chunks([a, b])
    assert joined.dtype == np.float32 and joined.shape == (3, 3)
    np.testing.assert_array_equal(joined, np.concatenate([a, b.astype(np.float32)]))
    assert join_chunks([a]) is a  # one chunk: the run's own fresh array, no copy
    half = join_chunks([b])
    assert half.dtype == np.float32 and np.array_equal(half, b.astype(np.float32))


@pytest.fixture(scope="module")
def linear_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("ort") / "linear.onnx"
    with warnings.catch_warnings():  # torch >= 2.9: the TorchScript exporter is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(torch.nn.Linear(4, 3), (torch.zeros(2, 4),), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "b"}})
    return str(path)


class _FakeSession:
    """Stands in for InferenceSession on a machine with the GPU providers: records each
    creation; ``fails`` lists providers whose session creation raises (as a TensorRT build
    failure does); ``runs_on`` is the provider ONNX Runtime silently kept."""

    calls = []
    runs_on = None
    fails = ()

    def __init__(self, path, sess_options=None, providers=None, provider_options=None,
                 enable_fallback=1):
        self.calls.append((providers, provider_options, enable_fallback))
        if providers[0] in self.fails:
            raise RuntimeError(f"{providers[0]} build failed")
        self.providers, self.options = providers, provider_options

    def get_providers(self):
        return [self.runs_on or self.providers[0]]

    def get_provider_options(self):
        return dict(zip(self.providers, self.options))

    def get_inputs(self):
        from types import SimpleNamespace

        return [SimpleNamespace(name="x", shape=["b", 4], type="tensor(float)")]


@pytest.fixture
def gpu_ort(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT, CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", _FakeSession)
    monkeypatch.setattr(_FakeSession, "calls", [])
    return _FakeSession


def test_session_gets_provider_options_and_cache_dir(linear_onnx, tmp_path, gpu_ort, monkeypatch,
                                                     caplog):
    cache = tmp_path / "trt_cache"
    options = OrtOptions(trt_cache_dir=str(cache), trt_fp16=True)
    with caplog.at_level(logging.INFO, logger="wham_ros.ort_session"):
        _, used = make_session(linear_onnx, "auto", "m", options=options)
    providers, opts, fallback = gpu_ort.calls[-1]
    assert used == TRT and providers == [TRT, CUDA, CPU]
    assert opts == [provider_options(p, options) for p in providers]
    assert fallback == 0  # ONNX Runtime's own fallback would drop every option
    assert opts[0]["trt_engine_cache_path"] == str(cache) and cache.is_dir()
    assert "m: running on TensorrtExecutionProvider" in caplog.text
    assert "m: dynamic input shapes and no TensorRT optimisation profile" in caplog.text
    # The TensorRT provider listed but not created (missing libraries): the log says so.
    monkeypatch.setattr(_FakeSession, "runs_on", CUDA)
    with caplog.at_level(logging.INFO, logger="wham_ros.ort_session"):
        _, used = make_session(linear_onnx, "tensorrt", "m", options=options)
    assert used == CUDA
    assert "m: TensorrtExecutionProvider could not be created; running on CUDA" in caplog.text


def test_fallback_keeps_the_provider_options(linear_onnx, gpu_ort, monkeypatch, caplog):
    """TensorRT fails to build: the CUDA session is created by us, with device_id 1 and the
    arena options (ONNX Runtime's fallback would give it none: device 0)."""
    monkeypatch.setattr(_FakeSession, "fails", (TRT,))
    options = OrtOptions(device_id=1, gpu_mem_limit=1 << 30)
    with caplog.at_level(logging.INFO, logger="wham_ros.ort_session"):
        model = open_session(linear_onnx, "tensorrt", "vit", options=options,
                             trt_profile=TrtProfile({"x": ((1, 4), (2, 4), (2, 4))}),
                             report_placement=False)  # the stand-in cannot run
    assert model.provider == CUDA
    assert [c[0] for c in gpu_ort.calls] == [[TRT, CUDA, CPU], [CUDA, CPU]]
    providers, opts, fallback = gpu_ort.calls[-1]
    assert opts == [provider_options(CUDA, options), {}] and fallback == 0
    assert opts[0]["device_id"] == "1" and opts[0]["gpu_mem_limit"] == str(1 << 30)
    assert "vit: TensorrtExecutionProvider failed to create the session" in caplog.text
    assert BoundSession(model.session, model.provider, device_id=0).device_id == 1
    monkeypatch.setattr(_FakeSession, "fails", (TRT, CUDA, CPU))
    with pytest.raises(ModelFileError, match="TensorrtExecutionProvider: .*build failed; "
                                             "CUDAExecutionProvider: .*build failed"):
        open_session(linear_onnx, "tensorrt", "vit")


def test_models_over_2gb_run_on_cuda_not_tensorrt(tmp_path, gpu_ort, caplog):
    """fp32 ViT-H (> 2 GB with its .onnx.data): the TensorRT provider cannot serialise it."""
    path = tmp_path / "vitpose_h.onnx"
    path.write_bytes(b"\0" * 100)
    with open(str(path) + ".data", "wb") as fh:  # sparse: no disk used
        fh.truncate(2 ** 31)
    assert too_big_for_tensorrt(str(path))
    with caplog.at_level(logging.INFO, logger="wham_ros.ort_session"):
        model = open_session(str(path), "tensorrt", "ViTPose")
    assert model.provider == CUDA and gpu_ort.calls[-1][0] == [CUDA, CPU]
    assert "more than the 2 GB TensorRT's provider can serialise" in caplog.text
    os.truncate(str(path) + ".data", 2 ** 31 - 200)
    assert not too_big_for_tensorrt(str(path))


def test_node_placement_from_a_profiled_warm_up(linear_onnx, caplog):
    """The placement is read from ONNX Runtime's own profile of the warm-up run."""
    with caplog.at_level(logging.INFO, logger="wham_ros.ort_session"):
        model = open_session(linear_onnx, "cpu", "lin", report_placement=True,
                             trt_profile=TrtProfile({"x": ((1, 4), (3, 4), (3, 4))}))
    assert model.placement == {CPU: 1}
    assert "lin: nodes placed on CPUExecutionProvider 1" in caplog.text
    # Off by default on CPU providers (no warm-up cost on a CPU deployment).
    assert open_session(linear_onnx, "cpu", "lin",
                        trt_profile=TrtProfile({"x": ((1, 4), (3, 4), (3, 4))})).placement == {}


def test_node_placement_counts_each_node_once(tmp_path):
    events = [{"cat": "Session", "name": "model_run"},
              {"cat": "Node", "name": "TRTKernel_graph_0_kernel_time",
               "args": {"provider": TRT, "op_name": "TRTKernel"}},
              {"cat": "Node", "name": "TRTKernel_graph_0_kernel_time",
               "args": {"provider": TRT, "op_name": "TRTKernel"}},
              {"cat": "Node", "name": "Gather_3_kernel_time", "args": {"provider": CUDA}},
              {"cat": "Node", "name": "Shape_1_kernel_time", "args": {"provider": CPU}},
              {"cat": "Node", "name": "Shape_2_fence_before", "args": {"op_name": "Shape"}}]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(events))
    assert node_placement(str(path)) == {TRT: 1, CUDA: 1, CPU: 1}


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


def test_io_binding_outputs_belong_to_the_caller(linear_onnx):
    """Each run's outputs are fresh arrays: a later run (same shapes) does not overwrite them,
    so the runners may hand a single chunk's outputs on without copying (join_chunks)."""
    session, used = make_session(linear_onnx, "cpu", "m")
    bound = BoundSession(session, used)
    rng = np.random.default_rng(1)
    x1, x2 = rng.standard_normal((2, 5, 4)).astype(np.float32)
    first = join_chunks(bound.run(["y"], {"x": x1}))
    kept = first.copy()
    second = join_chunks(bound.run(["y"], {"x": x2}))
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(second, session.run(["y"], {"x": x2})[0])


def test_bound_session_device_follows_provider():
    assert BoundSession(None, CUDA, device_id=1).device == "cuda"
    assert BoundSession(None, TRT, device_id=1).device_id == 1
    assert BoundSession(None, CPU, device_id=1).device_id == 0


def test_node_parameters_map_onto_ort_options():
    from dataclasses import fields

    from wham_ros.pipeline import PipelineConfig
    from wham_ros.ros.params import ParameterError, pipeline_kwargs, validate_all

    values = {"ort_device_id": 1, "trt_cache_dir": "/var/cache/trt", "trt_fp16": True,
              "trt_max_workspace_size": 1 << 30, "crop_backend": "device", "tracker_min_hits": 5,
              "trt_layer_norm_fp32_fallback": False, "max_people": 4,
              "ort_gpu_mem_limit": 3 << 30, "ort_arena_extend_strategy": "kSameAsRequested"}
    kwargs = pipeline_kwargs(validate_all(values), [f.name for f in fields(PipelineConfig)])
    cfg = PipelineConfig(**kwargs)
    assert cfg.ort == OrtOptions(device_id=1, trt_cache_dir="/var/cache/trt", trt_fp16=True,
                                 trt_max_workspace_size=1 << 30,
                                 trt_layer_norm_fp32_fallback=False, max_people=4,
                                 gpu_mem_limit=3 << 30, arena_extend_strategy="kSameAsRequested")
    assert cfg.crop_backend == "device" and cfg.tracker.min_hits == 5
    assert PipelineConfig().ort == OrtOptions() and PipelineConfig().crop_backend == "opencv"
    with pytest.raises(ParameterError, match="'crop_backend' = 'gpu' is invalid"):
        validate_all({"crop_backend": "gpu"})
    with pytest.raises(ParameterError, match="'trt_max_workspace_size' = -1 is invalid"):
        validate_all({"trt_max_workspace_size": -1})
    with pytest.raises(ParameterError, match="'max_people' = 0 is invalid"):
        validate_all({"max_people": 0})
    with pytest.raises(ParameterError, match="'ort_arena_extend_strategy' = 'x' is invalid"):
        validate_all({"ort_arena_extend_strategy": "x"})


def test_empty_trt_cache_dir_resolves_to_the_model_cache(tmp_path):
    from wham_ros.models.registry import resolve_model_paths

    out = resolve_model_paths({"trt_cache_dir": ""}, str(tmp_path))
    assert out["trt_cache_dir"] == str(tmp_path / "tensorrt")
    assert resolve_model_paths({"trt_cache_dir": "/x/trt"}, str(tmp_path))["trt_cache_dir"] == "/x/trt"


def test_runner_config_reaches_the_ort_options(tmp_path):
    """The new keys in a ``wham-ros run --config`` YAML land in PipelineConfig.ort."""
    from dataclasses import fields

    import yaml

    from wham_ros.offline.runner import load_parameters
    from wham_ros.pipeline import PipelineConfig
    from wham_ros.ros.params import pipeline_kwargs

    config = tmp_path / "gpu.yaml"
    config.write_text(yaml.safe_dump({"wham": {"ros__parameters": {
        "providers": "tensorrt", "max_people": 3, "trt_layer_norm_fp32_fallback": False,
        "ort_gpu_mem_limit": 1 << 30, "ort_arena_extend_strategy": "kSameAsRequested"}}}))
    values = load_parameters(str(config), {})
    cfg = PipelineConfig(**pipeline_kwargs(values, [f.name for f in fields(PipelineConfig)]))
    assert cfg.ort.max_people == 3 and cfg.ort.gpu_mem_limit == 1 << 30
    assert not cfg.ort.trt_layer_norm_fp32_fallback
    assert cfg.ort.arena_extend_strategy == "kSameAsRequested"


def test_front_end_reports_the_node_placement():
    """The stage's providers (diagnostics, activation log) carry the profiled placement."""
    from types import SimpleNamespace

    from wham_ros.pipeline import FrontEnd
    from wham_ros.tracking.tracker import MultiPersonTracker, TrackerConfig

    det = SimpleNamespace(provider=TRT, placement={})
    vit = SimpleNamespace(provider=TRT, placement={TRT: 1, CPU: 2})
    hmr = SimpleNamespace(provider=CUDA, placement={CUDA: 40})
    fe = FrontEnd(det, vit, hmr, MultiPersonTracker(TrackerConfig()))
    assert fe.providers == {"detector": TRT,
                            "keypoints": f"{TRT} (nodes: {CPU} 2, {TRT} 1)",  # most first
                            "encoder": f"{CUDA} (nodes: {CUDA} 40)"}
