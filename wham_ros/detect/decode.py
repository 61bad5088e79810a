"""Decoding of YOLO-family ONNX outputs into person candidates (numpy only).

Supported layouts (batch 1; the leading batch axis may be absent):

* ``yolov8``: ``(1, 4 + C, N)``, rows ``cx, cy, w, h`` then C class scores (already
  sigmoid-ed). YOLOv8 / YOLO11 / YOLOv9 exports from ultralytics (``yolo export format=onnx``).
* ``yolov5``: ``(1, N, 5 + C)``, columns ``cx, cy, w, h, objectness``, then C class scores;
  score = objectness x class score. YOLOv5 exports (``export.py --include onnx``).
* ``yolox``: the same layout from YOLOX exported with ``--decode_in_inference``.
* ``yolox_raw``: the same layout straight from the YOLOX head *without* the grid decode
  (YOLOX's default ONNX export): ``cx, cy`` are cell offsets and ``w, h`` log sizes, over
  the grids of strides 8, 16, 32 of the network input; decoded here with :func:`yolox_grid_decode`.
  Objectness and class scores are sigmoid-ed by the exported head in both YOLOX layouts.

The formats differ in their input too (``wham_ros.detect.letterbox``): ``yolov8`` and
``yolov5`` take RGB in [0, 1] centred, ``yolox``/``yolox_raw`` BGR 0-255 in the top-left.

``auto`` picks ``yolov8`` when the middle axis is the shorter one (``4 + C < N``); for the
``(1, N, 5 + C)`` layout it picks ``yolov5`` when the model carries the metadata YOLOv5's
exporter writes (``stride``, ``names``) and ``yolox`` otherwise. It cannot tell ``yolox``
from ``yolox_raw`` (same shape), so raw YOLOX exports need ``output_format='yolox_raw'``.

All boxes are in network-input pixels (after letterbox). A candidate is a person when the
person class is its highest-scoring class (as ultralytics' and YOLOX's single-label NMS).
"""
import logging
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from wham_ros.detect.boxes import cxcywh_to_xyxy

LOG = logging.getLogger(__name__)

OUTPUT_FORMATS = ("auto", "yolov8", "yolov5", "yolox", "yolox_raw")
YOLOV5_METADATA_KEYS = ("stride", "names")
YOLOX_STRIDES = (8, 16, 32)


class DetectorOutputError(ValueError):
    """A detector output has a shape or layout the decoder does not understand."""


def _as_2d(output: np.ndarray) -> np.ndarray:
    out = np.asarray(output)
    if out.ndim == 3:
        if out.shape[0] != 1:
            raise DetectorOutputError(f"expected batch size 1, got output shape {out.shape}")
        out = out[0]
    if out.ndim != 2:
        raise DetectorOutputError(
            f"expected a (1, 4+C, N) or (1, N, 5+C) detector output, got shape {np.shape(output)}")
    return out


def detect_format(output_shape: Sequence[int], metadata: Optional[Mapping[str, str]] = None) -> str:
    """Guess the model family from its output shape and ONNX metadata.

    Args:
        output_shape: shape of the first output, with or without the batch axis.
        metadata: the model's ONNX metadata (``custom_metadata_map``); YOLOv5's exporter
            writes ``stride`` and ``names``, YOLOX's writes none.

    Returns:
        'yolov8', 'yolov5' or 'yolox'.

    Raises:
        DetectorOutputError: the shape fits neither layout.
    """
    shape = tuple(int(d) for d in output_shape)
    if len(shape) == 3:
        shape = shape[1:]
    if len(shape) != 2:
        raise DetectorOutputError(f"cannot infer detector format from output shape {output_shape}; "
                                  "expected (1, 4+C, N) or (1, N, 5+C)")
    rows, cols = shape
    if rows < cols and rows >= 5:
        return "yolov8"
    if cols >= 6:
        return "yolov5" if all(k in (metadata or {}) for k in YOLOV5_METADATA_KEYS) else "yolox"
    raise DetectorOutputError(f"cannot infer detector format from output shape {output_shape}; "
                              "expected (1, 4+C, N) with 4+C < N, or (1, N, 5+C)")


