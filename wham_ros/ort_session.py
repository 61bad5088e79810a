"""ONNX Runtime session creation with execution-provider selection and fallback.

One place decides which provider runs a model, so every front-end model logs the same,
clear line: ``<model>: running on CUDAExecutionProvider`` or why it fell back.
"""
import logging
import os
from typing import List, Tuple

LOG = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


class ModelFileError(RuntimeError):
    """A model file is missing, unreadable or not what the loader expects."""


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
                 intra_op_threads: int = 0) -> Tuple["object", str]:
    """Create an ``onnxruntime.InferenceSession`` and report which provider runs it.

    Args:
        path: the .onnx file.
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt'.
        name: model name for log lines.
        intra_op_threads: 0 lets onnxruntime decide.

    Returns:
        (session, provider actually used).

    Raises:
        ModelFileError: the file is missing or onnxruntime cannot parse it.
    """
    import onnxruntime as ort

    if not os.path.isfile(path):
        raise ModelFileError(f"{name}: ONNX model not found at '{path}'")
    available = ort.get_available_providers()
    wanted = resolve_providers(providers, available)
    if providers.lower() not in ("auto", "cpu") and wanted[0] != PROVIDER_ALIASES[providers.lower()][0]:
        LOG.warning("%s: %s requested but this onnxruntime only has %s; falling back to %s",
                    name, providers, available, wanted[0])
    opts = ort.SessionOptions()
    # Idle ORT worker threads spin by default; next to torch (WHAM) on the same cores that
    # busy-waiting slows WHAM's matrix products by ~10x. Let them sleep instead.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if intra_op_threads:
        opts.intra_op_num_threads = intra_op_threads
    try:
        sess = ort.InferenceSession(path, sess_options=opts, providers=wanted)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelFileError(f"{name}: cannot load ONNX model '{path}': {exc}") from exc
    used = sess.get_providers()[0]
    LOG.info("%s: running on %s", name, used)
    return sess, used


def input_numpy_dtype(session, index: int = 0):
    """numpy dtype of a session input: float16 for half-precision exports, else float32."""
    import numpy as np

    return np.float16 if session.get_inputs()[index].type == "tensor(float16)" else np.float32
