"""The faster crop and normalisation code gives the same bits as its previous definitions.

Each ``previous_*`` function below is the definition the front-end used before the host-time
work of issue 20 (kept here verbatim in substance); the current functions must match it with
``np.array_equal`` on the raw bits, on varied inputs: boxes partly or wholly outside the
image, tiny and huge boxes, one and several people.
"""
import cv2
import numpy as np
import pytest

from wham_ros.frontend.crops import (IMAGENET_MEAN, IMAGENET_STD, VITPOSE_INPUT_HW,
                                     box_to_center_scale, hmr2_crops, normalise_float,
                                     normalise_uint8, udp_warp_matrix, vitpose_crops)

_PREVIOUS_LEVELS = np.arange(256, dtype=np.float32)[:, None] / np.float32(255.0)
_PREVIOUS_TABLE = np.ascontiguousarray(((_PREVIOUS_LEVELS - IMAGENET_MEAN) / IMAGENET_STD)[:, None, :])


def previous_normalise_uint8(crops, mirrored=False):
    """HWC look-up of all three channels, then transposed copies into the CHW output."""
    n, h, w, _ = crops.shape
    out = np.empty(((2 if mirrored else 1) * n, 3, h, w), dtype=np.float32)
    for i in range(n):
        values = cv2.LUT(crops[i], _PREVIOUS_TABLE)  # H x W x 3
        out[i] = values.transpose(2, 0, 1)
        if mirrored:
            out[n + i] = values[:, ::-1].transpose(2, 0, 1)
    return out


def previous_normalise_float(crops):
    """Three whole-batch passes: ``/ 255`` into CHW, ``- mean``, ``/ std``."""
    crops = np.asarray(crops, dtype=np.float32)
    n, h, w, _ = crops.shape
    x = np.empty((n, 3, h, w), dtype=np.float32)
    np.divide(crops.transpose(0, 3, 1, 2), np.float32(255.0), out=x)
    x -= IMAGENET_MEAN[:, None, None]
    x /= IMAGENET_STD[:, None, None]
    return x


def previous_vitpose_input(image, boxes, mirrored):
    center, scale = box_to_center_scale(boxes)
    warp = udp_warp_matrix(center, scale)
    out_h, out_w = VITPOSE_INPUT_HW
    crops = np.zeros((len(boxes), out_h, out_w, 3), dtype=np.uint8)
    for i, m in enumerate(warp):
        cv2.warpAffine(image, m, (out_w, out_h), dst=crops[i], flags=cv2.INTER_LINEAR)
    return previous_normalise_uint8(crops, mirrored), crops


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
        a.view(np.uint8), b.view(np.uint8))


def scene(seed, hw=(480, 1280)):
    """A textured RGB frame: noise over smooth gradients (every uint8 level occurs)."""
    rng = np.random.default_rng(seed)
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) % 256], -1)
    return np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)


# xyxy boxes: inside, partly outside on each side, wholly outside, tiny, huge, degenerate.
XYXY_SETS = {
    "one_inside": [[269.0, 71.0, 381.0, 407.0]],
    "four_people": [[106.03, 70.01, 221.97, 405.99], [414.03, 70.01, 529.97, 405.99],
                    [746.03, 70.01, 861.97, 405.99], [1054.03, 70.01, 1169.97, 405.99]],
    "partly_outside": [[-80.5, -40.2, 120.7, 300.1], [1200.0, 300.0, 1400.0, 700.0],
                       [500.0, -300.0, 620.0, 100.0]],
    "outside_tiny_huge": [[2000.0, 2000.0, 2100.0, 2200.0], [10.0, 10.0, 12.5, 13.0],
                          [-3000.0, -2000.0, 4000.0, 3000.0], [640.0, 240.0, 640.0, 240.0]],
}


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("mirrored", [False, True])
def test_normalise_uint8_equals_previous(n, mirrored):
    rng = np.random.default_rng(n)
    crops = rng.integers(0, 256, size=(n, 256, 192, 3), dtype=np.uint8)
    crops[0, 0, :, :] = np.arange(192 * 3).reshape(192, 3) % 256  # every level in every channel
    assert same_bits(normalise_uint8(crops, mirrored), previous_normalise_uint8(crops, mirrored))
    odd = rng.integers(0, 256, size=(n, 7, 5, 3), dtype=np.uint8)  # other crop sizes too
    assert same_bits(normalise_uint8(odd, mirrored), previous_normalise_uint8(odd, mirrored))
    view = crops[:, ::2, 1:]  # a non-contiguous input
    assert same_bits(normalise_uint8(view, mirrored), previous_normalise_uint8(view, mirrored))


