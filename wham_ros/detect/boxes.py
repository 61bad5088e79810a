"""Box utilities shared by the detector and the tracker (numpy only).

Boxes are ``[x1, y1, x2, y2]`` in pixels (x right, y down), x2 >= x1, y2 >= y1.
"""
import numpy as np


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Centre/size boxes to corner boxes.

    Args:
        boxes: (..., 4) ``[cx, cy, w, h]``.

    Returns:
        (..., 4) ``[x1, y1, x2, y2]``, same dtype.
    """
    cxcy, half = boxes[..., :2], boxes[..., 2:4] / 2
    return np.concatenate([cxcy - half, cxcy + half], -1)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of (..., 4) xyxy boxes (0 for degenerate boxes)."""
    w = np.maximum(boxes[..., 2] - boxes[..., 0], 0)
    h = np.maximum(boxes[..., 3] - boxes[..., 1], 0)
    return w * h


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union.

    Args:
        a: (N, 4) xyxy boxes.
        b: (M, 4) xyxy boxes.

    Returns:
        (N, M) IoU in [0, 1] (0 where both boxes are empty), float64.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])           # N x M x 2
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])           # N x M x 2
    wh = np.maximum(rb - lt, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


#: Above this many candidates NMS compares the kept box with the rest one at a time instead
#: of computing all pairwise IoUs at once (bounded memory: 512^2 float64 = 2 MiB).
NMS_MATRIX_MAX = 512


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
        max_keep: int = 0) -> np.ndarray:
    """Greedy non-maximum suppression.

    Keeps the highest-scoring box, drops every remaining box overlapping it with
    IoU > ``iou_threshold`` (or an undefined, NaN IoU), and repeats. Ties keep the lower
    index first (stable sort). Up to :data:`NMS_MATRIX_MAX` candidates, the IoUs of all
    pairs are computed in one go (:func:`iou_matrix`, the same values as pair by pair).

    Args:
        boxes: (N, 4) xyxy boxes.
        scores: (N,) scores.
        iou_threshold: suppression threshold in [0, 1].
        max_keep: stop after this many boxes (0 = no limit).

    Returns:
        (K,) int64 indices into ``boxes``, by decreasing score.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"nms: {len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    if len(order) <= 1:  # nothing to suppress
        return order.astype(np.int64)
    if len(order) > NMS_MATRIX_MAX:
        return _nms_one_at_a_time(boxes, order, iou_threshold, max_keep)
    ranked = boxes[order]
    kept_with = iou_matrix(ranked, ranked) <= iou_threshold  # K x K, False for NaN IoUs
    alive = np.ones(len(order), dtype=bool)
    keep = []
    for a in range(len(order)):
        if not alive[a]:
            continue
        keep.append(order[a])
        if max_keep and len(keep) >= max_keep:
            break
        alive[a + 1:] &= kept_with[a, a + 1:]
    return np.asarray(keep, dtype=np.int64)


def _nms_one_at_a_time(boxes: np.ndarray, order: np.ndarray, iou_threshold: float,
                       max_keep: int) -> np.ndarray:
    """:func:`nms` for many candidates: IoUs of the kept box with the remaining ones only."""
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
