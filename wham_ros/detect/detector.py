"""Person detectors: the interface and the ONNX Runtime YOLO backend.

Every detector maps an RGB image to person boxes ``(N, 5) [x1, y1, x2, y2, score]`` in
image pixels (x right, y down), sorted by decreasing score. Users bring their own ONNX file
(see doc/frontend.md, "Detection and tracking"); no weights ship with this package.
"""
import logging
from typing import Optional, Protocol, Tuple

import numpy as np

from wham_ros.detect.boxes import nms
from wham_ros.detect.decode import OUTPUT_FORMATS, decode_person_candidates, detect_format
from wham_ros.detect.letterbox import (ULTRALYTICS, YOLOX, InputConvention, Letterbox,
                                       letterbox, unletterbox_boxes)
from wham_ros.ort_session import OrtOptions, make_session

LOG = logging.getLogger(__name__)

DEFAULT_INPUT_HW = (640, 640)
DETECTOR_KINDS = ("yolo_onnx",)
INPUT_CONVENTIONS = {"yolov8": ULTRALYTICS, "yolov5": ULTRALYTICS, "yolox": YOLOX,
                     "yolox_raw": YOLOX}
"""Input convention of each output format's model family (see ``wham_ros.detect.letterbox``)."""


class PersonDetector(Protocol):
    """Anything that finds people in an image."""

    def detect(self, image_rgb: np.ndarray) -> np.ndarray:
        """Person boxes.

        Args:
            image_rgb: (H, W, 3) uint8 RGB image.

        Returns:
            (N, 5) float32 ``[x1, y1, x2, y2, score]`` in image pixels, by decreasing score.
        """


def check_image(image_rgb: np.ndarray) -> np.ndarray:
    """Validate an RGB frame.

    Raises:
        ValueError: not an (H, W, 3) uint8 array.
    """
    img = np.asarray(image_rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or min(img.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image; got shape {img.shape}, "
                         f"dtype {img.dtype}")
    return img


class YoloOnnxDetector:
    """YOLOv8/YOLO11/YOLOv5/YOLOX person detector on ONNX Runtime.

    Pipeline: letterbox in the family's convention (aspect kept, pad 114; YOLOv8/YOLO11/
    YOLOv5: RGB in [0, 1], centred; YOLOX: BGR 0-255, top-left) -> network -> decode ->
    person class filter -> score threshold -> NMS -> boxes mapped back to image pixels.
    The format (hence the convention) is ``output_format`` or, for 'auto', inferred once
    from the output shape and the model's metadata.

    Args:
        model_path: the .onnx file (one image input (1, 3, H, W); first output is decoded).
        providers: 'auto', 'cpu', 'cuda' or 'tensorrt' (see ``wham_ros.ort_session``).
        output_format: one of ``OUTPUT_FORMATS`` ('auto' infers yolov8/yolov5/yolox from the
            output shape and metadata; 'yolox_raw' must be named).
        person_class: class index of "person" (COCO: 0).
        score_threshold: minimum person score.
        nms_iou_threshold: NMS suppresses boxes overlapping a better one by more than this.
        max_detections: keep at most this many people.
        input_hw: network input (height, width) for models with a dynamic input size;
            ignored (with a check) when the model fixes it. Default 640 x 640.
        options: execution-provider options (TensorRT caches, fp16, device id).
    """

    def __init__(self, model_path: str, providers: str = "auto", output_format: str = "auto",
                 person_class: int = 0, score_threshold: float = 0.5,
                 nms_iou_threshold: float = 0.7, max_detections: int = 100,
                 input_hw: Optional[Tuple[int, int]] = None,
                 options: Optional[OrtOptions] = None):
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"unknown detector output_format '{output_format}'; "
                             f"expected one of {OUTPUT_FORMATS}")
        if not 0.0 <= score_threshold <= 1.0 or not 0.0 <= nms_iou_threshold <= 1.0:
            raise ValueError(f"score_threshold ({score_threshold}) and nms_iou_threshold "
                             f"({nms_iou_threshold}) must lie in [0, 1]")
        self.session, self.provider = make_session(model_path, providers, name="person_detector",
                                                   options=options)
        inp = self.session.get_inputs()[0]
        self._input_name = inp.name
        self._input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        self.input_hw = self._resolve_input_hw(inp.shape, input_hw)
        self.output_format = output_format
        self.person_class = person_class
        self.score_threshold = score_threshold
        self.nms_iou_threshold = nms_iou_threshold
        self.max_detections = max_detections
        out_shape = self.session.get_outputs()[0].shape
        if output_format == "auto":
            metadata = self.session.get_modelmeta().custom_metadata_map
            self.output_format = self._infer_format(out_shape, metadata)
        self.convention: InputConvention = INPUT_CONVENTIONS[self.output_format]
        LOG.info("person_detector: %s, input %dx%d, output %s, format %s (%s)", model_path,
                 self.input_hw[0], self.input_hw[1], out_shape, self.output_format,
                 self.convention)

    @staticmethod
    def _infer_format(out_shape, metadata) -> str:
        """Format from a possibly dynamic output shape: one known axis of the (rows, cols)
        pair tells the layout, a dynamic one stands for the (large) candidate count."""
        dims = list(out_shape)[-2:]
        known = [isinstance(d, int) for d in dims]
        if len(dims) != 2 or not any(known):
            raise ValueError(f"cannot infer the detector format from output shape {out_shape}; "
                             f"set output_format to one of {OUTPUT_FORMATS[1:]}")
        many = max([d for d in dims if isinstance(d, int)] + [1]) * 1000
        return detect_format([d if isinstance(d, int) else many for d in dims], metadata)

    @staticmethod
    def _resolve_input_hw(shape, requested) -> Tuple[int, int]:
        if len(shape) != 4:
            raise ValueError(f"detector input must be (1, 3, H, W); the model declares {shape}")
        fixed = tuple(shape[2:]) if all(isinstance(d, int) for d in shape[2:]) else None
        if fixed and requested and tuple(requested) != fixed:
            raise ValueError(f"input_hw {tuple(requested)} differs from the model's fixed "
                             f"input size {fixed}; drop the parameter or re-export the model")
        return tuple(int(d) for d in (fixed or requested or DEFAULT_INPUT_HW))

    def detect(self, image_rgb: np.ndarray) -> np.ndarray:
        """Person boxes in one RGB image.

        Args:
            image_rgb: (H, W, 3) uint8 RGB image.

        Returns:
            (N, 5) float32 ``[x1, y1, x2, y2, score]`` in image pixels, by decreasing score.
        """
        img = check_image(image_rgb)
        tensor, lb = letterbox(img, self.input_hw, self.convention)   # 1 x 3 x h x w
        output = self.session.run(None, {self._input_name: tensor.astype(self._input_dtype,
                                                                          copy=False)})[0]
        return postprocess(output.astype(np.float32), self.output_format, lb, self.person_class,
                           self.score_threshold, self.nms_iou_threshold, self.max_detections)


