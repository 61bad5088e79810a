"""Image + boxes → COCO-17 keypoints with ViTPose, independent of the inference engine.

:class:`VitPoseEstimator` does WHAM's whole per-frame ViTPose step: crops, the network
(with flip test: the crops and their mirror images in one batch), flip merge and decode.
Crops come from one of two backends (``crop_backend``):

* ``opencv`` (default): :func:`wham_ros.frontend.crops.vitpose_crops` on the host, the
  normalised crops go to :meth:`VitPoseEstimator.run_network`;
* ``device``: the crop geometry is reduced on the host to per-crop taps
  (:func:`wham_ros.frontend.device_crops.warp_affine_taps`, mirrored crops included); the
  uint8 image and the taps go to :meth:`VitPoseEstimator.run_with_crops`, which samples and
  normalises on the device (:mod:`wham_ros.frontend.device_crops`; the same crops, tested
  equal).

Subclasses only run the network: :class:`VitPoseTorch` here,
:class:`wham_ros.vitpose.onnx_backend.VitPoseOnnx` for ONNX Runtime.
"""
import contextlib
from typing import Optional

import numpy as np
import torch

from wham_ros.detect.detector import check_image
from wham_ros.frontend.crops import vitpose_crops
from wham_ros.frontend.device_crops import (CropTaps, FrameUpload, VitPoseWithCrops,
                                            vitpose_geometry, warp_affine_taps, with_mirrored)
from wham_ros.vitpose.decode import keypoints_from_heatmaps, merge_flipped_heatmaps
from wham_ros.vitpose.keypoints import COCO17_NAMES
from wham_ros.vitpose.model import ViTPose

#: Where the crops are made: host OpenCV (bit-exact reference) or on the device.
CROP_BACKENDS = ("opencv", "device")
#: Torch autocast modes of the torch runners ('none': the model's own dtype).
AUTOCAST_DTYPES = {"none": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def check_crop_backend(crop_backend: str) -> str:
    """``crop_backend`` if known, else ValueError naming the choices."""
    if crop_backend not in CROP_BACKENDS:
        raise ValueError(f"Unknown crop_backend '{crop_backend}'; expected one of {CROP_BACKENDS}")
    return crop_backend


def autocast_context(device: torch.device, autocast: str):
    """``torch.autocast`` for 'fp16' / 'bf16' on ``device``, a no-op context for 'none'.

    Raises:
        ValueError: an unknown mode.
    """
    if autocast not in AUTOCAST_DTYPES:
        raise ValueError(f"Unknown autocast '{autocast}'; expected one of {tuple(AUTOCAST_DTYPES)}")
    dtype = AUTOCAST_DTYPES[autocast]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class VitPoseEstimator:
    """Base class: subclasses implement :meth:`run_network` and :meth:`run_with_crops`.

    Args:
        flip_test: average with the mirrored crops (WHAM's setting: True).
        crop_backend: 'opencv' or 'device' (see the module docstring).
    """

    def __init__(self, flip_test: bool = True, crop_backend: str = "opencv"):
        self.flip_test = flip_test
        self.crop_backend = check_crop_backend(crop_backend)

    def run_network(self, input_tensor: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 192) float32 normalised crops → (B, 17, 64, 48) float32 heatmaps."""
        raise NotImplementedError

    def run_with_crops(self, image_rgb: np.ndarray, taps: CropTaps) -> np.ndarray:
        """Crops made on the device, then the network.

        Args:
            image_rgb (np.ndarray): (H, W, 3) uint8 RGB.
            taps: B crops' taps (:func:`wham_ros.frontend.device_crops.warp_affine_taps`).

        Returns:
            np.ndarray: (B, 17, 64, 48) float32 heatmaps.
        """
        raise NotImplementedError

    def heatmaps(self, input_tensor: np.ndarray, mirrored: bool = False) -> np.ndarray:
        """Heatmaps of normalised crops, flip-merged when ``flip_test``.

        Args:
            input_tensor (np.ndarray): (B, 3, 256, 192) float32 (``mirrored``: (2B, ...)).
            mirrored: with ``flip_test``, ``input_tensor`` already holds the B crops then
                their B mirror images (``vitpose_crops(..., mirrored=True)``).

        Returns:
            np.ndarray: (B, 17, 64, 48) float32.
        """
        if not self.flip_test:
            return self.run_network(input_tensor)
        if not mirrored:
            input_tensor = np.concatenate([input_tensor, input_tensor[..., ::-1]])
        both = self.run_network(input_tensor)
        n = len(input_tensor) // 2
        return merge_flipped_heatmaps(both[:n], both[n:])

    def __call__(self, image_rgb: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Keypoints of the people in N boxes of one image.

        Args:
            image_rgb (np.ndarray): (H, W, 3) uint8 RGB.
            boxes_xyxy (np.ndarray): (N, 4) [x1, y1, x2, y2] px (detector boxes).

        Returns:
            np.ndarray: (N, 17, 3) float32 COCO-17 ``[x_px, y_px, score]``.
        """
        boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, len(COCO17_NAMES), 3), dtype=np.float32)
        if self.crop_backend == "opencv":
            crops = vitpose_crops(image_rgb, boxes, mirrored=self.flip_test)
            return keypoints_from_heatmaps(self.heatmaps(crops.input_tensor, self.flip_test),
                                           crops.center, crops.scale)
        check_image(image_rgb)
        center, scale, geometry = vitpose_geometry(boxes)
        geometry, mirror = with_mirrored(geometry, self.flip_test)  # N crops, then N mirrored
        hm = self.run_with_crops(image_rgb, warp_affine_taps(geometry, mirror, image_rgb.shape[:2]))
        n = len(boxes)
        if self.flip_test:
            hm = merge_flipped_heatmaps(hm[:n], hm[n:])
        return keypoints_from_heatmaps(hm, center, scale)


