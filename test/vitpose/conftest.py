"""Fixtures for ViTPose tests: parity helper (synthetic weights, fixture data), tiny models."""

import pytest

from wham_ros.testing.synthetic_frontend import synthetic_weights_for
from wham_ros.vit import ViTConfig
from wham_ros.vitpose import ViTPose, load_vitpose

TINY_VIT = ViTConfig(embed_dim=64, depth=2, num_heads=4)
TINY_HEAD_CHANNELS = 32


@pytest.fixture(scope="session")
def tiny_state_dict():
    """Name-seeded weights for a tiny ViTPose (same names as ViTPose-H, small shapes)."""
    return synthetic_weights_for(lambda: ViTPose(TINY_VIT, TINY_HEAD_CHANNELS))


@pytest.fixture(scope="session")
def tiny_vitpose(tiny_state_dict):
    return load_vitpose(tiny_state_dict, backbone_cfg=TINY_VIT, head_channels=TINY_HEAD_CHANNELS)
