"""WHAM's per-frame network inputs from 2D keypoints (numpy, batched over people).

Closed forms of what WHAM's demo computes with ``Detector.compute_bboxes_from_keypoints``
(box), ``CustomDataset`` + ``Normalizer`` (normalised keypoints ``x``, ``mask``) and
``compute_cam_intrinsics`` (default camera). They reproduce the reference's float32 values
to <= 3e-7 (``x``) and bit for bit (box, mask, intrinsics).

Units and frames: keypoints and boxes in image pixels (x right, y down); a WHAM box is
``[cx, cy, s]`` with a square side of ``200 * s`` pixels; ``res`` is ``(W, H)``.
The one difference to the offline demo is deliberate: WHAM median-filters the boxes over
the whole clip (a non-causal filter); here every frame's box is computed from that frame
only, and temporal smoothing happens causally in the tracker (``wham_ros.tracking``).
"""
from typing import Sequence, Tuple

import numpy as np

from wham_ros.body.joint_names import COCO_JOINT_NAMES as COCO17_JOINTS  # order of ``x``

NUM_JOINTS = len(COCO17_JOINTS)
#: WHAM's visibility threshold (``KEYPOINTS_THR`` / ``VIS_THRESH``).
CONF_THRESHOLD = 0.3
#: WHAM keeps a person in a frame only with at least this many confident joints.
MIN_CONFIDENT_JOINTS = 6
#: Box scale factor of ``compute_bboxes_from_keypoints``.
BBOX_SCALE = 1.2
#: Pixel size of WHAM's unit box (``s`` is in units of 200 px).
BOX_UNIT_PX = 200.0


class KeypointInputError(ValueError):
    """Keypoints, boxes or image sizes do not have the shape or content WHAM needs."""


def _check_keypoints(kp: np.ndarray) -> np.ndarray:
    kp = np.asarray(kp)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 3):
        raise KeypointInputError(
            f"keypoints must be (N, {NUM_JOINTS}, 3) [x_px, y_px, conf] in COCO-17 order; "
            f"got shape {kp.shape}")
    return kp


def _check_res(res: Sequence[float]) -> Tuple[float, float]:
    res = np.asarray(res, dtype=np.float64).reshape(-1)
    if res.shape != (2,) or not np.all(res > 0):
        raise KeypointInputError(f"res must be (W, H) with positive sizes; got {res.tolist()}")
    return float(res[0]), float(res[1])


def confident_joints(kp: np.ndarray, thr: float = CONF_THRESHOLD) -> np.ndarray:
    """Joints WHAM counts as visible (compared in the keypoints' dtype, as WHAM does).

    Args:
        kp: (N, 17, 3) keypoints ``[x_px, y_px, conf]``.
        thr: confidence threshold (strictly greater counts).

    Returns:
        (N, 17) bool, ``conf > thr``.
    """
    return _check_keypoints(kp)[..., 2] > thr


def has_enough_joints(kp: np.ndarray, thr: float = CONF_THRESHOLD,
                      min_joints: int = MIN_CONFIDENT_JOINTS) -> np.ndarray:
    """WHAM's per-frame person filter: at least ``min_joints`` joints with ``conf > thr``.

    Args:
        kp: (N, 17, 3) keypoints.
        thr: confidence threshold.
        min_joints: minimum number of confident joints.

    Returns:
        (N,) bool.
    """
    return confident_joints(kp, thr).sum(-1) >= min_joints


def bbox_from_keypoints(kp: np.ndarray, thr: float = CONF_THRESHOLD,
                        scale: float = BBOX_SCALE) -> np.ndarray:
    """WHAM box ``[cx, cy, s]`` around the confident joints, one per person.

    ``cx, cy`` = centre of the tight box of the joints with ``conf > thr``;
    ``s = scale * max(w, h) / 200``. Computed in float64 from the input values and rounded
    once to float32, as WHAM stores it. Confidences are compared in the input's own dtype
    (as WHAM's ``conf > 0.3`` on float32 arrays), so a float32 0.3 is not confident.

    Args:
        kp: (N, 17, 3) keypoints ``[x_px, y_px, conf]``.
        thr: confidence threshold.
        scale: box enlargement factor (WHAM: 1.2).

    Returns:
        (N, 3) float32 ``[cx_px, cy_px, s]``.

    Raises:
        KeypointInputError: wrong shape, or a person without any confident joint
            (WHAM drops such people before this step; see :func:`has_enough_joints`).
    """
    valid = confident_joints(kp, thr)                          # N x 17
    kp = np.asarray(kp, dtype=np.float64)
    empty = ~valid.any(-1)
    if empty.any():
        raise KeypointInputError(
            f"people {np.flatnonzero(empty).tolist()} have no joint with confidence > {thr}; "
            "filter them with has_enough_joints() first")
    x, y = kp[..., 0], kp[..., 1]
    x0 = np.where(valid, x, np.inf).min(-1)
    x1 = np.where(valid, x, -np.inf).max(-1)
    y0 = np.where(valid, y, np.inf).min(-1)
    y1 = np.where(valid, y, -np.inf).max(-1)
    side = np.maximum(x1 - x0, y1 - y0) * scale / BOX_UNIT_PX
    return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, side], -1).astype(np.float32)


