"""HMR2.0 encoder with ONNX Runtime (model exported by ``wham-ros export hmr2``).

ONNX I/O: input ``norm_img`` (B, 3, 256, 256) float32 normalised RGB crops → outputs
``features`` (B, 1024), ``global_orient`` (B, 1, 3, 3), ``body_pose`` (B, 23, 3, 3),
``betas`` (B, 10), ``cam`` (B, 3), all float32; the batch axis is dynamic. Rotation matrices
act on column vectors (root in the camera frame). Exported with ``--device-crops`` (for
``crop_backend='device'``): inputs ``image`` (H, W, 3) uint8 and the per-crop taps
``crop_rows`` / ``crop_cols`` (B, 256, 2) int32, ``crop_row_weights`` / ``crop_col_weights``
(B, 256, 2) float32 (:class:`wham_ros.frontend.device_crops.CropTaps`). Sessions run through
I/O binding; batches larger than the TensorRT profile (2 x ``max_people`` crops: flip-eval
doubles them) run in chunks.
"""
from typing import Dict, Optional

import numpy as np

from wham_ros.frontend.crops import HMR2_INPUT_HW
from wham_ros.frontend.device_crops import (IMAGE_INPUT, CropTaps, FrameUpload, check_graph_io,
                                            check_image_fits_profile, graph_profile)
from wham_ros.hmr2.estimator import HMR2Estimator
from wham_ros.hmr2.model import ONNX_INPUT, OUTPUT_NAMES
from wham_ros.ort_session import (BoundSession, OrtOptions, chunks,
                                  input_numpy_dtype, join_chunks, open_session)

class HMR2Onnx(HMR2Estimator):
    """HMR2.0 encoder on an ONNX Runtime session.

    Args:
        path: the exported ``.onnx`` file.
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt'.
        intra_op_threads: ONNX Runtime threads, 0 = its default.
        options: execution-provider options (TensorRT caches, fp16, device id, max_people).
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
        self.max_batch = 2 * max(1, options.max_people)  # crops + mirrored crops (flip-eval)
        model = open_session(path, providers, "HMR2", intra_op_threads, options,
                             graph_profile(crop_backend, self.max_batch, HMR2_INPUT_HW,
                                           ONNX_INPUT))
        self.session, self.provider, self.placement = model.session, model.provider, model.placement
        check_graph_io(self.session, "HMR2", path, crop_backend, ONNX_INPUT, OUTPUT_NAMES)
        self.input_dtype = input_numpy_dtype(self.session)  # float16 for --fp16 exports
        self.bound = BoundSession(self.session, self.provider, options.device_id)
        self.upload = upload or FrameUpload(self.bound.upload)

    def run_network(self, norm_img: np.ndarray) -> Dict[str, np.ndarray]:
        """(B, 3, 256, 256) float32 → dict of float32 arrays named by ``OUTPUT_NAMES``."""
        x = np.ascontiguousarray(norm_img, dtype=self.input_dtype)
        return self._named([self.bound.run(list(OUTPUT_NAMES), {ONNX_INPUT: x[c]})
                            for c in chunks(len(x), self.max_batch)])

    def run_with_crops(self, image_rgb: np.ndarray, taps: CropTaps) -> Dict[str, np.ndarray]:
        """See :meth:`HMR2Estimator.run_with_crops` (crops inside the graph)."""
        if self.provider == "TensorrtExecutionProvider":
            check_image_fits_profile(image_rgb)
        image = self.upload(image_rgb)  # once per frame, whatever the number of chunks
        return self._named([self.bound.run(list(OUTPUT_NAMES),
                                           {IMAGE_INPUT: image, **taps.take(c).feeds()})
                            for c in chunks(len(taps), self.max_batch)])

    @staticmethod
    def _named(parts) -> Dict[str, np.ndarray]:
        """Chunks of outputs (lists in ``OUTPUT_NAMES`` order) → one float32 array per name."""
        return {n: join_chunks([p[i] for p in parts]) for i, n in enumerate(OUTPUT_NAMES)}
