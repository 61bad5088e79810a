"""Letterbox, output decoding and NMS with exact, hand-computed cases (numpy only)."""
import cv2
import numpy as np
import pytest

from wham_ros.detect.boxes import iou_matrix, nms
from wham_ros.detect.decode import (DetectorOutputError, decode_person_candidates, detect_format,
                                    yolox_grid_decode)
from wham_ros.detect.detector import postprocess
from wham_ros.detect.letterbox import (PAD_VALUE, ULTRALYTICS, YOLOX, letterbox,
                                      unletterbox_boxes)


def test_letterbox_geometry_and_tensor():
    img = np.zeros((100, 200, 3), np.uint8)
    img[..., 0] = 255                                    # pure red, RGB
    tensor, lb = letterbox(img, (64, 64))
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert (lb.scale, lb.pad_x, lb.pad_y) == (0.32, 0, 16)
    assert (lb.image_hw, lb.input_hw) == ((100, 200), (64, 64))
    pad = np.float32(PAD_VALUE / 255.0)
    np.testing.assert_array_equal(tensor[0, :, :16], pad)                 # top padding
    np.testing.assert_array_equal(tensor[0, :, 48:], pad)                 # bottom padding
    np.testing.assert_array_equal(tensor[0, 0, 16:48], 1.0)               # image: R = 1
    np.testing.assert_array_equal(tensor[0, 1:, 16:48], 0.0)              # G = B = 0


def test_letterbox_tensor_is_the_converted_image_divided_by_255():
    img = np.random.default_rng(0).integers(0, 256, size=(48, 80, 3), dtype=np.uint8)
    tensor, lb = letterbox(img, (80, 80))  # scale 1, 16 px of padding above and below
    expected = img.transpose(2, 0, 1).astype(np.float32) / 255.0  # same float32 bits
    np.testing.assert_array_equal(tensor[0, :, 16:64], expected)
    assert tensor.flags.c_contiguous


