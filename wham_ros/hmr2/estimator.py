"""Image + boxes → HMR2.0 image tokens and initial SMPL parameters, engine-independent.

:class:`HMR2Estimator` does WHAM's per-frame feature extraction: crop, then the network,
optionally also on the mirrored crops (WHAM's ``flip_eval``) in the same batch. Crops come
from ``crop_backend`` 'opencv' (:func:`wham_ros.frontend.crops.hmr2_crops` on the host,
then :meth:`HMR2Estimator.run_network`) or 'device' (image + per-crop taps computed on the host
from the crop windows to :meth:`HMR2Estimator.run_with_crops`, see
:mod:`wham_ros.frontend.device_crops`).
Subclasses only run the network: :class:`HMR2Torch` here,
:class:`wham_ros.hmr2.onnx_backend.HMR2Onnx` for ONNX Runtime.
"""
from typing import Dict, Optional

import numpy as np
import torch

from wham_ros.detect.detector import check_image
from wham_ros.frontend.crops import hmr2_crops
from wham_ros.frontend.device_crops import (CropTaps, FrameUpload, HMR2WithCrops,
                                            hmr2_geometry, resize_taps, with_mirrored)
from wham_ros.hmr2.model import OUTPUT_NAMES, HMR2Encoder
from wham_ros.vitpose.estimator import autocast_context, check_crop_backend


class HMR2Estimator:
    """Base class: subclasses implement :meth:`run_network` and :meth:`run_with_crops`.

    Args:
        crop_backend: 'opencv' or 'device'.
    """

    def __init__(self, crop_backend: str = "opencv"):
        self.crop_backend = check_crop_backend(crop_backend)

    def run_network(self, norm_img: np.ndarray) -> Dict[str, np.ndarray]:
        """(B, 3, 256, 256) float32 → dict of float32 arrays named by ``OUTPUT_NAMES``."""
        raise NotImplementedError

    def run_with_crops(self, image_rgb: np.ndarray, taps: CropTaps) -> Dict[str, np.ndarray]:
        """Crops made on the device, then the network.

        Args:
            image_rgb (np.ndarray): (H, W, 3) uint8 RGB.
            taps: B crops' taps (:func:`wham_ros.frontend.device_crops.resize_taps`).

        Returns:
            dict of float32 arrays named by ``OUTPUT_NAMES``, batch B.
        """
        raise NotImplementedError

    def __call__(self, image_rgb: np.ndarray, bboxes_cxcys: np.ndarray,
                 flip: bool = False) -> Dict[str, np.ndarray]:
        """Encode N square boxes of one image.

        Args:
            image_rgb (np.ndarray): (H, W, 3) uint8 RGB.
            bboxes_cxcys (np.ndarray): (N, 3) [cx, cy, s] px, side = 200 s (WHAM's box).
            flip: also encode the horizontally mirrored crops (keys prefixed ``flipped_``).

        Returns:
            dict of float32 arrays: ``features`` (N, 1024), ``global_orient`` (N, 1, 3, 3)
            camera-frame root rotation, ``body_pose`` (N, 23, 3, 3), ``betas`` (N, 10),
            ``cam`` (N, 3); with ``flip`` also ``flipped_<name>`` of each.
        """
        boxes = np.asarray(bboxes_cxcys, dtype=np.float64).reshape(-1, 3)
        if len(boxes) == 0:
            return self._empty(flip)
        if self.crop_backend == "opencv":
            norm_img, _ = hmr2_crops(image_rgb, boxes, mirrored=flip)  # flip: N crops, N mirrored
            out = self.run_network(norm_img)
        else:
            check_image(image_rgb)
            windows, mirror = with_mirrored(hmr2_geometry(boxes), flip)
            out = self.run_with_crops(image_rgb, resize_taps(windows, mirror, image_rgb.shape[:2]))
        if not flip:
            return out
        n = len(boxes)
        result = {name: out[name][:n] for name in OUTPUT_NAMES}
        result.update({f"flipped_{name}": out[name][n:] for name in OUTPUT_NAMES})
        return result

    def _empty(self, flip: bool) -> Dict[str, np.ndarray]:
        shapes = {"features": (0, 1024), "global_orient": (0, 1, 3, 3),
                  "body_pose": (0, 23, 3, 3), "betas": (0, 10), "cam": (0, 3)}
        out = {k: np.zeros(s, dtype=np.float32) for k, s in shapes.items()}
        if flip:
            out.update({f"flipped_{k}": v.copy() for k, v in out.items()})
        return out


class HMR2Torch(HMR2Estimator):
    """HMR2.0 encoder with PyTorch (CPU or GPU).

    Args:
        model: a loaded :class:`wham_ros.hmr2.HMR2Encoder` (``load_hmr2``).
        crop_backend: 'opencv' or 'device' (crops on the model's device).
        autocast: 'none', 'fp16' or 'bf16' (``torch.autocast`` around the network).
        upload: shared per-frame image upload (see :class:`wham_ros.vitpose.VitPoseTorch`).
    """

    def __init__(self, model: HMR2Encoder, crop_backend: str = "opencv", autocast: str = "none",
                 upload: Optional[FrameUpload] = None):
        super().__init__(crop_backend)
        self.model = model.eval()
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        autocast_context(self.device, autocast)  # validates the name
        self.autocast = autocast
        self.with_crops = HMR2WithCrops(self.model).to(self.device)
        self.upload = upload or FrameUpload(lambda a: torch.from_numpy(a).to(self.device))

    @torch.inference_mode()
    def run_network(self, norm_img: np.ndarray) -> Dict[str, np.ndarray]:
        """(B, 3, 256, 256) float32 → dict of float32 arrays (see :class:`HMR2Estimator`)."""
        x = torch.from_numpy(np.ascontiguousarray(norm_img)).to(self.device, self.dtype)
        with autocast_context(self.device, self.autocast):
            return {k: v.float().cpu().numpy() for k, v in self.model(x).items()}

    @torch.inference_mode()
    def run_with_crops(self, image_rgb: np.ndarray, taps: CropTaps) -> Dict[str, np.ndarray]:
        """See :meth:`HMR2Estimator.run_with_crops` (crops on ``self.device``)."""
        args = [torch.from_numpy(a).to(self.device) for a in taps.feeds().values()]
        with autocast_context(self.device, self.autocast):
            out = self.with_crops(self.upload(image_rgb), *args)
        return {k: v.float().cpu().numpy() for k, v in out.items()}