class VitPoseTorch(VitPoseEstimator):
    """ViTPose with PyTorch (CPU or GPU).

    Args:
        model: a loaded :class:`wham_ros.vitpose.ViTPose` (``load_vitpose``).
        flip_test: see :class:`VitPoseEstimator`.
        crop_backend: 'opencv' or 'device' (crops on the model's device).
        autocast: 'none', 'fp16' or 'bf16' (``torch.autocast`` around the network).
        upload: shared per-frame image upload (one host → device copy per frame for all
            runners); None: this runner uploads the image itself.
    """

    def __init__(self, model: ViTPose, flip_test: bool = True, crop_backend: str = "opencv",
                 autocast: str = "none", upload: Optional[FrameUpload] = None):
        super().__init__(flip_test, crop_backend)
        self.model = model.eval()
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        autocast_context(self.device, autocast)  # validates the name
        self.autocast = autocast
        self.with_crops = VitPoseWithCrops(self.model).to(self.device)
        self.upload = upload or FrameUpload(lambda a: torch.from_numpy(a).to(self.device))

    @torch.inference_mode()
    def run_network(self, input_tensor: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 192) float32 → (B, 17, 64, 48) float32 heatmaps."""
        x = torch.from_numpy(np.ascontiguousarray(input_tensor)).to(self.device, self.dtype)
        with autocast_context(self.device, self.autocast):
            return self.model(x).float().cpu().numpy()

    @torch.inference_mode()
    def run_with_crops(self, image_rgb: np.ndarray, taps: CropTaps) -> np.ndarray:
        """See :meth:`VitPoseEstimator.run_with_crops` (crops on ``self.device``)."""
        args = [torch.from_numpy(a).to(self.device) for a in taps.feeds().values()]
        with autocast_context(self.device, self.autocast):
            return self.with_crops(self.upload(image_rgb), *args).float().cpu().numpy()
