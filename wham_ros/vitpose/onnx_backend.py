"""ViTPose with ONNX Runtime (model exported by ``wham-ros-export vitpose``).

ONNX I/O: input ``input_tensor`` (B, 3, 256, 192) float32 normalised RGB crops → output
``heatmaps`` (B, 17, 64, 48) float32; the batch axis is dynamic. Flip test, merge and decode
run in numpy (:class:`wham_ros.vitpose.estimator.VitPoseEstimator`).
"""
import numpy as np

from wham_ros.ort_session import ModelFileError, input_numpy_dtype, make_session
from wham_ros.vitpose.estimator import VitPoseEstimator
from wham_ros.vitpose.model import ONNX_INPUT, ONNX_OUTPUT


class VitPoseOnnx(VitPoseEstimator):
    """ViTPose on an ONNX Runtime session.

    Args:
        path: the exported ``.onnx`` file.
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt'
            (see :func:`wham_ros.ort_session.make_session`).
        flip_test: average with the mirrored crops (WHAM: True).
        intra_op_threads: ONNX Runtime threads, 0 = its default.

    Raises:
        ModelFileError: missing/unloadable file, or a model without the expected I/O names.
    """

    def __init__(self, path: str, providers: str = "auto", flip_test: bool = True,
                 intra_op_threads: int = 0):
        super().__init__(flip_test)
        self.session, self.provider = make_session(path, providers, "ViTPose", intra_op_threads)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [ONNX_INPUT] or ONNX_OUTPUT not in outputs:
            raise ModelFileError(f"ViTPose: '{path}' has inputs {inputs} and outputs {outputs}; "
                                 f"expected input '{ONNX_INPUT}' and output '{ONNX_OUTPUT}' "
                                 f"(export it with wham-ros-export vitpose)")
        self.input_dtype = input_numpy_dtype(self.session)  # float16 for --fp16 exports

    def run_network(self, input_tensor: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 192) float32 → (B, 17, 64, 48) float32 heatmaps."""
        x = np.ascontiguousarray(input_tensor, dtype=self.input_dtype)
        return self.session.run([ONNX_OUTPUT], {ONNX_INPUT: x})[0].astype(np.float32, copy=False)
