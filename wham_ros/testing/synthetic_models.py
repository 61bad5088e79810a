"""A complete synthetic model set for end-to-end runs without licensed files.

``make_synthetic_model_dir(root)`` writes::

    root/wham_vit_bedlam_w_3dpw.pth.tar   official checkpoint layout, name-seeded weights
    root/body_models/...                   synthetic SMPL-format body model (WHAM layout)
    root/detector.onnx                     YOLOv8-format (1, 84, 4) colour-blob person detector
    root/vitpose.onnx                      tiny ViTPose (real I/O: (B,3,256,192) -> (B,17,64,48))
    root/hmr2.onnx                         tiny HMR2.0 encoder (real I/O, 1024-d features)

The detector is a real (tiny) network, exported from torch and run by ONNX Runtime: it finds
the regions of four saturated colours in the letterboxed input and reports each as one
person box (centroid and spread of the region), score growing with its area. Scenes
from :mod:`wham_ros.testing.scenes` draw people that way. ViTPose and HMR2.0 keep their
real architecture and tensor names at toy width, with the fixture's name-seeded weights.
"""
import os
from dataclasses import replace
from typing import Dict

import torch
from torch import nn

from wham_ros.testing.synthetic_frontend import synthetic_weights_for
from wham_ros.testing.synthetic_wham import (synthetic_smpl_arrays, write_body_model_dir,
                                             write_official_checkpoint)

DETECTOR_INPUT_HW = (320, 320)
NUM_CLASSES = 80
WHAM_CHECKPOINT = "wham_vit_bedlam_w_3dpw.pth.tar"


class ColourBlobDetector(nn.Module):
    """(1, 3, H, W) RGB in [0, 1] -> (1, 4 + 80, K) YOLOv8 rows [cx, cy, w, h, classes...].

    Candidate k is the region whose pixels are within an L1 distance of 0.5 of colour k
    (``wham_ros.testing.scenes.COLOURS``); box = centroid +- sqrt(12) * std / 2 per axis
    (exact for a filled rectangle), person score = min(1, area / 400 px).
    """

    def __init__(self):
        super().__init__()
        from wham_ros.testing.scenes import COLOURS
        self.register_buffer("colours", torch.tensor(COLOURS, dtype=torch.float32) / 255.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _, _, H, W = images.shape
        ys = torch.arange(H, dtype=images.dtype).view(1, H, 1)
        xs = torch.arange(W, dtype=images.dtype).view(1, 1, W)
        rows = []
        for k in range(self.colours.shape[0]):
            dist = (images - self.colours[k].view(1, 3, 1, 1)).abs().sum(1)  # 1 x H x W
            m = (1.0 - 2.0 * dist).clamp(min=0.0)
            mass = m.sum((1, 2)) + 1e-6
            cx = (m * xs).sum((1, 2)) / mass
            cy = (m * ys).sum((1, 2)) / mass
            w = ((m * (xs - cx.view(-1, 1, 1)) ** 2).sum((1, 2)) / mass).sqrt() * 12 ** 0.5
            h = ((m * (ys - cy.view(-1, 1, 1)) ** 2).sum((1, 2)) / mass).sqrt() * 12 ** 0.5
            score = (mass / 400.0).clamp(max=1.0)
            rows.append(torch.cat([torch.stack([cx, cy, w, h, score], -1),
                                   torch.zeros(1, NUM_CLASSES - 1, dtype=images.dtype)], -1))
        return torch.stack(rows, -1)  # 1 x 84 x K


def export_detector(path: str) -> str:
    """Export :class:`ColourBlobDetector` with a fixed 320x320 input (ONNX ``images``)."""
    example = torch.zeros(1, 3, *DETECTOR_INPUT_HW)
    torch.onnx.export(ColourBlobDetector(), (example,), path, input_names=["images"],
                      output_names=["output0"], opset_version=17, dynamo=False)
    return path


def tiny_vitpose():
    """Tiny ViTPose (embed 64, depth 2, head 32 channels) with name-seeded weights (torch)."""
    from wham_ros.vit import ViTConfig
    from wham_ros.vitpose import ViTPose, load_vitpose

    cfg = ViTConfig(embed_dim=64, depth=2, num_heads=4)
    sd = synthetic_weights_for(lambda: ViTPose(cfg, 32))
    return load_vitpose(sd, backbone_cfg=cfg, head_channels=32)


def tiny_hmr2():
    """Tiny HMR2.0 encoder (ViT embed 64 x 1, one decoder layer of width 1024), name-seeded."""
    from wham_ros.hmr2 import DecoderConfig, HMR2Encoder, load_hmr2
    from wham_ros.vit import ViTConfig

    vit = ViTConfig(embed_dim=64, depth=1, num_heads=4)
    dec = DecoderConfig(dim=1024, depth=1, heads=2, dim_head=16, mlp_dim=64)
    sd = synthetic_weights_for(lambda: HMR2Encoder(vit, dec))
    return load_hmr2(sd, backbone_cfg=vit, decoder_cfg=dec)


def export_tiny_vitpose(path: str, device_crops: bool = False) -> str:
    """Export :func:`tiny_vitpose`; ``device_crops``: crops inside the graph
    (``wham-ros export --device-crops``)."""
    from wham_ros.models.export_onnx import export_vitpose

    export_vitpose(tiny_vitpose(), path, device_crops=device_crops)
    return path


def export_tiny_hmr2(path: str, device_crops: bool = False) -> str:
    """Export :func:`tiny_hmr2`; ``device_crops``: crops inside the graph."""
    from wham_ros.models.export_onnx import export_hmr2

    export_hmr2(tiny_hmr2(), path, device_crops=device_crops)
    return path


def write_wham_files(root: str) -> Dict[str, str]:
    """The WHAM part of the set: ``wham_checkpoint`` and ``body_model_dir`` (no ONNX needed)."""
    from wham_ros.body import SMPLBody
    from wham_ros.wham.network import WHAMNetwork

    os.makedirs(root, exist_ok=True)
    arrays = synthetic_smpl_arrays()
    body = write_body_model_dir(os.path.join(root, "body_models"), arrays)
    shapes = {k: tuple(v.shape) for k, v in WHAMNetwork(SMPLBody(arrays)).state_dict().items()}
    return {"wham_checkpoint": write_official_checkpoint(os.path.join(root, WHAM_CHECKPOINT),
                                                         shapes, arrays),
            "body_model_dir": body}


def make_synthetic_model_dir(root: str) -> Dict[str, str]:
    """Write the whole synthetic model set under ``root``; returns name -> path.

    Keys: ``wham_checkpoint``, ``body_model_dir``, ``detector_onnx``, ``vitpose_onnx``,
    ``hmr2_onnx`` (the :class:`wham_ros.pipeline.PipelineConfig` field names).
    """
    paths = write_wham_files(root)
    paths.update({
        "detector_onnx": export_detector(os.path.join(root, "detector.onnx")),
        "vitpose_onnx": export_tiny_vitpose(os.path.join(root, "vitpose.onnx")),
        "hmr2_onnx": export_tiny_hmr2(os.path.join(root, "hmr2.onnx")),
    })
    return paths


def synthetic_pipeline_config(paths: Dict[str, str], **overrides):
    """A :class:`wham_ros.pipeline.PipelineConfig` for the synthetic model set (CPU)."""
    from wham_ros.pipeline import PipelineConfig
    from wham_ros.tracking.tracker import TrackerConfig

    cfg = PipelineConfig(**paths, providers="cpu", device="cpu", detector_format="yolov8",
                         tracker=TrackerConfig(min_hits=2))
    return replace(cfg, **overrides)
