"""ONNX Runtime session creation: provider selection, provider options, fallback, I/O binding.

One place decides which provider runs a model, so every front-end model logs the same,
clear lines: ``<model>: running on CUDAExecutionProvider`` or why it fell back, and (GPU
providers) where its nodes really run, read from ONNX Runtime's profile of a warm-up run:
``<model>: nodes placed on TensorrtExecutionProvider 1, CPUExecutionProvider 2``.

GPU deployments (``pip install -e .[gpu]``: onnxruntime-gpu) pass :class:`OrtOptions`:
TensorRT engine and timing caches in one directory (a ViT-H engine build takes minutes;
cached, a restart takes seconds), explicit optimisation profiles (:class:`TrtProfile`,
batch up to ``max_people`` crops) so the engine is built (or loaded from the cache) when the
session is created, never inside a frame; fp16, LayerNorm fp32 fallback, workspace size and
the device id for the TensorRT and CUDA providers; the CUDA provider's memory limit and
arena growth. :class:`BoundSession` runs a session through I/O binding with its inputs and
outputs placed on the device the session really uses; on a CPU-only onnxruntime the same
code runs with CPU ``OrtValue``s.
"""
import collections
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

LOG = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}
#: Providers whose tensors live in CUDA device memory (I/O binding device "cuda").
CUDA_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
#: The TensorRT provider hands each subgraph to TensorRT as one serialised protobuf, weights
#: included, and a protobuf holds at most 2 GiB - 1 (fp32 ViT-H: ~2.5 GB; its fp16 export fits).
PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1
#: CUDA provider arena growth: the choices ONNX Runtime accepts.
ARENA_STRATEGIES = ("kNextPowerOfTwo", "kSameAsRequested")


class ModelFileError(RuntimeError):
    """A model file is missing, unreadable or not what the loader expects."""


@dataclass(frozen=True)
class OrtOptions:
    """Execution-provider options of every front-end session.

    Attributes:
        device_id: CUDA device of the TensorRT and CUDA providers (and of I/O binding).
        trt_cache_dir: directory of the TensorRT engine and timing caches ('' = no cache:
            every start rebuilds the engines; the node and ``wham-ros run`` resolve '' to the
            model cache's ``tensorrt/`` folder). Created when missing.
        trt_fp16: let TensorRT build fp16 kernels (error: see doc/gpu.md).
        trt_max_workspace_size: TensorRT builder workspace in bytes; 0 = the provider's default.
        trt_layer_norm_fp32_fallback: keep LayerNorm in fp32 when ``trt_fp16`` (ViT-H's
            LayerNorm sums overflow fp16).
        max_people: people per frame the TensorRT optimisation profiles cover; the runners
            split larger batches into chunks of this size (plus mirrored crops).
        gpu_mem_limit: byte limit of the CUDA provider's memory arena (0: no limit); set it
            when ONNX Runtime shares the GPU with torch's allocator (WHAM on the same GPU).
        arena_extend_strategy: how that arena grows, one of :data:`ARENA_STRATEGIES`.
    """

    device_id: int = 0
    trt_cache_dir: str = ""
    trt_fp16: bool = False
    trt_max_workspace_size: int = 0
    trt_layer_norm_fp32_fallback: bool = True
    max_people: int = 8
    gpu_mem_limit: int = 0
    arena_extend_strategy: str = "kNextPowerOfTwo"


Shape = Tuple[int, ...]
#: ONNX Runtime input type names -> numpy dtypes (warm-up inputs).
ONNX_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
                    "tensor(double)": np.float64, "tensor(uint8)": np.uint8,
                    "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}


@dataclass(frozen=True)
class TrtProfile:
    """One TensorRT optimisation profile: per input, its (min, opt, max) shape.

    Every dynamic input of the graph must be named (the provider refuses a partial profile);
    with a profile the provider builds the engine, or loads it from the cache, when the
    session is created.
    """

    shapes: Dict[str, Tuple[Shape, Shape, Shape]] = field(default_factory=dict)

    def warmup_feeds(self, session) -> Dict[str, np.ndarray]:
        """Zero inputs of the opt shapes, in the session's input dtypes."""
        types = {i.name: i.type for i in session.get_inputs()}
        return {name: np.zeros(s[1], dtype=ONNX_NUMPY_TYPES.get(types.get(name), np.float32))
                for name, s in self.shapes.items()}

    def options(self) -> Dict[str, str]:
        """``trt_profile_{min,opt,max}_shapes`` as the provider parses them:
        ``name:d0xd1x...`` joined by commas."""
        if not self.shapes:
            return {}
        out = {}
        for i, key in enumerate(("trt_profile_min_shapes", "trt_profile_opt_shapes",
                                 "trt_profile_max_shapes")):
            out[key] = ",".join(f"{name}:{'x'.join(str(int(d)) for d in s[i])}"
                                for name, s in self.shapes.items())
        return out


