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