@pytest.mark.parametrize("boxes", list(XYXY_SETS.values()), ids=list(XYXY_SETS))
@pytest.mark.parametrize("mirrored", [False, True])
def test_vitpose_crops_equal_previous(boxes, mirrored):
    image = scene(len(boxes))
    boxes = np.asarray(boxes, np.float32)
    out = vitpose_crops(image, boxes, mirrored=mirrored)
    tensor, crops = previous_vitpose_input(image, boxes, mirrored)
    assert same_bits(out.crops, crops)
    assert same_bits(out.input_tensor, tensor) and out.input_tensor.flags.c_contiguous


def previous_hmr2_crops(image, bboxes_cxcys):
    """WHAM's crop for windows up to MAX_CANVAS_PX: a zero float canvas of the whole window,
    the image part pasted, ``cv2.resize`` to 256 x 256; then the previous normalisation."""
    from wham_ros.frontend.crops import hmr2_crop_windows

    ul, br = hmr2_crop_windows(np.asarray(bboxes_cxcys, np.float64))
    h, w = image.shape[:2]
    crops = []
    for (x0, y0), (x1, y1) in zip(ul, br):
        canvas = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
        sx0, sx1, sy0, sy1 = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
        if sx1 > sx0 and sy1 > sy0:
            canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
        crops.append(cv2.resize(canvas, (256, 256), interpolation=cv2.INTER_LINEAR))
    crops = np.stack(crops)
    return previous_normalise_float(crops), crops


# [cx, cy, s] boxes (side 200 s px) on a 1280 x 480 frame: the bench's four people, partly
# outside on every side, wholly outside, tiny (3 px) and large (960 px) windows.
CXCYS_SETS = {
    "one_inside": [[325.0, 239.0, 2.2]],
    "four_people": [[164.0, 238.0, 2.3], [472.0, 238.0, 2.32], [804.0, 238.0, 2.56],
                    [1112.0, 238.0, 2.37]],
    "partly_outside": [[10.0, 30.0, 1.5], [1270.0, 470.0, 2.0], [640.0, -90.0, 1.2],
                       [-50.0, 240.0, 0.9]],
    "outside_tiny_large": [[3000.0, -900.0, 1.0], [600.5, 200.25, 0.015], [640.0, 240.0, 4.8]],
}


@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize("mirrored", [False, True])
def test_normalise_float_equals_previous(n, mirrored):
    rng = np.random.default_rng(n)
    crops = (rng.random((n, 256, 256, 3)) * 255).astype(np.float32)
    crops[0, 0, :256, 0] = np.arange(256)  # exact levels too
    crops[0, 1, :3] = [[0.0, 255.0, 1e-7]]
    want = previous_normalise_float(crops)
    if mirrored:
        want = np.concatenate([want, want[..., ::-1]])
    assert same_bits(normalise_float(crops, mirrored), want)
    as_f64 = crops.astype(np.float64)[:, ::3, ::2]  # other dtype, non-contiguous, other size
    want = previous_normalise_float(as_f64)
    if mirrored:
        want = np.concatenate([want, want[..., ::-1]])
    assert same_bits(normalise_float(as_f64, mirrored), want)


@pytest.mark.parametrize("boxes", list(CXCYS_SETS.values()), ids=list(CXCYS_SETS))
@pytest.mark.parametrize("mirrored", [False, True])
def test_hmr2_crops_equal_previous(boxes, mirrored):
    image = scene(len(boxes) + 10)
    norm_img, crops = hmr2_crops(image, boxes, mirrored=mirrored)
    want_norm, want_crops = previous_hmr2_crops(image, boxes)
    if mirrored:
        want_norm = np.concatenate([want_norm, want_norm[..., ::-1]])
    assert same_bits(crops, want_crops)
    assert same_bits(norm_img, want_norm) and norm_img.flags.c_contiguous


def test_hmr2_crops_of_huge_boxes_normalise_as_before():
    """Windows beyond MAX_CANVAS_PX are sampled directly; their normalisation is unchanged."""
    image = scene(3)
    boxes = [[640.0, 240.0, 30.0], [-5e4, 3e4, 500.0]]
    norm_img, crops = hmr2_crops(image, boxes, mirrored=True)
    want = previous_normalise_float(crops)
    assert same_bits(norm_img, np.concatenate([want, want[..., ::-1]]))
