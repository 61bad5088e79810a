"""ViTPose top-down heatmap network (mmpose ``TopDown`` = ViT backbone + simple head).

State-dict names are mmpose's: ``backbone.*`` (see :mod:`wham_ros.vit.backbone`) and
``keypoint_head.deconv_layers.{0,1,3,4}.*``, ``keypoint_head.final_layer.*`` (403 entries
for ViTPose-H).
"""
from typing import Optional, Union

import torch
from torch import nn

from wham_ros.vit.backbone import ViT, ViTConfig
from wham_ros.vit.checkpoint import StateDictLike, build_loaded
from wham_ros.vitpose.keypoints import COCO17_FLIP_INDEX, COCO17_NAMES

#: Network input (height, width) in pixels and heatmap (height, width) = input / 4.
INPUT_HW = (256, 192)
HEATMAP_HW = (64, 48)
#: ONNX tensor names (``wham-ros export vitpose``): (B, 3, 256, 192) → (B, 17, 64, 48).
ONNX_INPUT = "input_tensor"
ONNX_OUTPUT = "heatmaps"


class TopdownHeatmapSimpleHead(nn.Module):
    """Two ×2 deconvolutions (ConvTranspose2d k4 s2 p1, no bias) + BN + ReLU, then a 1×1 conv.

    Names: ``deconv_layers.{0,3}`` deconvs, ``deconv_layers.{1,4}`` BatchNorm2d (eps 1e-5),
    ``final_layer`` Conv2d(channels, num_joints, 1).
    """

    def __init__(self, in_channels: int = 1280, channels: int = 256, num_joints: int = 17):
        super().__init__()
        self.deconv_layers = nn.Sequential(
            nn.ConvTranspose2d(in_channels, channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.final_layer = nn.Conv2d(channels, num_joints, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, Hp, Wp) features → (B, J, 4 Hp, 4 Wp) heatmaps."""
        return self.final_layer(self.deconv_layers(x))


class ViTPose(nn.Module):
    """ViTPose: normalised RGB crop (B, 3, 256, 192) → COCO-17 heatmaps (B, 17, 64, 48).

    Args:
        backbone_cfg: ViT sizes (default ViT-H).
        head_channels: deconvolution width (default 256).
    """

    def __init__(self, backbone_cfg: ViTConfig = ViTConfig(), head_channels: int = 256):
        super().__init__()
        self.backbone = ViT(backbone_cfg)
        self.keypoint_head = TopdownHeatmapSimpleHead(backbone_cfg.embed_dim, head_channels,
                                                      len(COCO17_NAMES))

    def forward(self, x: torch.Tensor, flip_test: bool = False) -> torch.Tensor:
        """Heatmaps of a batch of crops.

        Args:
            x (torch.Tensor): (B, 3, 256, 192) ImageNet-normalised RGB crops
                (:func:`wham_ros.frontend.crops.vitpose_crops`).
            flip_test: also run the mirrored crops and average (WHAM/mmpose ``flip_test``,
                ``shift_heatmap=False``): ``(h(x) + flip_back(h(flip(x)))) * 0.5``.

        Returns:
            torch.Tensor: (B, 17, 64, 48) heatmaps in COCO-17 order.
        """
        if not flip_test:
            return self.keypoint_head(self.backbone(x))
        both = self.keypoint_head(self.backbone(torch.cat([x, x.flip(-1)])))  # 2B x 17 x 64 x 48
        plain, flipped = both.split(x.shape[0])
        return (plain + flipped[:, COCO17_FLIP_INDEX].flip(-1)) * 0.5


def load_vitpose(checkpoint: StateDictLike, device: Union[str, torch.device] = "cpu",
                 dtype: torch.dtype = torch.float32, backbone_cfg: Optional[ViTConfig] = None,
                 head_channels: int = 256) -> ViTPose:
    """Build ViTPose-H and load official weights (``vitpose-h-multi-coco.pth``, mmpose format).

    The file's ``state_dict`` is used, a leading ``module.`` is stripped; entries outside
    ``backbone.*``/``keypoint_head.*`` (e.g. ``associate_keypoint_heads.*`` of multi-task
    checkpoints) are ignored with a warning. Inside those prefixes the load is strict.

    Args:
        checkpoint: path to the checkpoint, or a state dict of the 403 entries.
        device: where the model lives.
        dtype: floating-point dtype of the weights (float32, float16, float64).
        backbone_cfg: non-default backbone sizes (tests, tiny models); default ViT-H.
        head_channels: deconvolution width of the head.

    Returns:
        ViTPose in eval mode.

    Raises:
        CheckpointError: missing/corrupt/truncated file, wrong or missing names, wrong shapes.
    """
    return build_loaded(lambda: ViTPose(backbone_cfg or ViTConfig(), head_channels),
                        checkpoint, device, dtype, "ViTPose")
