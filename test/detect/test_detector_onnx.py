"""The ONNX Runtime detector path on tiny models exported from torch with real signatures."""
import logging
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is needed to export the test detectors")
pytest.importorskip("onnx", reason="onnx is needed by torch.onnx.export")

from wham_ros.detect.detector import YoloOnnxDetector, load_detector  # noqa: E402
from wham_ros.ort_session import ModelFileError  # noqa: E402

N_CAND = 8400   # 80x80 + 40x40 + 20x20 cells of a 640x640 input
N_CLS = 80


class ConstantHead(torch.nn.Module):
    """Ignores the pixels and emits a fixed detector output (real output signature)."""

    def __init__(self, out: np.ndarray):
        super().__init__()
        self.register_buffer("out", torch.from_numpy(out))

    def forward(self, images):
        return self.out + 0.0 * images.mean()


class RednessHead(torch.nn.Module):
    """Tiny conv net: one fixed box whose person score is the mean red level of the input.

    Makes the output depend on the pixels, so RGB order and [0, 1] scaling are tested.
    The other 199 candidates are empty (score 0).
    """

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1, bias=False)
        with torch.no_grad():
            self.conv.weight[:] = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)

    def forward(self, images):
        red = self.conv(images).mean(dim=(1, 2, 3))                     # B
        h, w = images.shape[2], images.shape[3]
        box = torch.stack([w * 0.5 + 0 * red, h * 0.5 + 0 * red, w * 0.25 + 0 * red,
                           h * 0.5 + 0 * red], 1)                        # B x 4 (cx, cy, w, h)
        cls = torch.cat([red[:, None], torch.zeros_like(red)[:, None].repeat(1, N_CLS - 1)], 1)
        cand = torch.cat([box, cls], 1)[:, :, None]                     # B x 84 x 1
        return torch.cat([cand, torch.zeros_like(cand).repeat(1, 1, 199)], 2)   # B x 84 x 200


def export(module, path, hw=(640, 640), dynamic=False):
    kwargs = dict(input_names=["images"], output_names=["output0"], opset_version=17, dynamo=False)
    if dynamic:
        kwargs["dynamic_axes"] = {"images": {2: "height", 3: "width"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), torch.zeros(1, 3, *hw), str(path), **kwargs)
    return str(path)


def frame_640x480(h=480, w=640):
    """A 640x480 frame: letterboxed to 640x640 with scale 1 and 80 px of padding on top."""
    return np.zeros((h, w, 3), np.uint8)


def test_yolov8_constant_model_through_onnxruntime(tmp_path, caplog):
    out = np.zeros((1, 4 + N_CLS, N_CAND), np.float32)
    out[0, :4] = np.array([320, 320, 4, 4], np.float32)[:, None]
    # 640x480 image -> scale 1, pad_y 80: image box [100, 50, 200, 350] -> net cxcywh below
    out[0, :4, 10] = [150, 280, 100, 300]
    out[0, 4, 10] = 0.92
    out[0, :4, 11] = [152, 281, 100, 300]      # near duplicate -> NMS
    out[0, 4, 11] = 0.90
    out[0, :4, 20] = [500, 300, 60, 120]       # second person: image [470, 160, 530, 280]
    out[0, 4, 20] = 0.70
    out[0, :4, 30] = [400, 300, 60, 120]       # a dog (class 16)
    out[0, 4 + 16, 30] = 0.99
    path = export(ConstantHead(out), tmp_path / "yolov8.onnx")
    with caplog.at_level(logging.INFO):
        det = YoloOnnxDetector(path, providers="cpu")
    assert det.output_format == "yolov8" and det.input_hw == (640, 640)
    assert "person_detector: running on CPUExecutionProvider" in caplog.text
    boxes = det.detect(frame_640x480())
    np.testing.assert_allclose(boxes, [[100, 50, 200, 350, 0.92], [470, 160, 530, 280, 0.70]],
                               atol=1e-4)


def test_yolox_constant_model_through_onnxruntime(tmp_path):
    out = np.zeros((1, N_CAND, 5 + N_CLS), np.float32)
    out[0, :, :4] = [320, 320, 4, 4]
    # YOLOX pads right/bottom: image box [100, 50, 200, 350] -> net cxcywh (no offset)
    out[0, 10, :6] = [150, 200, 100, 300, 0.8, 0.9]     # score 0.72
    out[0, 20, :6] = [500, 300, 60, 120, 0.5, 0.9]      # score 0.45 < threshold 0.5
    path = export(ConstantHead(out), tmp_path / "yolox.onnx")
    det = load_detector("yolo_onnx", model_path=path, providers="cpu")
    assert det.output_format == "yolox"
    boxes = det.detect(frame_640x480())
    np.testing.assert_allclose(boxes, [[100, 50, 200, 350, 0.72]], atol=1e-4)


def test_yolox_raw_model_needs_explicit_format(tmp_path):
    raw = np.zeros((1, N_CAND, 5 + N_CLS), np.float32)
    raw[:, :, 4] = 0.0
    # stride 32 grid (20 x 20) starts at 6400 + 1600; cell row 6, col 4 -> centre (4.5*32, 6.25*32)
    idx = 6400 + 1600 + 6 * 20 + 4
    raw[0, idx, :6] = [0.5, 0.25, np.log(100 / 32), np.log(300 / 32), 0.9, 0.9]
    path = export(ConstantHead(raw), tmp_path / "yolox_raw.onnx")
    det = YoloOnnxDetector(path, providers="cpu", output_format="yolox_raw")
    boxes = det.detect(frame_640x480())
    # net box centre (144, 200), size 100 x 300 -> image [94, 50, 194, 350] (top-left, no pad)
    np.testing.assert_allclose(boxes, [[94, 50, 194, 350, 0.81]], atol=1e-3)


