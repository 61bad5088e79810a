"""Image + boxes → HMR2.0 image tokens and initial SMPL parameters, engine-independent.

:class:`HMR2Estimator` does WHAM's per-frame feature extraction: crop
(:func:`wham_ros.frontend.crops.hmr2_crops`), then the network, optionally also on the
mirrored crops (WHAM's ``flip_eval``) in the same batch. Subclasses only run the network:
:class:`HMR2Torch` here, :class:`wham_ros.hmr2.onnx_backend.HMR2Onnx` for ONNX Runtime.
"""
from typing import Dict

import numpy as np
import torch

from wham_ros.frontend.crops import hmr2_crops
from wham_ros.hmr2.model import OUTPUT_NAMES, HMR2Encoder


class HMR2Estimator:
    """Base class: subclasses implement :meth:`run_network`."""

    def run_network(self, norm_img: np.ndarray) -> Dict[str, np.ndarray]:
        """(B, 3, 256, 256) float32 → dict of float32 arrays named by ``OUTPUT_NAMES``."""
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
        norm_img, _ = hmr2_crops(image_rgb, boxes)
        if not flip:
            return self.run_network(norm_img)
        out = self.run_network(np.concatenate([norm_img, norm_img[..., ::-1]]))
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
    """

    def __init__(self, model: HMR2Encoder):
        self.model = model.eval()
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype

    @torch.inference_mode()
    def run_network(self, norm_img: np.ndarray) -> Dict[str, np.ndarray]:
        """(B, 3, 256, 256) float32 → dict of float32 arrays (see :class:`HMR2Estimator`)."""
        x = torch.from_numpy(np.ascontiguousarray(norm_img)).to(self.device, self.dtype)
        return {k: v.float().cpu().numpy() for k, v in self.model(x).items()}
