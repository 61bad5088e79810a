"""NMS gives the same indices as its previous definition (one kept box at a time).

``previous_nms`` is the definition used before the host-time work of issue 20 (doc string
dropped); the current :func:`wham_ros.detect.boxes.nms` (all pairwise IoUs at once up to
``NMS_MATRIX_MAX`` candidates) must return the same indices on varied boxes: overlapping
clusters, duplicates and score ties, empty and NaN boxes, every threshold and ``max_keep``,
and more candidates than the matrix path takes.
"""
import numpy as np
import pytest

from wham_ros.detect.boxes import NMS_MATRIX_MAX, box_area, nms


def previous_nms(boxes, scores, iou_threshold, max_keep=0):
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    areas = box_area(boxes)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if max_keep and len(keep) >= max_keep:
            break
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        wh = np.clip(rb - lt, 0, None)
        inter = wh[:, 0] * wh[:, 1]
        union = areas[i] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def candidates(rng, n, kind):
    """n boxes around a few people (detector-like clusters), with the given peculiarity."""
    people = rng.uniform(0, 600, (4, 2))
    centre = people[rng.integers(0, 4, n)] + rng.normal(0, 15, (n, 2))
    size = rng.uniform(20, 200, (n, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], 1)
    scores = rng.random(n)
    if kind == "ties_duplicates":
        boxes, scores = np.round(boxes / 25) * 25, np.round(scores, 1)
    elif kind == "degenerate" and n:
        boxes[rng.integers(0, n, 3)] = [10.0, 10.0, 10.0, 10.0]  # empty boxes
        boxes[rng.integers(0, n)] = np.nan
    return boxes, scores


@pytest.mark.parametrize("kind", ["clusters", "ties_duplicates", "degenerate"])
@pytest.mark.parametrize("threshold", [0.0, 0.45, 0.7, 1.0])
def test_nms_equals_previous(kind, threshold):
    rng = np.random.default_rng(int(threshold * 100) + len(kind))
    for n in (0, 1, 2, 5, 30, 200, NMS_MATRIX_MAX + 40):
        boxes, scores = candidates(rng, n, kind)
        for max_keep in (0, 1, 3, 100):
            np.testing.assert_array_equal(nms(boxes, scores, threshold, max_keep),
                                          previous_nms(boxes, scores, threshold, max_keep))
