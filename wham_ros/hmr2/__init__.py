"""HMR2.0 image encoder (WHAM's feature extractor): model and official-checkpoint loader."""
from wham_ros.hmr2.model import (OUTPUT_NAMES, DecoderConfig, HMR2Encoder, load_hmr2,
                                 rotation_6d_columns_to_matrix)

__all__ = ["HMR2Encoder", "DecoderConfig", "load_hmr2", "rotation_6d_columns_to_matrix",
           "OUTPUT_NAMES"]