def _flag(value: bool) -> str:
    return "True" if value else "False"


def provider_options(provider: str, options: OrtOptions,
                     profile: Optional[TrtProfile] = None) -> Dict[str, str]:
    """ONNX Runtime option dict of one execution provider (string values, as ORT takes them).

    Args:
        provider: e.g. 'TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'.
        options: the deployment options.
        profile: TensorRT optimisation profile of this model (None: none).

    Returns:
        dict: TensorRT: ``device_id``, ``trt_fp16_enable``, ``trt_layer_norm_fp32_fallback``,
        ``trt_engine_cache_enable``, ``trt_timing_cache_enable`` (+ their ``*_path`` when a
        cache directory is set), ``trt_max_workspace_size`` (when > 0), the profile's
        ``trt_profile_*_shapes``; CUDA: ``device_id``, ``cudnn_conv_algo_search`` =
        EXHAUSTIVE (tuned once per shape), ``do_copy_in_default_stream`` = True,
        ``arena_extend_strategy``, ``gpu_mem_limit`` (when > 0); others: empty.
    """
    if provider == "TensorrtExecutionProvider":
        cache = bool(options.trt_cache_dir)
        opts = {"device_id": str(options.device_id),
                "trt_fp16_enable": _flag(options.trt_fp16),
                "trt_layer_norm_fp32_fallback": _flag(options.trt_layer_norm_fp32_fallback),
                "trt_engine_cache_enable": _flag(cache),
                "trt_timing_cache_enable": _flag(cache)}
        if cache:
            opts["trt_engine_cache_path"] = options.trt_cache_dir
            opts["trt_timing_cache_path"] = options.trt_cache_dir
        if options.trt_max_workspace_size > 0:
            opts["trt_max_workspace_size"] = str(int(options.trt_max_workspace_size))
        opts.update(profile.options() if profile is not None else {})
        return opts
    if provider == "CUDAExecutionProvider":
        if options.arena_extend_strategy not in ARENA_STRATEGIES:
            raise ValueError(f"Unknown arena_extend_strategy '{options.arena_extend_strategy}'; "
                             f"expected one of {ARENA_STRATEGIES}")
        opts = {"device_id": str(options.device_id), "cudnn_conv_algo_search": "EXHAUSTIVE",
                "do_copy_in_default_stream": "True",
                "arena_extend_strategy": options.arena_extend_strategy}
        if options.gpu_mem_limit > 0:
            opts["gpu_mem_limit"] = str(int(options.gpu_mem_limit))
        return opts
    return {}


def resolve_providers(requested: str, available: List[str]) -> List[str]:
    """Ordered provider list for ``requested`` ('auto', 'cpu', 'cuda', 'tensorrt').

    'auto' takes TensorRT, then CUDA, then CPU, whichever this onnxruntime build has.

    Raises:
        ValueError: for an unknown name.
    """
    key = requested.lower()
    if key == "auto":
        wanted = PROVIDER_ALIASES["tensorrt"]
    elif key in PROVIDER_ALIASES:
        wanted = PROVIDER_ALIASES[key]
    else:
        raise ValueError(f"Unknown execution provider '{requested}'; expected one of "
                         f"auto, {', '.join(PROVIDER_ALIASES)}")
    chosen = [p for p in wanted if p in available]
    return chosen or ["CPUExecutionProvider"]


def model_bytes(path: str) -> int:
    """Size of an ONNX model with its external-data file (``<path>.data``, as
    ``wham-ros export`` writes it), bytes."""
    data = path + ".data"
    return os.path.getsize(path) + (os.path.getsize(data) if os.path.isfile(data) else 0)


def too_big_for_tensorrt(path: str) -> bool:
    """True when the model's weights exceed what the TensorRT provider can serialise
    (:data:`PROTOBUF_LIMIT_BYTES`): such a model runs on the CUDA provider instead."""
    return os.path.isfile(path) and model_bytes(path) > PROTOBUF_LIMIT_BYTES


def node_placement(profile_json: str) -> Dict[str, int]:
    """Nodes per execution provider in an ONNX Runtime profile (``end_profiling()`` file).

    Counts the distinct node names of the ``Node`` events (a TensorRT engine is one fused
    node); a node that ran on several runs is counted once.
    """
    with open(profile_json, encoding="utf-8") as fh:
        events = json.load(fh)
    nodes: Dict[str, str] = {}
    for ev in events:
        args = ev.get("args") or {}
        if ev.get("cat") == "Node" and "provider" in args:
            nodes[ev.get("name", "").rsplit("_kernel_time", 1)[0]] = args["provider"]
    return dict(collections.Counter(nodes.values()))


