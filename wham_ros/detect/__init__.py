"""Person detection: YOLO-family ONNX models behind a small ``detect(image) -> boxes`` interface."""
