"""Plain ViT backbone shared by ViTPose and HMR2.0, and checkpoint-loading helpers."""
from wham_ros.vit.backbone import ViT, ViTConfig
from wham_ros.vit.checkpoint import CheckpointError

__all__ = ["ViT", "ViTConfig", "CheckpointError"]