def format_placement(placement: Dict[str, int]) -> str:
    """``TensorrtExecutionProvider 1, CPUExecutionProvider 2`` (most nodes first)."""
    return ", ".join(f"{p} {n}" for p, n in sorted(placement.items(), key=lambda kv: -kv[1]))


@dataclass
class OrtModel:
    """An open session and what is known about where it runs.

    Attributes:
        session: the ``onnxruntime.InferenceSession``.
        provider: the first provider of the session (the one asked for, or its fallback).
        placement: nodes per provider, read from a profiled warm-up run (empty: not profiled).
    """

    session: object
    provider: str
    placement: Dict[str, int] = field(default_factory=dict)


def _create(ort, path: str, opts, providers: List[str], options: OrtOptions,
            profile: Optional[TrtProfile]):
    # enable_fallback=0: ONNX Runtime's own fallback retries with no provider options at all
    # (the CUDA provider would then run on device 0, not options.device_id); ours keeps them.
    return ort.InferenceSession(path, sess_options=opts, providers=providers,
                                provider_options=[provider_options(p, options, profile)
                                                  for p in providers], enable_fallback=0)


def open_session(path: str, providers: str = "auto", name: str = "model",
                 intra_op_threads: int = 0, options: Optional[OrtOptions] = None,
                 trt_profile: Optional[TrtProfile] = None,
                 report_placement: Optional[bool] = None) -> OrtModel:
    """Create an ``onnxruntime.InferenceSession``, warm it up and report where it runs.

    Args:
        path: the .onnx file.
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt'.
        name: model name for log lines.
        intra_op_threads: 0 lets onnxruntime decide.
        options: provider options (None: :class:`OrtOptions` defaults).
        trt_profile: the input shapes the runner will use (every dynamic input): TensorRT's
            optimisation profile, so its engine is built or loaded from the cache here; on
            GPU providers one warm-up run with the opt shapes follows (CUDA kernels, cuDNN
            algorithms and allocations happen here, not in the first frame).
        report_placement: run that warm-up profiled and log the nodes per provider (None:
            on GPU providers only; needs ``trt_profile``).

    Returns:
        :class:`OrtModel`.

    Raises:
        ModelFileError: the file is missing or onnxruntime cannot create a session for it.
    """
    import onnxruntime as ort

    if not os.path.isfile(path):
        raise ModelFileError(f"{name}: ONNX model not found at '{path}'")
    options = options or OrtOptions()
    available = ort.get_available_providers()
    wanted = resolve_providers(providers, available)
    if providers.lower() not in ("auto", "cpu") and wanted[0] != PROVIDER_ALIASES[providers.lower()][0]:
        LOG.warning("%s: %s requested but this onnxruntime only has %s; falling back to %s "
                    "(GPU providers need onnxruntime-gpu: pip install -e .[gpu])",
                    name, providers, available, wanted[0])
    if wanted[0] == "TensorrtExecutionProvider" and too_big_for_tensorrt(path):
        LOG.warning("%s: '%s' holds %.1f GB of weights, more than the 2 GB TensorRT's provider "
                    "can serialise; running it on %s (export it with wham-ros export --fp16 "
                    "for TensorRT)", name, path, model_bytes(path) / 1e9, wanted[1])
        wanted = wanted[1:]
    if "TensorrtExecutionProvider" in wanted and options.trt_cache_dir:
        os.makedirs(options.trt_cache_dir, exist_ok=True)
    opts = ort.SessionOptions()
    # Idle ORT worker threads spin by default; next to torch (WHAM) on the same cores that
    # busy-waiting slows WHAM's matrix products by ~10x. Let them sleep instead.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if intra_op_threads:
        opts.intra_op_num_threads = intra_op_threads
    gpu = wanted[0] in CUDA_PROVIDERS
    profile_run = bool(trt_profile and trt_profile.shapes) and (
        gpu if report_placement is None else report_placement)
    with tempfile.TemporaryDirectory(prefix="wham_ros_ort_") as scratch:
        if profile_run:
            opts.enable_profiling = True
            opts.profile_file_prefix = os.path.join(scratch, "placement")
        sess, errors = None, []
        for start in range(len(wanted)):  # our fallback: the next provider, with its options
            try:
                sess = _create(ort, path, opts, wanted[start:], options, trt_profile)
                break
            except Exception as exc:  # onnxruntime raises its own exception types
                errors.append(f"{wanted[start]}: {exc}")
                if start + 1 < len(wanted):
                    LOG.warning("%s: %s failed to create the session (%s); falling back to %s "
                                "with its options", name, wanted[start], exc, wanted[start + 1])
        if sess is None:
            raise ModelFileError(f"{name}: cannot load ONNX model '{path}': "
                                 + "; ".join(errors))
        used = sess.get_providers()[0]
        if used != wanted[0] and not errors:  # e.g. CUDA listed but its libraries failed to load
            LOG.warning("%s: %s could not be created; running on %s", name, wanted[0], used)
        LOG.info("%s: running on %s", name, used)
        if used == "TensorrtExecutionProvider" and not (trt_profile and trt_profile.shapes) \
                and any(not isinstance(d, int) for i in sess.get_inputs() for d in i.shape):
            LOG.warning("%s: dynamic input shapes and no TensorRT optimisation profile: the "
                        "engine is built at the first run and again at each new input shape",
                        name)
        model = OrtModel(sess, used)
        if profile_run:
            try:
                sess.run(None, trt_profile.warmup_feeds(sess))
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelFileError(f"{name}: warm-up run on {used} failed: {exc}") from exc
            model.placement = node_placement(sess.end_profiling())
            LOG.info("%s: nodes placed on %s", name, format_placement(model.placement))
            off = sorted(p for p in model.placement if p not in (used, "CPUExecutionProvider"))
            if off:
                LOG.warning("%s: part of the graph fell back from %s to %s", name, used,
                            ", ".join(off))
    return model