class ColourHead(torch.nn.Module):
    """Tiny colour-sensitive detector in the (1, N, 5 + C) layout: one fixed box whose person
    score is ``clip(mean(channel 0 - channel 2) / divisor, 0, 1)`` over the input tensor.

    Built for ultralytics (divisor 1: red in RGB [0, 1]) or YOLOX (divisor 255: blue in
    BGR 0-255), it finds the person only when fed its own convention.
    """

    def __init__(self, divisor):
        super().__init__()
        self.divisor = divisor

    def forward(self, images):
        score = ((images[:, 0] - images[:, 2]).mean(dim=(1, 2)) / self.divisor).clamp(0, 1)
        h, w = images.shape[2], images.shape[3]
        box = torch.stack([w * 0.25 + 0 * score, h * 0.25 + 0 * score, w * 0.25 + 0 * score,
                           h * 0.25 + 0 * score, torch.ones_like(score)], 1)    # B x 5
        cls = torch.cat([score[:, None], torch.zeros_like(score)[:, None].repeat(1, N_CLS - 1)], 1)
        cand = torch.cat([box, cls], 1)[:, None]                               # B x 1 x 85
        return torch.cat([cand, torch.zeros_like(cand).repeat(1, 99, 1)], 1)    # B x 100 x 85


def _coloured(rgb, h=480, w=640):
    img = np.zeros((h, w, 3), np.uint8)
    img[...] = rgb
    return img


def test_detector_finds_people_only_in_its_own_input_convention(tmp_path):
    red, blue = _coloured((255, 0, 0)), _coloured((0, 0, 255))
    ultra = export(ColourHead(1.0), tmp_path / "ultra.onnx")
    yolox = export(ColourHead(255.0), tmp_path / "yolox.onnx")
    kw = dict(providers="cpu", score_threshold=0.3)
    # ultralytics model: red in RGB [0, 1], centred letterbox (pad_y 80)
    found = YoloOnnxDetector(ultra, output_format="yolov5", **kw).detect(red)
    np.testing.assert_allclose(found, [[80, 0, 240, 160, 0.75]], atol=1e-3)
    assert YoloOnnxDetector(ultra, output_format="yolox", **kw).detect(red).shape == (0, 5)
    # YOLOX model: blue in BGR 0-255, image top-left (no offset)
    det = YoloOnnxDetector(yolox, output_format="yolox", **kw)
    np.testing.assert_allclose(det.detect(blue), [[80, 80, 240, 240, 0.75]], atol=1e-3)
    assert det.detect(red).shape == (0, 5)
    as_v5 = YoloOnnxDetector(yolox, output_format="yolov5", **kw)
    assert as_v5.detect(blue).shape == (0, 5)     # wrong channel order
    assert as_v5.detect(red).shape == (0, 5)      # right colour, wrong range (score 1/340)


def test_auto_format_tells_yolov5_from_yolox_by_metadata(tmp_path):
    import onnx

    path = export(ColourHead(1.0), tmp_path / "yolov5.onnx")
    assert YoloOnnxDetector(path, providers="cpu").output_format == "yolox"
    model = onnx.load(path)
    for key, value in (("stride", "32"), ("names", "{0: 'person'}")):
        meta = model.metadata_props.add()
        meta.key, meta.value = key, value
    onnx.save(model, path)
    det = YoloOnnxDetector(path, providers="cpu")
    assert det.output_format == "yolov5" and not det.convention.bgr


def test_format_from_dynamic_output_shapes():
    infer = YoloOnnxDetector._infer_format
    assert infer([1, 84, "anchors"], {}) == "yolov8"
    assert infer(["batch", "n", 85], {"stride": "32", "names": "{}"}) == "yolov5"
    assert infer(["batch", "n", 85], {}) == "yolox"
    with pytest.raises(ValueError, match="set output_format"):
        infer(["batch", "a", "b"], {})


def test_pixel_dependent_model_with_dynamic_input(tmp_path):
    path = export(RednessHead(), tmp_path / "red.onnx", hw=(320, 320), dynamic=True)
    det = YoloOnnxDetector(path, providers="cpu", input_hw=(320, 320), score_threshold=0.3)
    assert det.output_format == "yolov8" and det.input_hw == (320, 320)
    red = np.zeros((320, 320, 3), np.uint8)
    red[..., 0] = 255
    boxes = det.detect(red)
    # square image: no padding; box cxcywh (160, 160, 80, 160) -> [120, 80, 200, 240]
    np.testing.assert_allclose(boxes, [[120, 80, 200, 240, 1.0]], atol=1e-5)
    blue = red[..., ::-1].copy()              # same pixels in BGR order: no red -> no person
    assert det.detect(blue).shape == (0, 5)


def test_bad_inputs(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        YoloOnnxDetector(str(tmp_path / "missing.onnx"), providers="cpu")
    with pytest.raises(ValueError, match="Unknown detector kind 'ssd'"):
        load_detector("ssd")
    path = export(RednessHead(), tmp_path / "red.onnx", hw=(64, 64))
    with pytest.raises(ValueError, match="differs from the model's fixed input size"):
        YoloOnnxDetector(path, providers="cpu", input_hw=(320, 320))
    with pytest.raises(ValueError, match="output_format 'ssd'"):
        YoloOnnxDetector(path, providers="cpu", output_format="ssd")
    det = YoloOnnxDetector(path, providers="cpu")
    with pytest.raises(ValueError, match=r"uint8 RGB image; got shape \(64, 64\), dtype float64"):
        det.detect(np.zeros((64, 64)))