def yolox_grid_decode(raw: np.ndarray, input_hw: Tuple[int, int],
                      strides: Sequence[int] = YOLOX_STRIDES) -> np.ndarray:
    """Decode the raw YOLOX head output (no ``decode_in_inference``) to pixel boxes.

    For each stride s, the cells of the (H/s) x (W/s) grid follow in row-major order;
    ``cx = (raw_x + col) * s``, ``cy = (raw_y + row) * s``, ``w = exp(raw_w) * s``,
    ``h = exp(raw_h) * s``. Scores are left unchanged.

    Args:
        raw: (1, N, 5 + C) or (N, 5 + C) raw head output.
        input_hw: network input (height, width).
        strides: the feature strides, finest first.

    Returns:
        (N, 5 + C) float32 with decoded ``cx, cy, w, h``.
    """
    out = _as_2d(raw).astype(np.float32).copy()
    net_h, net_w = input_hw
    grids, steps = [], []
    for s in strides:
        gh, gw = net_h // s, net_w // s
        rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        grids.append(np.stack([cols, rows], -1).reshape(-1, 2))      # (gh*gw) x 2, (x, y)
        steps.append(np.full((gh * gw, 1), s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(steps).astype(np.float32)
    if len(grid) != len(out):
        raise DetectorOutputError(
            f"raw YOLOX output has {len(out)} candidates but strides {tuple(strides)} on a "
            f"{net_h}x{net_w} input give {len(grid)}; is the output already decoded "
            "(use output_format='yolox')?")
    out[:, :2] = (out[:, :2] + grid) * stride
    out[:, 2:4] = np.exp(out[:, 2:4]) * stride
    return out


def decode_person_candidates(output: np.ndarray, output_format: str, input_hw: Tuple[int, int],
                             person_class: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Person candidates (before thresholding and NMS) from one detector output.

    Args:
        output: the detector's first output, (1, 4+C, N) or (1, N, 5+C).
        output_format: one of ``OUTPUT_FORMATS``.
        input_hw: network input (height, width), used by 'yolox_raw'.
        person_class: index of the person class (COCO: 0).

    Returns:
        (boxes (K, 4) float32 xyxy in network pixels, scores (K,) float32), the candidates
        whose top class is ``person_class``.

    Raises:
        DetectorOutputError: unknown format, or the output does not fit it.
    """
    if output_format not in OUTPUT_FORMATS:
        raise DetectorOutputError(
            f"unknown detector output format '{output_format}'; expected one of {OUTPUT_FORMATS}")
    fmt = detect_format(np.shape(output)) if output_format == "auto" else output_format
    out = _as_2d(output)
    if fmt == "yolov8":
        pred = out.T                                          # N x (4 + C)
        n_cls = pred.shape[1] - 4
        cls_scores = pred[:, 4:]
        scores = cls_scores[:, person_class] if 0 <= person_class < n_cls else None
    else:
        pred = yolox_grid_decode(out, input_hw) if fmt == "yolox_raw" else out
        n_cls = pred.shape[1] - 5
        cls_scores = pred[:, 5:]
        scores = pred[:, 4] * cls_scores[:, person_class] if 0 <= person_class < n_cls else None
    if n_cls < 1:
        raise DetectorOutputError(f"{fmt} output shape {np.shape(output)} has no class scores")
    if scores is None:
        raise DetectorOutputError(
            f"person_class {person_class} is out of range for a {fmt} output with {n_cls} classes")
    is_person = cls_scores.argmax(1) == person_class
    boxes = cxcywh_to_xyxy(pred[is_person, :4].astype(np.float32))
    return boxes, scores[is_person].astype(np.float32)