def make_session(path: str, providers: str = "auto", name: str = "model",
                 intra_op_threads: int = 0,
                 options: Optional[OrtOptions] = None) -> Tuple["object", str]:
    """:func:`open_session` without profile or warm-up; returns (session, provider used).

    Raises:
        ModelFileError: the file is missing or onnxruntime cannot parse it.
    """
    model = open_session(path, providers, name, intra_op_threads, options)
    return model.session, model.provider


def input_numpy_dtype(session, index: int = 0):
    """numpy dtype of a session input: float16 for half-precision exports, else float32."""
    return np.float16 if session.get_inputs()[index].type == "tensor(float16)" else np.float32


def session_device_id(session, provider: str, default: int = 0) -> int:
    """The CUDA device the session's ``provider`` really uses (its provider options), else
    ``default``."""
    try:
        return int(session.get_provider_options()[provider]["device_id"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return default


def chunks(n: int, size: int) -> List[slice]:
    """Slices covering ``range(n)`` in pieces of at most ``size`` (one piece when size <= 0)."""
    if size <= 0 or n <= size:
        return [slice(0, n)]
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def join_chunks(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The outputs of the chunks of one batch as one float32 array (batch axis first).

    One chunk (the usual case) is returned as it is when already float32, not copied: each
    run's outputs are fresh arrays owned by the caller.
    """
    if len(parts) == 1:
        return parts[0].astype(np.float32, copy=False)
    return np.concatenate(parts).astype(np.float32, copy=False)


class BoundSession:
    """Runs a session through I/O binding on the device of its provider.

    Inputs are uploaded once (numpy → ``OrtValue`` on the device; an ``OrtValue`` already
    there is bound as is, so one uploaded image serves several models), outputs are
    allocated by onnxruntime on the device and copied to the host once, together, at the
    end of :meth:`run`. On CPU providers the device is 'cpu' and the same code runs.

    Args:
        session: an ``onnxruntime.InferenceSession``.
        provider: the provider running it (:func:`open_session`).
        device_id: CUDA device id when the session does not report one (ignored on CPU);
            the session's own provider options win, so binding and provider agree.
    """

    def __init__(self, session, provider: str, device_id: int = 0):
        self.session = session
        self.device = "cuda" if provider in CUDA_PROVIDERS else "cpu"
        self.device_id = session_device_id(session, provider, device_id) \
            if self.device == "cuda" else 0

    def upload(self, array: np.ndarray):
        """numpy array → ``OrtValue`` on this session's device (one host → device copy)."""
        import onnxruntime as ort

        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self.device,
                                                self.device_id)

    def run(self, output_names: Sequence[str], inputs: Dict[str, object]) -> List[np.ndarray]:
        """Bind ``inputs`` (numpy arrays or device ``OrtValue``s), run, download the outputs.

        Returns:
            list of numpy arrays in ``output_names`` order.
        """
        import onnxruntime as ort

        binding = self.session.io_binding()
        for name, value in inputs.items():
            if not isinstance(value, ort.OrtValue):
                value = self.upload(value)
            binding.bind_ortvalue_input(name, value)
        for name in output_names:
            binding.bind_output(name, self.device, self.device_id)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()
