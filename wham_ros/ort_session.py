"""ONNX Runtime session creation: provider selection, provider options, fallback, I/O binding.

One place decides which provider runs a model, so every front-end model logs the same,
clear line: ``<model>: running on CUDAExecutionProvider`` or why it fell back.

GPU deployments (``pip install -e .[gpu]``: onnxruntime-gpu) pass :class:`OrtOptions`:
TensorRT engine and timing caches in one directory (a ViT-H engine build takes minutes;
cached, a restart takes seconds), fp16, workspace size and the device id for the TensorRT
and CUDA providers. :class:`BoundSession` runs a session through I/O binding with its
inputs and outputs placed on the provider's device; on a CPU-only onnxruntime the same
code runs with CPU ``OrtValue``s.
"""
import logging
import os
from dataclasses import dataclass
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


class ModelFileError(RuntimeError):
    """A model file is missing, unreadable or not what the loader expects."""


@dataclass(frozen=True)
class OrtOptions:
    """Execution-provider options of every front-end session.

    Attributes:
        device_id: CUDA device of the TensorRT and CUDA providers (and of I/O binding).
        trt_cache_dir: directory of the TensorRT engine and timing caches ('' = no cache:
            every start rebuilds the engines). Created when missing.
        trt_fp16: let TensorRT build fp16 kernels (error: see README, GPU section).
        trt_max_workspace_size: TensorRT builder workspace in bytes; 0 = the provider's default.
    """

    device_id: int = 0
    trt_cache_dir: str = ""
    trt_fp16: bool = False
    trt_max_workspace_size: int = 0


def _flag(value: bool) -> str:
    return "True" if value else "False"


def provider_options(provider: str, options: OrtOptions) -> Dict[str, str]:
    """ONNX Runtime option dict of one execution provider (string values, as ORT takes them).

    Args:
        provider: e.g. 'TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'.
        options: the deployment options.

    Returns:
        dict: TensorRT: ``device_id``, ``trt_fp16_enable``, ``trt_engine_cache_enable``,
        ``trt_timing_cache_enable`` (+ their ``*_path`` when a cache directory is set),
        ``trt_max_workspace_size`` (when > 0); CUDA: ``device_id``,
        ``cudnn_conv_algo_search`` = EXHAUSTIVE (tuned once per shape),
        ``do_copy_in_default_stream`` = True; others: empty.
    """
    if provider == "TensorrtExecutionProvider":
        cache = bool(options.trt_cache_dir)
        opts = {"device_id": str(options.device_id),
                "trt_fp16_enable": _flag(options.trt_fp16),
                "trt_engine_cache_enable": _flag(cache),
                "trt_timing_cache_enable": _flag(cache)}
        if cache:
            opts["trt_engine_cache_path"] = options.trt_cache_dir
            opts["trt_timing_cache_path"] = options.trt_cache_dir
        if options.trt_max_workspace_size > 0:
            opts["trt_max_workspace_size"] = str(int(options.trt_max_workspace_size))
        return opts
    if provider == "CUDAExecutionProvider":
        return {"device_id": str(options.device_id), "cudnn_conv_algo_search": "EXHAUSTIVE",
                "do_copy_in_default_stream": "True"}
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


def make_session(path: str, providers: str = "auto", name: str = "model",
                 intra_op_threads: int = 0,
                 options: Optional[OrtOptions] = None) -> Tuple["object", str]:
    """Create an ``onnxruntime.InferenceSession`` and report which provider runs it.

    Args:
        path: the .onnx file.
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt'.
        name: model name for log lines.
        intra_op_threads: 0 lets onnxruntime decide.
        options: provider options (None: :class:`OrtOptions` defaults).

    Returns:
        (session, provider actually used).

    Raises:
        ModelFileError: the file is missing or onnxruntime cannot parse it.
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
    if "TensorrtExecutionProvider" in wanted and options.trt_cache_dir:
        os.makedirs(options.trt_cache_dir, exist_ok=True)
    opts = ort.SessionOptions()
    # Idle ORT worker threads spin by default; next to torch (WHAM) on the same cores that
    # busy-waiting slows WHAM's matrix products by ~10x. Let them sleep instead.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if intra_op_threads:
        opts.intra_op_num_threads = intra_op_threads
    try:
        sess = ort.InferenceSession(path, sess_options=opts, providers=wanted,
                                    provider_options=[provider_options(p, options) for p in wanted])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelFileError(f"{name}: cannot load ONNX model '{path}': {exc}") from exc
    used = sess.get_providers()[0]
    if used != wanted[0]:  # e.g. CUDA listed but its libraries failed to load
        LOG.warning("%s: %s could not be created; running on %s", name, wanted[0], used)
    LOG.info("%s: running on %s", name, used)
    return sess, used


def input_numpy_dtype(session, index: int = 0):
    """numpy dtype of a session input: float16 for half-precision exports, else float32."""
    return np.float16 if session.get_inputs()[index].type == "tensor(float16)" else np.float32


class BoundSession:
    """Runs a session through I/O binding on the device of its provider.

    Inputs are uploaded once (numpy → ``OrtValue`` on the device; an ``OrtValue`` already
    there is bound as is, so one uploaded image serves several models), outputs are
    allocated by onnxruntime on the device and copied to the host once, together, at the
    end of :meth:`run`. On CPU providers the device is 'cpu' and the same code runs.

    Args:
        session: an ``onnxruntime.InferenceSession``.
        provider: the provider running it (:func:`make_session`).
        device_id: CUDA device id (ignored on CPU).
    """

    def __init__(self, session, provider: str, device_id: int = 0):
        self.session = session
        self.device = "cuda" if provider in CUDA_PROVIDERS else "cpu"
        self.device_id = device_id if self.device == "cuda" else 0

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
