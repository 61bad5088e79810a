"""ViTPose with ONNX Runtime (model exported by ``wham-ros export vitpose``).

ONNX I/O: input ``input_tensor`` (B, 3, 256, 192) float32 normalised RGB crops → output
``heatmaps`` (B, 17, 64, 48) float32; the batch axis is dynamic. Exported with
``--device-crops`` (for ``crop_backend='device'``): inputs ``image`` (H, W, 3) uint8,
``crop_to_image`` (B, 2, 3) float64, ``mirror`` (B,) bool. Flip merge and decode run in
numpy (:class:`wham_ros.vitpose.estimator.VitPoseEstimator`). Sessions run through I/O
binding (:class:`wham_ros.ort_session.BoundSession`): one upload per input, one download.
"""
from typing import Optional

import numpy as np

from wham_ros.frontend.device_crops import (IMAGE_INPUT, MIRROR_INPUT, VITPOSE_GEOMETRY_INPUT,
                                            FrameUpload)
from wham_ros.ort_session import (BoundSession, ModelFileError, OrtOptions, input_numpy_dtype,
                                  make_session)
from wham_ros.vitpose.estimator import VitPoseEstimator
from wham_ros.vitpose.model import ONNX_INPUT, ONNX_OUTPUT

#: Input names of each crop backend's export.
INPUTS = {"opencv": [ONNX_INPUT], "device": [IMAGE_INPUT, VITPOSE_GEOMETRY_INPUT, MIRROR_INPUT]}


class VitPoseOnnx(VitPoseEstimator):
    """ViTPose on an ONNX Runtime session.

    Args:
        path: the exported ``.onnx`` file.
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt'
            (see :func:`wham_ros.ort_session.make_session`).
        flip_test: average with the mirrored crops (WHAM: True).
        intra_op_threads: ONNX Runtime threads, 0 = its default.
        options: execution-provider options (TensorRT caches, fp16, device id).
        crop_backend: 'opencv' (model exported as is) or 'device' (exported with
            ``--device-crops``).
        upload: shared per-frame image upload (one copy per frame for ViTPose and HMR2.0);
            None: this runner uploads the image itself.

    Raises:
        ModelFileError: missing/unloadable file, or a model whose I/O names do not fit
            ``crop_backend``.
    """

    def __init__(self, path: str, providers: str = "auto", flip_test: bool = True,
                 intra_op_threads: int = 0, options: Optional[OrtOptions] = None,
                 crop_backend: str = "opencv", upload: Optional[FrameUpload] = None):
        super().__init__(flip_test, crop_backend)
        options = options or OrtOptions()
        self.session, self.provider = make_session(path, providers, "ViTPose", intra_op_threads,
                                                   options)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != INPUTS[crop_backend] or ONNX_OUTPUT not in outputs:
            hint = " --device-crops" if crop_backend == "device" else ""
            wanted = INPUTS[crop_backend]
            wanted = f"input '{wanted[0]}'" if len(wanted) == 1 else f"inputs {wanted}"
            raise ModelFileError(f"ViTPose: '{path}' has inputs {inputs} and outputs {outputs}; "
                                 f"expected {wanted} and output '{ONNX_OUTPUT}' "
                                 f"for crop_backend '{crop_backend}' "
                                 f"(export it with wham-ros export vitpose{hint})")
        self.input_dtype = input_numpy_dtype(self.session)  # float16 for --fp16 exports
        self.bound = BoundSession(self.session, self.provider, options.device_id)
        self.upload = upload or FrameUpload(self.bound.upload)

    def run_network(self, input_tensor: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 192) float32 → (B, 17, 64, 48) float32 heatmaps."""
        x = np.ascontiguousarray(input_tensor, dtype=self.input_dtype)
        return self.bound.run([ONNX_OUTPUT], {ONNX_INPUT: x})[0].astype(np.float32, copy=False)

    def run_with_crops(self, image_rgb: np.ndarray, crop_to_image: np.ndarray,
                       mirror: np.ndarray) -> np.ndarray:
        """See :meth:`VitPoseEstimator.run_with_crops` (crops inside the graph)."""
        out = self.bound.run([ONNX_OUTPUT], {IMAGE_INPUT: self.upload(image_rgb),
                                             VITPOSE_GEOMETRY_INPUT: crop_to_image,
                                             MIRROR_INPUT: mirror})[0]
        return out.astype(np.float32, copy=False)
