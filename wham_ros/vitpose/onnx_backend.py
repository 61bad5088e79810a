"""ViTPose with ONNX Runtime (model exported by ``wham-ros export vitpose``).

ONNX I/O: input ``input_tensor`` (B, 3, 256, 192) float32 normalised RGB crops → output
``heatmaps`` (B, 17, 64, 48) float32; the batch axis is dynamic. Exported with
``--device-crops`` (for ``crop_backend='device'``): inputs ``image`` (H, W, 3) uint8 and the
per-crop taps ``crop_rows`` (B, 256, 2) int32, ``crop_row_weights`` (B, 256, 2) float32,
``crop_cols`` (B, 192, 2) int32, ``crop_col_weights`` (B, 192, 2) float32
(:class:`wham_ros.frontend.device_crops.CropTaps`). Flip merge and decode run in numpy
(:class:`wham_ros.vitpose.estimator.VitPoseEstimator`). Sessions run through I/O binding
(:class:`wham_ros.ort_session.BoundSession`): one upload per input, one download per chunk.

Batches: the session's TensorRT profile covers 1 to ``max_people`` people (times two with
the flip test); a frame with more crops runs in chunks of that size, so TensorRT never
meets a shape outside its engine.
"""
from typing import Optional

import numpy as np

from wham_ros.frontend.crops import VITPOSE_INPUT_HW
from wham_ros.frontend.device_crops import (IMAGE_INPUT, CropTaps, FrameUpload, check_graph_io,
                                            check_image_fits_profile, graph_profile)
from wham_ros.ort_session import (BoundSession, OrtOptions, chunks,
                                  input_numpy_dtype, join_chunks, open_session)
from wham_ros.vitpose.estimator import VitPoseEstimator
from wham_ros.vitpose.model import ONNX_INPUT, ONNX_OUTPUT

class VitPoseOnnx(VitPoseEstimator):
    """ViTPose on an ONNX Runtime session.

    Args:
        path: the exported ``.onnx`` file.
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt'
            (see :func:`wham_ros.ort_session.open_session`).
        flip_test: average with the mirrored crops (WHAM: True).
        intra_op_threads: ONNX Runtime threads, 0 = its default.
        options: execution-provider options (TensorRT caches, fp16, device id, max_people).
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
        self.max_batch = max(1, options.max_people) * (2 if flip_test else 1)
        model = open_session(path, providers, "ViTPose", intra_op_threads, options,
                             graph_profile(crop_backend, self.max_batch, VITPOSE_INPUT_HW,
                                           ONNX_INPUT))
        self.session, self.provider, self.placement = model.session, model.provider, model.placement
        check_graph_io(self.session, "ViTPose", path, crop_backend, ONNX_INPUT, [ONNX_OUTPUT])
        self.input_dtype = input_numpy_dtype(self.session)  # float16 for --fp16 exports
        self.bound = BoundSession(self.session, self.provider, options.device_id)
        self.upload = upload or FrameUpload(self.bound.upload)

    def run_network(self, input_tensor: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 192) float32 → (B, 17, 64, 48) float32 heatmaps."""
        x = np.ascontiguousarray(input_tensor, dtype=self.input_dtype)
        outs = [self.bound.run([ONNX_OUTPUT], {ONNX_INPUT: x[c]})[0]
                for c in chunks(len(x), self.max_batch)]
        return join_chunks(outs)

    def run_with_crops(self, image_rgb: np.ndarray, taps: CropTaps) -> np.ndarray:
        """See :meth:`VitPoseEstimator.run_with_crops` (crops inside the graph)."""
        if self.provider == "TensorrtExecutionProvider":
            check_image_fits_profile(image_rgb)
        image = self.upload(image_rgb)  # once per frame, whatever the number of chunks
        outs = [self.bound.run([ONNX_OUTPUT], {IMAGE_INPUT: image, **taps.take(c).feeds()})[0]
                for c in chunks(len(taps), self.max_batch)]
        return join_chunks(outs)
