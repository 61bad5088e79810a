"""Flip merge and decode give the same bits as their previous definitions.

``previous_*`` below are the definitions used before the host-time work of issue 20 (doc
strings dropped); the current code must match them bit for bit on varied heatmaps: smooth
random fields, peaks at the borders and corners, flat, negative and zero maps, one and
several people, float32 and float64.
"""
import cv2
import numpy as np
import pytest

import wham_ros.vitpose.decode as decode
from wham_ros.vitpose import COCO17_FLIP_INDEX, keypoints_from_heatmaps, merge_flipped_heatmaps


def previous_merge(heatmaps, heatmaps_flipped):
    back = heatmaps_flipped[:, COCO17_FLIP_INDEX, :, ::-1]
    merged = np.add(heatmaps, back)
    merged *= heatmaps.dtype.type(0.5)
    return merged


def previous_log_blur_around(points, heatmaps, kernel):
    n, k, h, w = heatmaps.shape
    m = n * k
    r = kernel // 2 + 1
    side = 2 * r + 1
    px = np.clip(points[..., 0].reshape(m).astype(np.intp), 0, w - 1)
    py = np.clip(points[..., 1].reshape(m).astype(np.intp), 0, h - 1)
    offsets = np.arange(-r, r + 1)
    cols = decode._reflect101(px[:, None] + offsets, w)
    rows = decode._reflect101(py[:, None] + offsets, h)
    maps = heatmaps.reshape(m, h, w)
    patches = maps[np.arange(m)[:, None, None], rows[:, :, None], cols[:, None, :]]
    width = -(-m * side // 64) * 64
    strip = np.zeros((side, width), dtype=heatmaps.dtype)
    strip[:, :m * side] = patches.transpose(1, 0, 2).reshape(side, m * side)
    blurred = cv2.GaussianBlur(strip, (kernel, kernel), 0)[:, :m * side]
    blurred = blurred.reshape(side, m, side).transpose(1, 0, 2)
    d = np.array([-1, 0, 1])
    ny = np.clip(py[:, None] + d, 0, h - 1) - py[:, None] + r
    nx = np.clip(px[:, None] + d, 0, w - 1) - px[:, None] + r
    near = blurred[np.arange(m)[:, None, None], ny[:, :, None], nx[:, None, :]]
    np.clip(near, 0.001, 50, out=near)
    np.log(near, out=near)
    return near.reshape(n, k, 3, 3)


def previous_dark_udp(points, heatmaps, kernel):
    _, _, h, w = heatmaps.shape
    L = previous_log_blur_around(points, heatmaps, kernel)
    c = L[..., 1, 1]
    xp, xm = L[..., 1, 2], L[..., 1, 0]
    yp, ym = L[..., 2, 1], L[..., 0, 1]
    xpyp, xmym = L[..., 2, 2], L[..., 0, 0]
    half = L.dtype.type(0.5)
    dx = half * (xp - xm)
    dy = half * (yp - ym)
    dxx = xp - 2 * c + xm
    dyy = yp - 2 * c + ym
    dxy = half * (xpyp - xp - yp + c + c - xm - ym + xmym)
    grad = np.stack([dx, dy], axis=-1)[..., None]
    hess = np.stack([dxx, dxy, dxy, dyy], axis=-1).reshape(points.shape[:2] + (2, 2))
    hess = hess + np.finfo(np.float32).eps * np.eye(2)
    a, b, d = hess[..., 0, 0], hess[..., 0, 1], hess[..., 1, 1]
    mean, radius = 0.5 * (a + d), np.sqrt(0.25 * (a - d) ** 2 + b * b)
    regular = np.isfinite(radius) & (np.minimum(np.abs(mean - radius), np.abs(mean + radius))
                                     >= decode.SINGULAR_EIG)
    hess_inv = np.linalg.inv(np.where(regular[..., None, None], hess, np.eye(2)))
    step = np.einsum("ijmn,ijnk->ijmk", hess_inv, grad)[..., 0]
    moved = points - step
    ok = (regular & np.isfinite(moved).all(-1) & (np.hypot(step[..., 0], step[..., 1]) <= kernel)
          & (moved[..., 0] >= -1) & (moved[..., 0] <= w) & (moved[..., 1] >= -1)
          & (moved[..., 1] <= h) & (points[..., 0] >= 0))
    refined = points.copy()
    refined -= np.where(ok[..., None], step, 0.0)
    return refined


def varied_heatmaps(n, dtype, seed):
    """(n, 17, 64, 48) smooth random fields around 1 with special maps mixed in."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n, 17, 16, 12))
    maps = np.stack([np.stack([cv2.resize(f.astype(np.float32), (48, 64), interpolation=cv2.INTER_CUBIC)
                               for f in person]) for person in noise]) * 0.4 + 1.0
    maps = maps.astype(dtype)
    special = [np.zeros((64, 48)), np.full((64, 48), 0.7), -np.ones((64, 48))]  # flat, plateau, negative
    for j, (y, x) in enumerate([(0, 0), (63, 47), (0, 47), (63, 0), (31, 0), (0, 20), (63, 30)]):
        maps[j % n, j, y, x] += 3.0  # peaks on borders and corners
    for j, m in enumerate(special):
        maps[(j + 1) % n, 10 + j] = m
    return maps


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


@pytest.mark.parametrize("n", [1, 4, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_merge_equals_previous(n, dtype):
    h, hf = varied_heatmaps(n, dtype, n), varied_heatmaps(n, dtype, n + 100)
    assert same_bits(merge_flipped_heatmaps(h, hf), previous_merge(h, hf))
    both = np.concatenate([h, hf])  # the estimator passes halves of one network output
    assert same_bits(merge_flipped_heatmaps(both[:n], both[n:]), previous_merge(h, hf))
    assert merge_flipped_heatmaps(h[:0], hf[:0]).shape == (0, 17, 64, 48)


@pytest.mark.parametrize("n", [1, 4, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_decode_equals_previous(n, dtype, monkeypatch):
    maps = merge_flipped_heatmaps(varied_heatmaps(n, dtype, n), varied_heatmaps(n, dtype, n + 1))
    rng = np.random.default_rng(n)
    center = rng.uniform(0, 1000, (n, 2)).astype(np.float32)
    scale = rng.uniform(0.2, 3.0, (n, 2)).astype(np.float32)
    now = keypoints_from_heatmaps(maps, center, scale)
    with monkeypatch.context() as m:
        m.setattr(decode, "_dark_udp", previous_dark_udp)
        before = keypoints_from_heatmaps(maps, center, scale)
    assert same_bits(now, before)
    points, _ = decode._argmax_points(maps)
    assert same_bits(decode._log_blur_around(points, maps, 11),
                     previous_log_blur_around(points, maps, 11))
