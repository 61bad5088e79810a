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
from typing import Optional, Tuple

import numpy as np

from wham_ros.frontend.wham_inputs import COCO17_JOINTS

HUE_BINS, SAT_BINS, GREY_BINS = 18, 3, 4
SIGNATURE_SIZE = 2 * (HUE_BINS * SAT_BINS + GREY_BINS)
#: Box-relative regions (x0, y0, x1, y1) used when the keypoints do not locate the body.
FALLBACK_TORSO = (0.2, 0.15, 0.8, 0.5)
FALLBACK_LEGS = (0.25, 0.55, 0.75, 0.9)
MIN_SATURATION = 0.25      # below: achromatic (grey bins by brightness)
MAX_SAMPLES_PER_AXIS = 24  # pixels sampled per region axis (a strided grid)
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


def _histogram(image: np.ndarray, region: np.ndarray) -> Optional[np.ndarray]:
    """Normalised (HUE_BINS * SAT_BINS + GREY_BINS,) histogram of a region, None if empty."""
    H, W = image.shape[:2]
    x0, y0 = max(int(region[0]), 0), max(int(region[1]), 0)
    x1, y1 = min(int(np.ceil(region[2])), W), min(int(np.ceil(region[3])), H)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    sx = max((x1 - x0) // MAX_SAMPLES_PER_AXIS, 1)
    sy = max((y1 - y0) // MAX_SAMPLES_PER_AXIS, 1)
    rgb = image[y0:y1:sy, x0:x1:sx].reshape(-1, 3).astype(np.float64) / 255.0   # P x 3
    mx, mn = rgb.max(1), rgb.min(1)
    chroma = mx - mn
    sat = np.where(mx > 0, chroma / np.maximum(mx, 1e-9), 0.0)
    # Hue in [0, 6) (the hexagonal HSV hue), then binned.
    r, g, b = rgb.T
    c = np.maximum(chroma, 1e-9)
    hue = np.where(mx == r, ((g - b) / c) % 6.0, np.where(mx == g, (b - r) / c + 2.0, (r - g) / c + 4.0))
    chromatic = sat >= MIN_SATURATION
    h_bin = np.minimum((hue / 6.0 * HUE_BINS).astype(int), HUE_BINS - 1)
    s_bin = np.minimum(((sat - MIN_SATURATION) / (1.0 - MIN_SATURATION) * SAT_BINS).astype(int),
                       SAT_BINS - 1)
    g_bin = HUE_BINS * SAT_BINS + np.minimum((mx * GREY_BINS).astype(int), GREY_BINS - 1)
    bins = np.where(chromatic, h_bin * SAT_BINS + np.maximum(s_bin, 0), g_bin)
    hist = np.bincount(bins, minlength=HUE_BINS * SAT_BINS + GREY_BINS).astype(np.float64)
    return hist / hist.sum()


def signature(image: np.ndarray, box: np.ndarray, keypoints: Optional[np.ndarray] = None,
              joint_conf: float = 0.3) -> Optional[np.ndarray]:
    """Appearance signature of one person.

    Args:
        image: (H, W, 3) uint8 RGB.
        box: (4,) xyxy, pixels.
        keypoints: (17, 3) or None (box regions then).
        joint_conf: joint confidence threshold.

    Returns:
        (SIGNATURE_SIZE,) float64 summing to 1, or None when a region lies outside the image.
    """
    torso, legs = body_regions(box, keypoints, joint_conf)
    parts = [_histogram(image, torso), _histogram(image, legs)]
    if parts[0] is None or parts[1] is None:
        return None
    return 0.5 * np.concatenate(parts)


def hellinger(a: np.ndarray, b: np.ndarray) -> float:
    """Hellinger distance of two signatures, in [0, 1] (0: the same histograms)."""
    bc = float(np.sqrt(np.clip(a, 0, None) * np.clip(b, 0, None)).sum())
    return float(np.sqrt(max(1.0 - bc, 0.0)))
