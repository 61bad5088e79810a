"""Person detection: YOLO-family ONNX models behind a small ``detect(image) -> boxes`` interface."""
from wham_ros.detect.detector import PersonDetector, YoloOnnxDetector, load_detector

__all__ = ["PersonDetector", "YoloOnnxDetector", "load_detector"]