@pytest.mark.parametrize("hw", [(48, 80), (80, 48), (64, 64), (30, 61)])
@pytest.mark.parametrize("convention", [ULTRALYTICS, YOLOX], ids=["ultralytics", "yolox"])
def test_letterbox_equals_the_padded_canvas_converted(hw, convention):
    # Spec: resize, paste into a canvas of PAD_VALUE, convert the whole canvas (padding on the
    # sides for portrait images, top-left for YOLOX, none for a square image).
    img = np.random.default_rng(1).integers(0, 256, size=hw + (3,), dtype=np.uint8)
    tensor, lb = letterbox(img, (64, 64), convention)
    h, w = hw
    new_w, new_h = round(w * lb.scale), round(h * lb.scale)
    if convention.truncate_size:
        new_w, new_h = int(w * lb.scale), int(h * lb.scale)
    canvas = np.full((64, 64, 3), PAD_VALUE, np.uint8)
    canvas[lb.pad_y:lb.pad_y + new_h, lb.pad_x:lb.pad_x + new_w] = cv2.resize(
        img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if convention.bgr:
        canvas = canvas[..., ::-1]
    expected = canvas.transpose(2, 0, 1).astype(np.float32) / np.float32(convention.value_divisor)
    np.testing.assert_array_equal(tensor[0], expected)


def test_unletterbox_inverts_the_transform_and_clips():
    _, lb = letterbox(np.zeros((100, 200, 3), np.uint8), (64, 64))
    net = np.array([[0, 16, 64, 48], [16, 24, 32, 40], [-10, 0, 70, 60]], np.float32)
    np.testing.assert_allclose(unletterbox_boxes(net, lb),
                               [[0, 0, 200, 100], [50, 25, 100, 75], [0, 0, 200, 100]], atol=1e-4)


def test_letterbox_pads_both_sides_for_tall_images():
    _, lb = letterbox(np.zeros((300, 100, 3), np.uint8), (96, 96))
    assert (lb.scale, lb.pad_x, lb.pad_y) == (96 / 300, 32, 0)


def _yolov8_output(n=100, n_cls=80):
    out = np.zeros((1, 4 + n_cls, n), np.float32)
    out[0, :4] = np.array([50, 50, 10, 10], np.float32)[:, None]   # default cxcywh
    out[0, 4 + 0, 3] = 0.9                                           # person
    out[0, 0:4, 3] = [100, 200, 40, 80]
    out[0, 4 + 0, 7] = 0.6                                           # person, but car wins
    out[0, 4 + 2, 7] = 0.8
    out[0, 4 + 0, 9] = 0.3                                           # weak person
    out[0, 0:4, 9] = [10, 20, 4, 6]
    return out


def test_decode_yolov8_keeps_top_class_persons():
    boxes, scores = decode_person_candidates(_yolov8_output(), "yolov8", (640, 640))
    # candidates with all-zero class scores have argmax 0 (person) and score 0
    order = np.argsort(-scores)
    np.testing.assert_allclose(boxes[order[0]], [80, 160, 120, 240])
    np.testing.assert_allclose(scores[order[:2]], [0.9, 0.3])
    np.testing.assert_allclose(boxes[order[1]], [8, 17, 12, 23])
    assert not np.any(np.isclose(scores, 0.6))                       # the car-like candidate
    assert detect_format(_yolov8_output().shape) == "yolov8"


def test_decode_yolox_multiplies_objectness():
    out = np.zeros((1, 120, 5 + 3), np.float32)
    out[0, :, :4] = [50, 50, 10, 10]
    out[0, 5] = [100, 200, 40, 80, 0.5, 0.9, 0.1, 0.0]               # person, score 0.45
    out[0, 6] = [300, 200, 40, 80, 0.9, 0.2, 0.7, 0.0]               # class 1 wins
    boxes, scores = decode_person_candidates(out, "auto", (640, 640))
    assert detect_format(out.shape) == "yolox"
    best = np.argmax(scores)
    np.testing.assert_allclose(scores[best], 0.45, rtol=1e-6)
    np.testing.assert_allclose(boxes[best], [80, 160, 120, 240])
    assert not np.any(np.isclose(boxes[:, 0], 280))
    # person_class is configurable: class 1 makes candidate 6 the best one
    boxes1, scores1 = decode_person_candidates(out, "yolox", (640, 640), person_class=1)
    np.testing.assert_allclose(scores1.max(), 0.63, rtol=1e-6)
    np.testing.assert_allclose(boxes1[np.argmax(scores1)], [280, 160, 320, 240])


def test_yolox_raw_grid_decode():
    raw = np.zeros((1, 8 * 8 + 4 * 4 + 2 * 2, 6), np.float32)       # 64 x 64 input
    raw[0, 64 + 2 * 4 + 3, :4] = [0.5, 0.25, np.log(2.0), np.log(4.0)]   # stride 16, row 2, col 3
    raw[0, 9, :4] = [0.0, 0.0, 0.0, 0.0]                               # stride 8, row 1, col 1
    dec = yolox_grid_decode(raw, (64, 64))
    np.testing.assert_allclose(dec[75, :4], [56, 36, 32, 64], rtol=1e-6)
    np.testing.assert_allclose(dec[9, :4], [8, 8, 8, 8])
    with pytest.raises(DetectorOutputError, match="already decoded"):
        yolox_grid_decode(raw[:, :50], (64, 64))


def test_format_errors_name_the_shape():
    with pytest.raises(DetectorOutputError, match=r"\(2, 84, 100\)"):
        decode_person_candidates(np.zeros((2, 84, 100)), "yolov8", (640, 640))
    with pytest.raises(DetectorOutputError, match="unknown detector output format 'ssd'"):
        decode_person_candidates(np.zeros((1, 84, 100)), "ssd", (640, 640))
    with pytest.raises(DetectorOutputError, match="cannot infer"):
        detect_format((1, 3, 2))
    with pytest.raises(DetectorOutputError, match="out of range"):
        decode_person_candidates(np.zeros((1, 84, 100)), "yolov8", (640, 640), person_class=80)


def test_iou_matrix_exact():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], float)
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30]], float)
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 1, 0], [0, 0, 0]])


def test_nms_exact_cases():
    boxes = np.array([[0, 0, 10, 10],       # 0: best
                      [1, 0, 11, 10],       # 1: IoU 90/110 = 0.818 with 0 -> suppressed
                      [5, 0, 15, 10],       # 2: IoU 1/3 with 0 -> kept at 0.5
                      [100, 100, 110, 110]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0, 2, 3])
    np.testing.assert_array_equal(nms(boxes, scores, 0.3), [0, 3])        # 1/3 > 0.3
    np.testing.assert_array_equal(nms(boxes, scores, 0.9), [0, 1, 2, 3])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5, max_keep=2), [0, 2])
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)


def test_postprocess_end_to_end_in_both_formats():
    _, lb = letterbox(np.zeros((100, 200, 3), np.uint8), (64, 64))       # scale 0.32, pad_y 16
    # person at image box [50, 25, 100, 75] -> network [16, 24, 32, 40] -> cxcywh [24, 32, 16, 16]
    v8 = np.zeros((1, 84, 200), np.float32)
    v8[0, :4, 5] = [24, 32, 16, 16]
    v8[0, 4, 5] = 0.95
    v8[0, :4, 6] = [25, 32, 16, 16]                                      # duplicate, suppressed
    v8[0, 4, 6] = 0.9
    yx = np.zeros((1, 200, 85), np.float32)
    yx[0, 5, :6] = [24, 32, 16, 16, 1.0, 0.95]
    yx[0, 6, :6] = [25, 32, 16, 16, 1.0, 0.9]
    for out in (v8, yx):
        det = postprocess(out, "auto", lb, 0, 0.5, 0.7, 100)
        assert det.shape == (1, 5)
        np.testing.assert_allclose(det[0], [50, 25, 100, 75, 0.95], atol=1e-4)
