"""``wham-ros export``: export ViTPose-H and the HMR2.0 encoder to ONNX from official checkpoints.

Examples::

    wham-ros export vitpose checkpoints/vitpose-h-multi-coco.pth models/vitpose_h.onnx
    wham-ros export hmr2 checkpoints/hmr2a.ckpt models/hmr2_encoder.onnx

I/O (batch axis dynamic, float32):
    vitpose: ``input_tensor`` (B, 3, 256, 192) → ``heatmaps`` (B, 17, 64, 48)
    hmr2:    ``norm_img`` (B, 3, 256, 256) → ``features`` (B, 1024), ``global_orient``
             (B, 1, 3, 3), ``body_pose`` (B, 23, 3, 3), ``betas`` (B, 10), ``cam`` (B, 3)

With ``--device-crops`` the crops are sampled inside the graph
(:mod:`wham_ros.frontend.device_crops`): inputs ``image`` (H, W, 3) uint8 RGB (any size;
the graph casts it to float32 first) and the host-computed taps ``crop_rows`` /
``crop_cols`` (B, h, 2) / (B, w, 2) int32 with ``crop_row_weights`` / ``crop_col_weights``
float32 (no float64 anywhere); same outputs. Run them with ``crop_backend: device``.

ViT-H weights are ~2.5 GB, more than one protobuf may hold, so the weights go to one external
data file next to the ``.onnx`` (``<name>.onnx.data``, needs the ``onnx`` package); keep the
two files together.
"""
import argparse
import copy
import logging
import os
import sys
import tempfile
import warnings
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from wham_ros.frontend.crops import HMR2_INPUT_HW, VITPOSE_INPUT_HW
from wham_ros.frontend.device_crops import (IMAGE_INPUT, TAP_INPUTS, HMR2WithCrops,
                                            VitPoseWithCrops)
from wham_ros.hmr2.model import ONNX_INPUT as HMR2_INPUT
from wham_ros.hmr2.model import OUTPUT_NAMES as HMR2_OUTPUTS
from wham_ros.hmr2.model import HMR2Encoder, load_hmr2
from wham_ros.vit.checkpoint import CheckpointError
from wham_ros.vitpose.model import ONNX_INPUT as VITPOSE_INPUT
from wham_ros.vitpose.model import ONNX_OUTPUT as VITPOSE_OUTPUT
from wham_ros.vitpose.model import ViTPose, load_vitpose

LOG = logging.getLogger(__name__)

DEFAULT_OPSET = 17
_PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1


class _Heatmaps(nn.Module):
    """ViTPose without the flip-test switch (the runtime wrapper does the flip test)."""

    def __init__(self, model: ViTPose):
        super().__init__()
        self.model = model

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.model(input_tensor, flip_test=False)


class _HMR2Outputs(nn.Module):
    """HMR2Encoder with a tuple output in ``OUTPUT_NAMES`` order (ONNX needs positions)."""

    def __init__(self, encoder: HMR2Encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, norm_img: torch.Tensor):
        out = self.encoder(norm_img)
        return tuple(out[name] for name in HMR2_OUTPUTS)


def _device_crop_io(output_hw: Tuple[int, int], output_names):
    """Example inputs, input names and dynamic axes of a graph with crops inside."""
    h, w = output_hw
    example = (torch.zeros(64, 48, 3, dtype=torch.uint8),
               torch.zeros(2, h, 2, dtype=torch.int32), torch.ones(2, h, 2),
               torch.zeros(2, w, 2, dtype=torch.int32), torch.ones(2, w, 2))
    names = [IMAGE_INPUT, *TAP_INPUTS]
    dynamic = {IMAGE_INPUT: {0: "height", 1: "width"}}
    dynamic.update({name: {0: "batch"} for name in TAP_INPUTS})
    dynamic.update({name: {0: "batch"} for name in output_names})
    return example, names, dynamic


def _export(module: nn.Module, example: Tuple[torch.Tensor, ...], path: str,
            input_names: Sequence[str], output_names: Sequence[str], opset: int,
            dynamic: Optional[Dict[str, Dict[int, str]]] = None) -> None:
    """Trace-export ``module``; weights over 2 GB go to one ``<file>.data`` beside ``path``.

    The exporter writes large models as one file per tensor, so it runs in a scratch folder
    and the result is re-saved (``onnx`` package) with a single external-data file.
    ``dynamic`` defaults to a dynamic batch axis on every input and output.
    """
    out_dir = os.path.dirname(os.path.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    n_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    if dynamic is None:
        dynamic = {name: {0: "batch"} for name in (*input_names, *output_names)}
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        raw = os.path.join(scratch, "model.onnx")
        # torch >= 2.9 marks the TorchScript exporter deprecated; the dynamo exporter needs
        # onnxscript, which we do not require. The legacy exporter handles > 2 GB models.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(module.eval(), example, raw, dynamo=False,
                              input_names=list(input_names), output_names=list(output_names),
                              dynamic_axes=dynamic, opset_version=opset,
                              do_constant_folding=True)
        if n_bytes <= _PROTOBUF_LIMIT_BYTES:
            os.replace(raw, path)
        else:
            import onnx

            data = os.path.basename(path) + ".data"
            onnx.save_model(onnx.load(raw), path, save_as_external_data=True,
                            all_tensors_to_one_file=True, location=data)
    LOG.info("wrote %s (%.1f MB of weights%s)", path, n_bytes / 1e6,
             f", external data in {os.path.basename(path)}.data"
             if n_bytes > _PROTOBUF_LIMIT_BYTES else "")


