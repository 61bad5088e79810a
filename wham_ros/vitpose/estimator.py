"""Image + boxes → COCO-17 keypoints with ViTPose, independent of the inference engine.

:class:`VitPoseEstimator` does WHAM's whole per-frame ViTPose step: crops
(:func:`wham_ros.frontend.crops.vitpose_crops`), the network (with flip test: the crops and
their mirror images in one batch), flip merge and decode. Subclasses only run the network:
:class:`VitPoseTorch` here, :class:`wham_ros.vitpose.onnx_backend.VitPoseOnnx` for ONNX Runtime.
"""
import numpy as np
import torch

from wham_ros.frontend.crops import vitpose_crops
from wham_ros.vitpose.decode import keypoints_from_heatmaps, merge_flipped_heatmaps
from wham_ros.vitpose.keypoints import COCO17_NAMES
from wham_ros.vitpose.model import ViTPose


class VitPoseEstimator:
    """Base class: subclasses implement :meth:`run_network`.

    Args:
        flip_test: average with the mirrored crops (WHAM's setting: True).
    """

    def __init__(self, flip_test: bool = True):
        self.flip_test = flip_test

    def run_network(self, input_tensor: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 192) float32 normalised crops → (B, 17, 64, 48) float32 heatmaps."""
        raise NotImplementedError

    def heatmaps(self, input_tensor: np.ndarray) -> np.ndarray:
        """Heatmaps of normalised crops, flip-merged when ``flip_test``.

        Args:
            input_tensor (np.ndarray): (B, 3, 256, 192) float32.

        Returns:
            np.ndarray: (B, 17, 64, 48) float32.
        """
        if not self.flip_test:
            return self.run_network(input_tensor)
        both = self.run_network(np.concatenate([input_tensor, input_tensor[..., ::-1]]))
        n = len(input_tensor)
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
        crops = vitpose_crops(image_rgb, boxes)
        return keypoints_from_heatmaps(self.heatmaps(crops.input_tensor), crops.center,
                                       crops.scale)


class VitPoseTorch(VitPoseEstimator):
    """ViTPose with PyTorch (CPU or GPU).

    Args:
        model: a loaded :class:`wham_ros.vitpose.ViTPose` (``load_vitpose``).
        flip_test: see :class:`VitPoseEstimator`.
    """

    def __init__(self, model: ViTPose, flip_test: bool = True):
        super().__init__(flip_test)
        self.model = model.eval()
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype

    @torch.inference_mode()
    def run_network(self, input_tensor: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 192) float32 → (B, 17, 64, 48) float32 heatmaps."""
        x = torch.from_numpy(np.ascontiguousarray(input_tensor)).to(self.device, self.dtype)
        return self.model(x).float().cpu().numpy()

