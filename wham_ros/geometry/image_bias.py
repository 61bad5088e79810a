"""The images as a gyro-bias source: image rotations in, checked bias observations out.

:class:`ImageBiasSource` runs :class:`~wham_ros.geometry.image_rotation.ImageRotationEstimator`
on each processed image (it looks at one per ``min_interval_ns``) and hands accepted
rotations to the bias filter
(:meth:`wham_ros.geometry.imu.ImuIntegrator.observe_rotation`, which gates each one like a
rest). It watches itself and stands down, saying why once per cause:

* ``low_texture`` / ``outliers`` / ``residual``: more than half of the last ``window`` image
  pairs were refused by the fit (a blank wall, a crowd filling the view, motion blur, parallax).
* ``gate``: more than half of the fitted rotations disagree with the gyro beyond what the bias
  uncertainty allows (moving background, wrong time stamps).
* ``scale``: the image rotations are consistently larger or smaller than the gyro's. A
  least-squares fit ``theta_image = s theta_gyro - d dt`` (scale s, bias error d, camera frame)
  over the recent pairs, with exponential forgetting, gives s; ``|s - 1| > max_scale_error``
  (and beyond 4 standard errors) means the focal length in the intrinsics is wrong. Until s is
  known to ``max_scale_error / 2`` (the camera turned enough) the observations are not used, so
  wrong intrinsics never reach the bias.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from wham_ros.geometry.image_rotation import ImageRotation, ImageRotationConfig, ImageRotationEstimator
from wham_ros.geometry.imu import BiasObservation
from wham_ros.geometry.so3 import log_so3

LOGGER = logging.getLogger(__name__)

MIN_SCALE_PAIRS = 30  # turning image pairs before the scale check says anything

CAUSES = {
    "low_texture": "too little texture in the background",
    "outliers": "too few background points move as one rotation (people or objects moving, "
                "parallax of near objects)",
    "residual": "the background does not fit a rotation (motion blur, parallax, rolling shutter "
                "or wrong intrinsics)",
    "gate": "image rotations disagree with the gyro (moving background or camera/IMU time offset)",
    "scale": "image rotations are {pct:+.0f}% off the gyro's: the camera intrinsics (focal length) "
             "are likely wrong",
}


@dataclass(frozen=True)
class ImageBiasConfig:
    """Parameters of :class:`ImageBiasSource`.

    Attributes:
        rotation: the image-rotation fit.
        window: image pairs judged for standing down.
        max_scale_error: largest accepted ``|s - 1|`` of the scale check.
        forget: forgetting factor of the scale fit per image pair.
        min_rotation_rad: pairs turning less than this do not enter the scale fit.
    """

    rotation: ImageRotationConfig = ImageRotationConfig()
    window: int = 20
    max_scale_error: float = 0.04
    forget: float = 0.995
    min_rotation_rad: float = 2e-3


@dataclass
class ImageBiasStatus:
    """What the image source is doing (diagnostics).

    Attributes:
        state: ``starting``, ``active`` or ``standing_down``.
        cause: key of :data:`CAUSES` while standing down, else empty.
        message: human-readable cause.
        accepted: observations that updated the bias.
        pairs: image pairs judged.
        scale: image / gyro rotation scale (nan until known).
        scale_std: its standard error.
    """

    state: str
    cause: str
    message: str
    accepted: int
    pairs: int
    scale: float
    scale_std: float


class ImageBiasSource:
    """Image rotations compared with the gyro, fed to the bias filter when trustworthy."""

    def __init__(self, observe: Callable[[int, int, np.ndarray, float, str], BiasObservation],
                 gyro_rotation: Callable[[int, int], Optional[Tuple[np.ndarray, np.ndarray]]],
                 config: Optional[ImageBiasConfig] = None):
        """Create the source.

        Args:
            observe: the bias filter's ``observe_rotation(t0_ns, t1_ns, delta_R, std_rad, source)``.
            gyro_rotation: ``(t0_ns, t1_ns) ->`` the gyro's (3, 3) ``C(t0)^T C(t1)`` (current
                bias subtracted) and that bias (3,) in the camera frame, rad/s; or None when the
                gyro does not cover the interval.
            config: parameters.
        """
        self.config = config or ImageBiasConfig()
        self._observe = observe
        self._gyro_rotation = gyro_rotation
        self.estimator = ImageRotationEstimator(self.config.rotation)
        self._recent: deque = deque(maxlen=self.config.window)  # outcome key per pair ("" = ok)
        self._AtA = np.zeros((4, 4))
        self._Aty = np.zeros(4)
        self._yty = 0.0
        self._noise = 0.0  # forgotten sum of the rotation variances (rad^2)
        self._weight = 0.0
        self._warned: set = set()
        self.cause = ""
        self.accepted = 0
        self.pairs = 0
        self.counts: Dict[str, int] = {}

    def reset(self) -> None:
        """Forget the key image (a time jump); the checks are kept."""
        self.estimator.reset()

    def process(self, stamp_ns: int, image: np.ndarray, K: np.ndarray,
                boxes_xyxy: Sequence[Sequence[float]] = ()) -> ImageRotation:
        """Fit this image against the key image and maybe feed the bias filter.

        Args:
            stamp_ns: image stamp (camera clock).
            image (np.ndarray): (H, W, 3) uint8 RGB or (H, W) grey.
            K (np.ndarray): (3, 3) intrinsics, pixels.
            boxes_xyxy: (M, 4) people's boxes, pixels (masked out).

        Returns:
            ImageRotation: the fit of this pair.
        """
        fit = self.estimator.estimate(stamp_ns, image, K, boxes_xyxy)
        if fit.reason in ("no_previous", "interval", "size", "short", "wait"):
            return fit
        outcome = fit.reason
        if fit.valid:
            gyro = self._gyro_rotation(fit.t0_ns, fit.t1_ns)
            if gyro is None:
                return fit  # nothing to compare with: not the image's fault
            self._add_scale(fit, *gyro)
            if not self.cause and self._scale_trusted():
                obs = self._observe(fit.t0_ns, fit.t1_ns, fit.delta_R, fit.std_rad, "image")
                self.accepted += int(obs.accepted)
                outcome = "gate" if obs.reason == "gate" else ""
        self.pairs += 1
        self.counts[outcome or "ok"] = self.counts.get(outcome or "ok", 0) + 1
        self._recent.append(outcome)
        self._judge()
        return fit

    def _add_scale(self, fit: ImageRotation, gyro_R: np.ndarray, bias_cam: np.ndarray) -> None:
        """Fold one pair into the scale fit ``theta_img = s theta_gyro - d dt`` (camera frame).

        ``theta_gyro`` is the raw gyro's (the current bias added back: the bias filter moves,
        d is the whole bias).
        """
        dt = (fit.t1_ns - fit.t0_ns) * 1e-9
        th_g, th_i = log_so3(gyro_R) + bias_cam * dt, log_so3(fit.delta_R)  # 3 each
        if np.linalg.norm(th_g) < self.config.min_rotation_rad:
            return
        A = np.zeros((3, 4))
        A[:, 0], A[:, 1:] = th_g, -dt * np.eye(3)
        lam = self.config.forget
        self._AtA = lam * self._AtA + A.T @ A
        self._Aty = lam * self._Aty + A.T @ th_i
        self._yty = lam * self._yty + th_i @ th_i
        self._noise = lam * self._noise + fit.std_rad ** 2
        self._weight = lam * self._weight + 1.0

    def scale(self) -> tuple:
        """(scale, standard error) of the image rotations against the gyro's; nan until known."""
        if self._weight < MIN_SCALE_PAIRS or np.linalg.cond(self._AtA) > 1e12:
            return math.nan, math.inf
        x = np.linalg.solve(self._AtA, self._Aty)  # 4: s, d
        # Noise per component: the fit's own residual, at least the fits' uncertainty.
        rss = max(self._yty - x @ self._Aty, 0.0)
        var = max(rss / max(3.0 * self._weight - 4.0, 1.0), self._noise / self._weight)
        cov = np.linalg.inv(self._AtA) * var
        return float(x[0]), float(math.sqrt(max(cov[0, 0], 0.0)))

    def _scale_trusted(self) -> bool:
        s, se = self.scale()
        limit = self.config.max_scale_error
        return math.isfinite(s) and se < limit / 2 and abs(s - 1.0) <= limit

    def _judge(self) -> None:
        """Stand down (warn once per cause) or come back (info) from the recent outcomes."""
        cause = ""
        s, se = self.scale()
        if math.isfinite(s) and abs(s - 1.0) > max(self.config.max_scale_error, 4.0 * se):
            cause = "scale"
        elif len(self._recent) >= self.config.window // 2:
            bad = [o for o in self._recent if o]
            if len(bad) > len(self._recent) / 2:
                cause = max(set(bad), key=bad.count)
        if cause and cause != self.cause:
            if cause not in self._warned:
                self._warned.add(cause)
                # A blank view is ordinary (the other sources carry on): said, not warned.
                LOGGER.log(logging.INFO if cause == "low_texture" else logging.WARNING,
                           "Image bias source stands down: %s", self._message(cause))
        elif not cause and self.cause:
            LOGGER.info("Image bias source is back (was: %s)", self._message(self.cause))
        self.cause = cause

    def _message(self, cause: str) -> str:
        s, _ = self.scale()
        return CAUSES[cause].format(pct=100.0 * (s - 1.0) if math.isfinite(s) else 0.0)

    def status(self) -> ImageBiasStatus:
        """Current state for diagnostics."""
        s, se = self.scale()
        if self.cause:
            state = "standing_down"
        elif self._scale_trusted():
            state = "active"
        else:
            state = "starting"
        return ImageBiasStatus(state, self.cause, self._message(self.cause) if self.cause else "",
                               self.accepted, self.pairs, s, se)
