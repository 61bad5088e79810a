"""HMR2.0 encoder with ONNX Runtime (model exported by ``wham-ros-export hmr2``).

ONNX I/O: input ``norm_img`` (B, 3, 256, 256) float32 normalised RGB crops → outputs
``features`` (B, 1024), ``global_orient`` (B, 1, 3, 3), ``body_pose`` (B, 23, 3, 3),
``betas`` (B, 10), ``cam`` (B, 3), all float32; the batch axis is dynamic. Rotation matrices
act on column vectors (root in the camera frame).
"""
from typing import Dict

import numpy as np

from wham_ros.hmr2.estimator import HMR2Estimator
from wham_ros.hmr2.model import ONNX_INPUT, OUTPUT_NAMES
from wham_ros.ort_session import ModelFileError, input_numpy_dtype, make_session


class HMR2Onnx(HMR2Estimator):
    """HMR2.0 encoder on an ONNX Runtime session.

    Args:
        path: the exported ``.onnx`` file.
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt'.
        intra_op_threads: ONNX Runtime threads, 0 = its default.

    Raises:
        ModelFileError: missing/unloadable file, or a model without the expected I/O names.
    """

    def __init__(self, path: str, providers: str = "auto", intra_op_threads: int = 0):
        self.session, self.provider = make_session(path, providers, "HMR2", intra_op_threads)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [ONNX_INPUT] or any(n not in outputs for n in OUTPUT_NAMES):
            raise ModelFileError(f"HMR2: '{path}' has inputs {inputs} and outputs {outputs}; "
                                 f"expected input '{ONNX_INPUT}' and outputs {list(OUTPUT_NAMES)} "
                                 f"(export it with wham-ros-export hmr2)")
        self.input_dtype = input_numpy_dtype(self.session)  # float16 for --fp16 exports

    def run_network(self, norm_img: np.ndarray) -> Dict[str, np.ndarray]:
        """(B, 3, 256, 256) float32 → dict of float32 arrays named by ``OUTPUT_NAMES``."""
        x = np.ascontiguousarray(norm_img, dtype=self.input_dtype)
        outs = self.session.run(list(OUTPUT_NAMES), {ONNX_INPUT: x})
        return {n: o.astype(np.float32, copy=False) for n, o in zip(OUTPUT_NAMES, outs)}
