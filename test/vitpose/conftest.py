"""Fixtures for ViTPose tests: parity helper (synthetic weights, fixture data), tiny models."""

import pytest
import torch

from wham_ros.vit import ViTConfig
from wham_ros.vitpose import ViTPose, load_vitpose

TINY_VIT = ViTConfig(embed_dim=64, depth=2, num_heads=4)
TINY_HEAD_CHANNELS = 32


@pytest.fixture(scope="session")
def tiny_state_dict(parity):
    """Name-seeded weights for a tiny ViTPose (same names as ViTPose-H, small shapes)."""
    with torch.device("meta"):
        model = ViTPose(TINY_VIT, TINY_HEAD_CHANNELS)
    shapes = {n: t.shape for n, t in model.state_dict().items()}
    return {n: torch.from_numpy(a) for n, a in parity.synthetic_state_dict_for(shapes).items()}


@pytest.fixture(scope="session")
def tiny_vitpose(tiny_state_dict):
    return load_vitpose(tiny_state_dict, backbone_cfg=TINY_VIT, head_channels=TINY_HEAD_CHANNELS)
