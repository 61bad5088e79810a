"""Appearance signature of a person: colour histograms of the torso and the legs.

No model file: a signature is two normalised hue-saturation histograms (chromatic pixels in
``HUE_BINS x SAT_BINS`` bins, achromatic pixels in ``GREY_BINS`` brightness bins), one of the
torso region and one of the leg region, concatenated with weight 1/2 each (sum 1). Two
signatures are compared by the Hellinger distance ``sqrt(1 - sum_i sqrt(p_i q_i))`` in [0, 1].

Regions: from the keypoints when they look like a body (shoulders above hips, both confident
and inside the box), else the box's inner bands (``FALLBACK_TORSO`` / ``FALLBACK_LEGS``,
box-relative), so poor keypoints (the test models': about two thirds fall outside the box)
never move the regions onto the background.

Units: pixels; images (H, W, 3) uint8 RGB.
"""
from fractions import Fraction
from typing import List, Optional, Tuple

import numpy as np

from wham_ros.frontend.wham_inputs import COCO17_JOINTS

HUE_BINS, SAT_BINS, GREY_BINS = 18, 3, 4
SIGNATURE_SIZE = 2 * (HUE_BINS * SAT_BINS + GREY_BINS)
#: Box-relative regions (x0, y0, x1, y1) used when the keypoints do not locate the body.
FALLBACK_TORSO = (0.2, 0.15, 0.8, 0.5)
FALLBACK_LEGS = (0.25, 0.55, 0.75, 0.9)
MIN_SATURATION = 0.25      # below: achromatic (grey bins by brightness)
MAX_SAMPLES_PER_AXIS = 24  # pixels sampled per region axis (a strided grid)
_S0 = Fraction(MIN_SATURATION)  # exact, for the integer saturation bins
_J = {name: i for i, name in enumerate(COCO17_JOINTS)}
_SHOULDERS = [_J["left_shoulder"], _J["right_shoulder"]]
_HIPS = [_J["left_hip"], _J["right_hip"]]


def body_regions(box: np.ndarray, keypoints: Optional[np.ndarray],
                 joint_conf: float = 0.3) -> Tuple[np.ndarray, np.ndarray]:
    """Torso and leg regions of a person.

    Args:
        box: (4,) xyxy box, pixels.
        keypoints: (17, 3) COCO-17 ``[x_px, y_px, conf]`` or None.
        joint_conf: confidence a shoulder / hip joint needs.

    Returns:
        (torso, legs): two (4,) xyxy regions, pixels.
    """
    box = np.asarray(box, dtype=np.float64)
    w, h = box[2] - box[0], box[3] - box[1]
    if keypoints is not None:
        kp = np.asarray(keypoints, dtype=np.float64)
        pts = kp[_SHOULDERS + _HIPS]                                         # 4 x 3
        inside = ((pts[:, 0] >= box[0]) & (pts[:, 0] <= box[2]) & (pts[:, 1] >= box[1])
                  & (pts[:, 1] <= box[3]) & (pts[:, 2] >= joint_conf)).all()
        sh_y, hip_y = pts[:2, 1].mean(), pts[2:, 1].mean()
        if inside and hip_y - sh_y > 0.15 * h:
            x0, x1 = pts[:, 0].min(), pts[:, 0].max()
            if x1 - x0 > 0.1 * w:
                torso = np.array([x0, sh_y, x1, hip_y])
                legs = np.array([pts[2:, 0].min(), hip_y + 0.1 * (box[3] - hip_y),
                                 pts[2:, 0].max(), box[3] - 0.1 * (box[3] - hip_y)])
                return torso, legs
    rel = np.array([FALLBACK_TORSO, FALLBACK_LEGS])                          # 2 x 4
    regions = box[[0, 1, 0, 1]] + rel * np.array([w, h, w, h])
    return regions[0], regions[1]