def keypoint_mask(kp: np.ndarray, thr: float = CONF_THRESHOLD) -> np.ndarray:
    """WHAM's ``mask``: True where a joint is treated as missing.

    Args:
        kp: (N, 17, 3) keypoints.
        thr: confidence threshold.

    Returns:
        (N, 17) bool, ``conf < thr``.
    """
    return _check_keypoints(kp)[..., 2] < thr


def normalize_keypoints(kp: np.ndarray, bbox: np.ndarray, res: Sequence[float]) -> np.ndarray:
    """WHAM's normalised keypoint input ``x`` (one row per person).

    Per joint ``2 (kp_xy - c) / (200 s)`` (the box mapped to [-1, 1]), then the box in the
    image: ``(2 cx - W) / max(W, H)``, ``(2 cy - H) / max(W, H)``, ``200 s / max(W, H)``.
    All joints are normalised, confident or not (the network zeroes masked ones).

    Args:
        kp: (N, 17, 3) keypoints ``[x_px, y_px, conf]``.
        bbox: (N, 3) WHAM boxes ``[cx_px, cy_px, s]``.
        res: image size ``(W, H)`` in pixels.

    Returns:
        (N, 37) float32: 17 x (u, v) joint-major, then the 3 box terms.
    """
    kp = _check_keypoints(kp).astype(np.float64)
    bbox = np.asarray(bbox, dtype=np.float64)
    if bbox.shape != (kp.shape[0], 3):
        raise KeypointInputError(
            f"bbox must be (N, 3) [cx, cy, s] with N = {kp.shape[0]}; got shape {bbox.shape}")
    if np.any(bbox[:, 2] <= 0):
        raise KeypointInputError(f"bbox scales must be positive; got {bbox[:, 2].tolist()}")
    w, h = _check_res(res)
    longest = max(w, h)
    centre = bbox[:, None, :2]                                 # N x 1 x 2
    side = BOX_UNIT_PX * bbox[:, None, 2:]                     # N x 1 x 1
    uv = 2.0 * (kp[..., :2] - centre) / side                   # N x 17 x 2
    loc = np.stack([(2.0 * bbox[:, 0] - w) / longest,
                    (2.0 * bbox[:, 1] - h) / longest,
                    BOX_UNIT_PX * bbox[:, 2] / longest], -1)   # N x 3
    return np.concatenate([uv.reshape(len(kp), -1), loc], -1).astype(np.float32)


def default_intrinsics(width: float, height: float) -> np.ndarray:
    """WHAM's default pinhole camera: ``f = sqrt(W^2 + H^2)``, principal point at the centre.

    Args:
        width: image width W in pixels.
        height: image height H in pixels.

    Returns:
        (3, 3) float32 K (pixels).
    """
    w, h = _check_res((width, height))
    f = np.sqrt(w * w + h * h)
    return np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]], dtype=np.float32)


def intrinsics_from_camera_info(K: Sequence[float], width: float, height: float) -> np.ndarray:
    """Intrinsics from a ``sensor_msgs/CameraInfo`` K, falling back to WHAM's default.

    An all-zero K (an uncalibrated camera, as CameraInfo specifies) gives
    :func:`default_intrinsics`.

    Args:
        K: 9 row-major values or a (3, 3) matrix (pixels).
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        (3, 3) float32 K.

    Raises:
        KeypointInputError: K has the wrong size or non-positive focal lengths.
    """
    k = np.asarray(K, dtype=np.float64)
    if k.size != 9:
        raise KeypointInputError(f"K must have 9 values (3x3 row-major); got {k.size}")
    k = k.reshape(3, 3)
    if not np.any(k):
        return default_intrinsics(width, height)
    if k[0, 0] <= 0 or k[1, 1] <= 0 or k[2, 2] != 1.0:
        raise KeypointInputError(
            f"K must have positive fx, fy and K[2,2] = 1; got fx={k[0, 0]}, fy={k[1, 1]}, "
            f"K[2,2]={k[2, 2]}")
    return k.astype(np.float32)
