"""Camera-motion compensation (CMC): where last frame's boxes are in this frame's image.

A rotating camera moves every person in the image; the tracker's constant-velocity model
then predicts boxes where nobody is. Before association, every track's box is moved by the
image motion between the two frames, a 3x3 homography ``H`` (previous pixels -> current
pixels, homogeneous):

* ``gyro``: from the camera rotation measured between the frames (integrated gyro, or TF
  orientations): a pure rotation maps rays ``d_t = dR^T d_{t-1}`` with
  ``dR = R_{t-1} R_t^T`` (R world -> camera, the convention of
  :mod:`wham_ros.geometry.camera_motion`), hence ``H = K dR^T K^-1``. Exact for a rotating
  camera, whatever is in the image.
* ``image``: estimated from the background as BoT-SORT's GMC does: corners
  (``cv2.goodFeaturesToTrack``) outside the person boxes, tracked with pyramidal
  Lucas-Kanade, a RANSAC similarity transform (``cv2.estimateAffinePartial2D``); for cameras
  without a rotation source. Costs a few ms per frame; off by default.
* ``off``: no compensation.
"""
import logging
from typing import Optional

import numpy as np

LOG = logging.getLogger(__name__)

CMC_MODES = ("gyro", "image", "off")


def rotation_homography(K: np.ndarray, delta_R: np.ndarray) -> np.ndarray:
    """Image motion of a pure camera rotation.

    Args:
        K: (3, 3) intrinsics, pixels.
        delta_R: (3, 3) ``R_{t-1} R_t^T`` (R world -> camera, optical frame).

    Returns:
        (3, 3) homography previous pixels -> current pixels, ``K dR^T K^-1``.
    """
    K = np.asarray(K, dtype=np.float64)
    return K @ np.asarray(delta_R, dtype=np.float64).T @ np.linalg.inv(K)


def warp_points(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a homography to (..., 2) pixel points; returns (..., 2)."""
    pts = np.asarray(pts, dtype=np.float64)
    hom = pts @ H[:, :2].T + H[:, 2]                                   # ... x 3
    return hom[..., :2] / hom[..., 2:3]


def warp_boxes(H: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Move xyxy boxes by a homography.

    Each side goes to the mean of its two warped corners (the box stays axis-aligned and does
    not grow under a small roll).

    Args:
        H: (3, 3) homography.
        boxes: (N, 4) xyxy pixels.

    Returns:
        (N, 4) xyxy pixels.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    corners = b[:, [[0, 1], [2, 1], [2, 3], [0, 3]]]                   # N x 4 x 2: tl tr br bl
    w = warp_points(H, corners)
    return np.stack([w[:, [0, 3], 0].mean(1), w[:, [0, 1], 1].mean(1),
                     w[:, [1, 2], 0].mean(1), w[:, [2, 3], 1].mean(1)], 1)


class ImageMotionEstimator:
    """Background motion between consecutive frames from sparse optical flow (BoT-SORT GMC).

    Args:
        downscale: images are reduced by this factor first (speed).
        max_corners: corners tracked per frame.
    """

    def __init__(self, downscale: int = 2, max_corners: int = 300):
        self.downscale, self.max_corners = max(int(downscale), 1), max_corners
        self._prev: Optional[np.ndarray] = None
        self._prev_pts: Optional[np.ndarray] = None

    def reset(self) -> None:
        self._prev = self._prev_pts = None

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Optional[np.ndarray]:
        """Homography previous frame -> this frame, or None (first frame, too few corners).

        Args:
            image: (H, W, 3) uint8 RGB.
            boxes: (N, 4) xyxy person boxes of this frame (excluded: they move on their own).
        """
        import cv2

        s = self.downscale
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if s > 1:
            grey = cv2.resize(grey, (grey.shape[1] // s, grey.shape[0] // s),
                              interpolation=cv2.INTER_AREA)
        mask = np.full(grey.shape, 255, np.uint8)
        for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[:, :4] / s:
            x0, y0, x1, y1 = np.round(b).astype(int)
            mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 0
        pts = cv2.goodFeaturesToTrack(grey, self.max_corners, 0.01, 5, mask=mask, blockSize=3)
        H = None
        if self._prev is not None and self._prev_pts is not None and len(self._prev_pts) >= 8:
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(self._prev, grey, self._prev_pts, None,
                                                  winSize=(21, 21), maxLevel=4)
            ok = st.reshape(-1) == 1
            if ok.sum() >= 8:
                A, inliers = cv2.estimateAffinePartial2D(self._prev_pts[ok], nxt[ok],
                                                         method=cv2.RANSAC,
                                                         ransacReprojThreshold=1.5)
                if A is not None and inliers is not None and inliers.sum() >= 6:
                    A = A.astype(np.float64)
                    A[:, 2] *= s  # translation back to full-resolution pixels
                    H = np.vstack([A, [0.0, 0.0, 1.0]])
        self._prev, self._prev_pts = grey, pts
        return H


class CameraCompensation:
    """Chooses the compensation source per frame (``cmc`` mode: gyro, image or off).

    Args:
        mode: one of :data:`CMC_MODES`.

    Raises:
        ValueError: an unknown mode.
    """

    def __init__(self, mode: str = "gyro"):
        if mode not in CMC_MODES:
            raise ValueError(f"Unknown cmc mode {mode!r}; expected one of {CMC_MODES}")
        self.mode = mode
        self.image_estimator = ImageMotionEstimator() if mode == "image" else None
        self.skipped_frames = 0
        self._warned = False

    def reset(self) -> None:
        if self.image_estimator is not None:
            self.image_estimator.reset()

    def homography(self, image: np.ndarray, K: np.ndarray, camera_rotation: Optional[np.ndarray],
                   boxes: np.ndarray) -> Optional[np.ndarray]:
        """This frame's image motion (previous -> current pixels), or None (no compensation).

        Args:
            image: (H, W, 3) uint8 RGB.
            K: (3, 3) intrinsics.
            camera_rotation: (3, 3) ``R_{t-1} R_t^T`` since the previous frame, or None when
                no rotation was measured for it (gyro dropped out / lags beyond the
                extrapolation bound): compensation is then skipped for this frame, said once.
            boxes: (N, 4) person boxes of this frame.
        """
        if self.mode == "image":
            return self.image_estimator.estimate(image, boxes)
        if self.mode == "off":
            return None
        if camera_rotation is None:
            self.skipped_frames += 1
            if not self._warned:
                LOG.warning("cmc 'gyro': no measured camera rotation for this frame (no gyro / "
                            "TF orientation, or it lags the image beyond the extrapolation "
                            "bound); boxes are not compensated on such frames (counted, said "
                            "once)")
                self._warned = True
            return None
        return rotation_homography(K, camera_rotation)