def _sample_grid(region: np.ndarray, H: int, W: int) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Row and column indices of the strided sample grid of a region (at most
    ``MAX_SAMPLES_PER_AXIS`` steps of whole pixels per axis), None if it has no 2 x 2 pixels
    inside an (H, W) image."""
    x0, y0 = max(int(region[0]), 0), max(int(region[1]), 0)
    x1, y1 = min(int(np.ceil(region[2])), W), min(int(np.ceil(region[3])), H)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    sx = max((x1 - x0) // MAX_SAMPLES_PER_AXIS, 1)
    sy = max((y1 - y0) // MAX_SAMPLES_PER_AXIS, 1)
    return np.arange(y0, y1, sy), np.arange(x0, x1, sx)


def _bins(rgb: np.ndarray) -> np.ndarray:
    """Histogram bin of each (P, 3) uint8 RGB pixel, in integer arithmetic: hue x saturation
    when chromatic (saturation ``C / M >= MIN_SATURATION`` with ``M``, ``m`` the largest and
    smallest channel and ``C = M - m``), else brightness ``M``; (P,) int32.

    The hexagonal hue ``h`` in [0, 6) (``(G - B) / C`` mod 6 when red is largest,
    ``(B - R) / C + 2`` green, ``(R - G) / C + 4`` blue) is binned as ``floor(h * HUE_BINS / 6)``,
    the saturation as ``floor((C / M - s0) / (1 - s0) * SAT_BINS)``, both exactly.
    """
    r, g, b = rgb.astype(np.int32).T
    mx, mn = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    c = mx - mn
    # h * HUE_BINS / 6 as a fraction over 6 C per largest channel (C = 0 is achromatic)
    sector = np.where(mx == r, g - b + 6 * c, np.where(mx == g, b - r + 2 * c, r - g + 4 * c))
    h_bin = np.minimum((HUE_BINS * sector // np.maximum(6 * c, 1)) % HUE_BINS, HUE_BINS - 1)
    # C / M >= s0 and the saturation bin, s0 = p / q: (C / M - s0) / (1 - s0) = (q C - p M) / ((q - p) M)
    p, q = _S0.numerator, _S0.denominator
    sat_num = q * c - p * mx
    chromatic = (sat_num >= 0) & (mx > 0)
    s_bin = np.minimum(sat_num * SAT_BINS // np.maximum((q - p) * mx, 1), SAT_BINS - 1)
    g_bin = HUE_BINS * SAT_BINS + np.minimum(mx * GREY_BINS // 255, GREY_BINS - 1)
    return np.where(chromatic, h_bin * SAT_BINS + s_bin, g_bin)


def signatures(image: np.ndarray, boxes: np.ndarray, keypoints: Optional[np.ndarray] = None,
               joint_conf: float = 0.3) -> List[Optional[np.ndarray]]:
    """Appearance signatures of several people, all regions binned in one pass.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes: (N, 4) xyxy, pixels.
        keypoints: (N, 17, 3) or None (box regions then).
        joint_conf: joint confidence threshold.

    Returns:
        N entries: a (SIGNATURE_SIZE,) float64 summing to 1, or None when a region lies
        outside the image.
    """
    H, W = image.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    grids = []  # per person: (torso grid, legs grid) or None
    for i, box in enumerate(boxes):
        torso, legs = body_regions(box, None if keypoints is None else keypoints[i], joint_conf)
        pair = (_sample_grid(torso, H, W), _sample_grid(legs, H, W))
        grids.append(None if pair[0] is None or pair[1] is None else pair)
    regions = [g for pair in grids if pair is not None for g in pair]
    out: List[Optional[np.ndarray]] = [None] * len(boxes)
    if not regions:
        return out
    pixels = np.concatenate([image[rows[:, None], cols[None, :]].reshape(-1, 3) for rows, cols in regions])
    owner = np.repeat(np.arange(len(regions)), [len(rows) * len(cols) for rows, cols in regions])
    n_bins = HUE_BINS * SAT_BINS + GREY_BINS
    hist = np.bincount(owner * n_bins + _bins(pixels), minlength=len(regions) * n_bins)
    hist = hist.reshape(len(regions), n_bins).astype(np.float64)
    hist /= hist.sum(1, keepdims=True)
    k = 0
    for i, pair in enumerate(grids):
        if pair is not None:
            out[i] = 0.5 * hist[k:k + 2].reshape(-1)
            k += 2
    return out


def signature(image: np.ndarray, box: np.ndarray, keypoints: Optional[np.ndarray] = None,
              joint_conf: float = 0.3) -> Optional[np.ndarray]:
    """Appearance signature of one person (see :func:`signatures`).

    Args:
        image: (H, W, 3) uint8 RGB.
        box: (4,) xyxy, pixels.
        keypoints: (17, 3) or None (box regions then).
        joint_conf: joint confidence threshold.

    Returns:
        (SIGNATURE_SIZE,) float64 summing to 1, or None when a region lies outside the image.
    """
    return signatures(image, np.asarray(box, dtype=np.float64)[None],
                      None if keypoints is None else np.asarray(keypoints)[None], joint_conf)[0]


def hellinger(a: np.ndarray, b: np.ndarray) -> float:
    """Hellinger distance of two signatures, in [0, 1] (0: the same histograms)."""
    bc = float(np.sqrt(np.maximum(a, 0.0) * np.maximum(b, 0.0)).sum())
    return float(np.sqrt(max(1.0 - bc, 0.0)))