def postprocess(output: np.ndarray, output_format: str, lb: Letterbox, person_class: int,
                score_threshold: float, nms_iou_threshold: float,
                max_detections: int) -> np.ndarray:
    """Decode, threshold, NMS and un-letterbox one raw detector output.

    Args:
        output: (1, 4+C, N) or (1, N, 5+C) network output.
        output_format: one of ``OUTPUT_FORMATS``.
        lb: the ``Letterbox`` used for the input.
        person_class: person class index.
        score_threshold: minimum score.
        nms_iou_threshold: NMS IoU threshold.
        max_detections: maximum number of boxes returned.

    Returns:
        (N, 5) float32 ``[x1, y1, x2, y2, score]`` in image pixels.
    """
    boxes, scores = decode_person_candidates(output, output_format, lb.input_hw, person_class)
    keep = scores > score_threshold
    boxes, scores = boxes[keep], scores[keep]
    keep = nms(boxes, scores, nms_iou_threshold, max_detections)
    out = np.empty((len(keep), 5), np.float32)
    out[:, :4] = unletterbox_boxes(boxes[keep], lb)
    out[:, 4] = scores[keep]
    return out


def load_detector(kind: str = "yolo_onnx", **kwargs) -> PersonDetector:
    """Build a person detector by kind.

    Args:
        kind: 'yolo_onnx' (the only backend so far).
        **kwargs: the backend's constructor arguments.

    Raises:
        ValueError: unknown kind.
    """
    if kind == "yolo_onnx":
        return YoloOnnxDetector(**kwargs)
    raise ValueError(f"Unknown detector kind '{kind}'; expected one of {DETECTOR_KINDS}")
