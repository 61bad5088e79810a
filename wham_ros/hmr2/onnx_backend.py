"""HMR2.0 encoder with ONNX Runtime (model exported by ``wham-ros export hmr2``).

ONNX I/O: input ``norm_img`` (B, 3, 256, 256) float32 normalised RGB crops → outputs
``features`` (B, 1024), ``global_orient`` (B, 1, 3, 3), ``body_pose`` (B, 23, 3, 3),
``betas`` (B, 10), ``cam`` (B, 3), all float32; the batch axis is dynamic. Rotation matrices
act on column vectors (root in the camera frame). Exported with ``--device-crops`` (for
``crop_backend='device'``): inputs ``image`` (H, W, 3) uint8, ``crop_window`` (B, 4)
float64, ``mirror`` (B,) bool. Sessions run through I/O binding.
"""
from typing import Dict, Optional

import numpy as np

from wham_ros.frontend.device_crops import (HMR2_GEOMETRY_INPUT, IMAGE_INPUT, MIRROR_INPUT,
                                            FrameUpload)
from wham_ros.hmr2.estimator import HMR2Estimator
from wham_ros.hmr2.model import ONNX_INPUT, OUTPUT_NAMES
from wham_ros.ort_session import (BoundSession, ModelFileError, OrtOptions, input_numpy_dtype,
                                  make_session)

#: Input names of each crop backend's export.
INPUTS = {"opencv": [ONNX_INPUT], "device": [IMAGE_INPUT, HMR2_GEOMETRY_INPUT, MIRROR_INPUT]}


class HMR2Onnx(HMR2Estimator):
    """HMR2.0 encoder on an ONNX Runtime session.

    Args:
        path: the exported ``.onnx`` file.
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt'.
        intra_op_threads: ONNX Runtime threads, 0 = its default.
        options: execution-provider options (TensorRT caches, fp16, device id).
        crop_backend: 'opencv' (model exported as is) or 'device' (``--device-crops``).
        upload: shared per-frame image upload (see :class:`wham_ros.vitpose.onnx_backend.VitPoseOnnx`).

    Raises:
        ModelFileError: missing/unloadable file, or a model whose I/O names do not fit
            ``crop_backend``.
    """

    def __init__(self, path: str, providers: str = "auto", intra_op_threads: int = 0,
                 options: Optional[OrtOptions] = None, crop_backend: str = "opencv",
                 upload: Optional[FrameUpload] = None):
        super().__init__(crop_backend)
        options = options or OrtOptions()
        self.session, self.provider = make_session(path, providers, "HMR2", intra_op_threads,
                                                   options)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != INPUTS[crop_backend] or any(n not in outputs for n in OUTPUT_NAMES):
            hint = " --device-crops" if crop_backend == "device" else ""
            wanted = INPUTS[crop_backend]
            wanted = f"input '{wanted[0]}'" if len(wanted) == 1 else f"inputs {wanted}"
            raise ModelFileError(f"HMR2: '{path}' has inputs {inputs} and outputs {outputs}; "
                                 f"expected {wanted} and outputs {list(OUTPUT_NAMES)} "
                                 f"for crop_backend '{crop_backend}' "
                                 f"(export it with wham-ros export hmr2{hint})")
        self.input_dtype = input_numpy_dtype(self.session)  # float16 for --fp16 exports
        self.bound = BoundSession(self.session, self.provider, options.device_id)
        self.upload = upload or FrameUpload(self.bound.upload)

    def run_network(self, norm_img: np.ndarray) -> Dict[str, np.ndarray]:
        """(B, 3, 256, 256) float32 → dict of float32 arrays named by ``OUTPUT_NAMES``."""
        x = np.ascontiguousarray(norm_img, dtype=self.input_dtype)
        return self._named(self.bound.run(list(OUTPUT_NAMES), {ONNX_INPUT: x}))

    def run_with_crops(self, image_rgb: np.ndarray, crop_window: np.ndarray,
                       mirror: np.ndarray) -> Dict[str, np.ndarray]:
        """See :meth:`HMR2Estimator.run_with_crops` (crops inside the graph)."""
        return self._named(self.bound.run(list(OUTPUT_NAMES), {
            IMAGE_INPUT: self.upload(image_rgb), HMR2_GEOMETRY_INPUT: crop_window,
            MIRROR_INPUT: mirror}))

    @staticmethod
    def _named(outs) -> Dict[str, np.ndarray]:
        return {n: o.astype(np.float32, copy=False) for n, o in zip(OUTPUT_NAMES, outs)}
