"""HMR2.0 image encoder (WHAM's feature extractor): model, official-checkpoint loader, runners.

ONNX Runtime runner: :class:`wham_ros.hmr2.onnx_backend.HMR2Onnx`.
"""
from wham_ros.hmr2.estimator import HMR2Estimator, HMR2Torch
from wham_ros.hmr2.model import (OUTPUT_NAMES, DecoderConfig, HMR2Encoder, load_hmr2,
                                 rotation_6d_columns_to_matrix)

__all__ = ["HMR2Encoder", "DecoderConfig", "load_hmr2", "rotation_6d_columns_to_matrix",
           "HMR2Estimator", "HMR2Torch", "OUTPUT_NAMES"]
