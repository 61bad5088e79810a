"""Detection-to-track similarities: box IoU and an OKS-like keypoint similarity.

Keypoints are COCO-17 ``[x_px, y_px, conf]``; boxes xyxy in pixels.
"""
import numpy as np

from wham_ros.detect.boxes import box_area
from wham_ros.frontend.wham_inputs import COCO17_JOINTS

#: COCO keypoint sigmas (per-joint localisation spread relative to object scale), by name.
COCO_SIGMAS = {
    "nose": 0.026, "left_eye": 0.025, "right_eye": 0.025, "left_ear": 0.035, "right_ear": 0.035,
    "left_shoulder": 0.079, "right_shoulder": 0.079, "left_elbow": 0.072, "right_elbow": 0.072,
    "left_wrist": 0.062, "right_wrist": 0.062, "left_hip": 0.107, "right_hip": 0.107,
    "left_knee": 0.087, "right_knee": 0.087, "left_ankle": 0.089, "right_ankle": 0.089,
}
SIGMAS = np.array([COCO_SIGMAS[name] for name in COCO17_JOINTS])   # 17, COCO order


def oks_matrix(kp_a: np.ndarray, kp_b: np.ndarray, boxes_a: np.ndarray,
               conf_threshold: float = 0.3) -> np.ndarray:
    """Object keypoint similarity between two sets of people.

    ``OKS = mean_i exp(-d_i^2 / (2 s^2 k_i^2))`` over joints confident in both, with
    ``k_i = 2 sigma_i`` and ``s^2`` the area of the box of ``a``. Pairs without any joint
    confident in both get NaN (the caller falls back to IoU).

    Args:
        kp_a: (N, 17, 3) keypoints (e.g. detections).
        kp_b: (M, 17, 3) keypoints (e.g. tracks, predicted to this frame).
        boxes_a: (N, 4) xyxy boxes of ``a`` giving the object scale.
        conf_threshold: joint confidence threshold.

    Returns:
        (N, M) float64 in [0, 1] or NaN.
    """
    kp_a = np.asarray(kp_a, dtype=np.float64)
    kp_b = np.asarray(kp_b, dtype=np.float64)
    d2 = ((kp_a[:, None, :, :2] - kp_b[None, :, :, :2]) ** 2).sum(-1)       # N x M x 17
    s2 = np.maximum(box_area(np.asarray(boxes_a, dtype=np.float64)), 1.0)   # N
    k2 = (2.0 * SIGMAS) ** 2                                                  # 17
    e = np.exp(-d2 / (2.0 * s2[:, None, None] * k2))                          # N x M x 17
    both = (kp_a[:, None, :, 2] > conf_threshold) & (kp_b[None, :, :, 2] > conf_threshold)
    n = both.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (e * both).sum(-1) / n, np.nan)
