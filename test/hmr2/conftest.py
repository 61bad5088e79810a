"""Fixtures for HMR2 tests: parity helper (synthetic weights, fixture data), tiny models."""

import pytest

from wham_ros.hmr2 import DecoderConfig, HMR2Encoder, load_hmr2
from wham_ros.testing.synthetic_frontend import synthetic_weights_for
from wham_ros.vit import ViTConfig

TINY_VIT = ViTConfig(embed_dim=64, depth=2, num_heads=4)
TINY_DECODER = DecoderConfig(dim=64, depth=2, heads=2, dim_head=16, mlp_dim=64)


@pytest.fixture(scope="session")
def tiny_state_dict():
    """Name-seeded weights for a tiny HMR2 encoder (HMR2.0 names, small shapes)."""
    return synthetic_weights_for(lambda: HMR2Encoder(TINY_VIT, TINY_DECODER))


@pytest.fixture(scope="session")
def tiny_hmr2(tiny_state_dict):
    return load_hmr2(tiny_state_dict, backbone_cfg=TINY_VIT, decoder_cfg=TINY_DECODER)