def _in_dtype(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """The model in ``dtype`` (a copy when it has to change; the caller's model is kept)."""
    if next(model.parameters()).dtype == dtype:
        return model
    return copy.deepcopy(model).to(dtype)


def export_vitpose(model: ViTPose, path: str, opset: int = DEFAULT_OPSET,
                   fp16: bool = False, device_crops: bool = False) -> None:
    """Export ViTPose (no flip test inside; the runtime wrapper does it) to ``path``.

    Args:
        model: a ViTPose module (any size) in float32 on CPU.
        path: output ``.onnx``.
        opset: ONNX opset.
        fp16: export half-precision weights and I/O (for CUDA/TensorRT; the runtime wrapper
            casts to and from float32).
        device_crops: crops inside the graph (inputs image and the crop taps).
    """
    dtype = torch.float16 if fp16 else torch.float32
    model = _in_dtype(model, dtype)
    if device_crops:
        example, names, dynamic = _device_crop_io(VITPOSE_INPUT_HW, [VITPOSE_OUTPUT])
        _export(VitPoseWithCrops(model), example, path, names, [VITPOSE_OUTPUT],
                opset, dynamic)
        return
    example = (torch.zeros(2, 3, *model.backbone.cfg.img_size, dtype=dtype),)
    _export(_Heatmaps(model), example, path, [VITPOSE_INPUT], [VITPOSE_OUTPUT], opset)


def export_hmr2(model: HMR2Encoder, path: str, opset: int = DEFAULT_OPSET,
                fp16: bool = False, device_crops: bool = False) -> None:
    """Export the HMR2.0 encoder (token + initial SMPL outputs) to ``path``.

    Args:
        model: an HMR2Encoder (any size) in float32 on CPU.
        path: output ``.onnx``.
        opset: ONNX opset.
        fp16: export half-precision weights and I/O (see :func:`export_vitpose`).
        device_crops: crops inside the graph (inputs image and the crop taps).
    """
    dtype = torch.float16 if fp16 else torch.float32
    model = _in_dtype(model, dtype)
    if device_crops:
        example, names, dynamic = _device_crop_io(HMR2_INPUT_HW, HMR2_OUTPUTS)
        _export(HMR2WithCrops(model, HMR2_OUTPUTS), example, path, names,
                HMR2_OUTPUTS, opset, dynamic)
        return
    example = (torch.zeros(2, 3, 256, 256, dtype=dtype),)
    _export(_HMR2Outputs(model), example, path, [HMR2_INPUT], HMR2_OUTPUTS, opset)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point (``wham-ros export``)."""
    parser = argparse.ArgumentParser(
        prog="wham-ros export",
        description="Export WHAM's front-end networks to ONNX from the official checkpoints.")
    parser.add_argument("model", choices=["vitpose", "hmr2"],
                        help="vitpose: ViTPose-H (vitpose-h-multi-coco.pth); "
                             "hmr2: HMR2.0 encoder (hmr2a.ckpt)")
    parser.add_argument("checkpoint", help="official checkpoint file")
    parser.add_argument("output", help="output .onnx path")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset version")
    parser.add_argument("--fp16", action="store_true",
                        help="half-precision weights and I/O (for CUDA / TensorRT providers)")
    parser.add_argument("--device-crops", action="store_true",
                        help="crops inside the graph: inputs are the uint8 image and per-crop "
                             "taps (for crop_backend: device)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        import onnx  # noqa: F401  (torch.onnx.export, also in fp16, and the > 2 GB save need it)
    except ImportError:
        LOG.error("exporting needs the onnx package, which is not installed: "
                  "pip install \"wham_ros[export]\" (or: pip install onnx)")
        return 1
    try:
        if args.model == "vitpose":
            export_vitpose(load_vitpose(args.checkpoint), args.output, args.opset, args.fp16,
                           args.device_crops)
        else:
            export_hmr2(load_hmr2(args.checkpoint), args.output, args.opset, args.fp16,
                        args.device_crops)
    except CheckpointError as exc:
        LOG.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
