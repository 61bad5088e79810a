"""One-Euro filter (Casiez et al., CHI 2012): causal, speed-adaptive low-pass filter.

Replaces WHAM's offline, centred median filter over whole clips: the output at time t
depends only on inputs up to t. At low speed the cut-off is ``min_cutoff`` (strong
smoothing of jitter); it rises with the filtered speed, ``cutoff = min_cutoff + beta*|dx/dt|``,
so fast motion is followed with little lag.

Units: time in seconds, cut-offs in Hz, ``beta`` in 1 / (signal unit) (pixels here).
"""
import math
from typing import Optional

import numpy as np


def smoothing_factor(dt_s: float, cutoff_hz: np.ndarray) -> np.ndarray:
    """Exponential-smoothing weight of a first-order low-pass filter.

    Args:
        dt_s: time step in seconds (> 0).
        cutoff_hz: cut-off frequency (any shape) in Hz.

    Returns:
        alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi cutoff); same shape as ``cutoff_hz``.
    """
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """Element-wise One-Euro filter over arrays of a fixed shape.

    Args:
        min_cutoff: cut-off at zero speed, Hz.
        beta: speed coefficient, 1 / (signal unit).
        d_cutoff: cut-off of the derivative's own low-pass filter, Hz.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.01, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f"One-Euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0; got "
                             f"min_cutoff={min_cutoff}, d_cutoff={d_cutoff}, beta={beta}")
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._x: Optional[np.ndarray] = None
        self._dx: Optional[np.ndarray] = None
        self._t: Optional[float] = None

    def reset(self) -> None:
        """Forget the state; the next sample passes through unchanged."""
        self._x = self._dx = self._t = None

    @property
    def value(self) -> Optional[np.ndarray]:
        """The filtered value (a copy), None before the first sample."""
        return None if self._x is None else self._x.copy()

    def move(self, fn) -> None:
        """Move the filtered value by ``fn`` (array -> array of the same shape), e.g. the
        camera-motion compensation of a box; the speed estimate is kept."""
        if self._x is not None:
            self._x = np.asarray(fn(self._x), dtype=np.float64).reshape(self._x.shape)

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        """Filter one sample.

        Args:
            x: sample (any fixed shape), e.g. (4,) box or (17, 2) keypoints.
            t_s: its time in seconds, strictly increasing.

        Returns:
            the filtered sample, float64, same shape as ``x``.
        """
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t_s)
            return x.copy()
        if x.shape != self._x.shape:
            raise ValueError(f"One-Euro sample shape changed from {self._x.shape} to {x.shape}")
        dt = float(t_s) - self._t
        if dt <= 0:
            raise ValueError(f"One-Euro timestamps must increase; got {t_s} after {self._t}")
        a_d = smoothing_factor(dt, self.d_cutoff)
        self._dx = a_d * (x - self._x) / dt + (1.0 - a_d) * self._dx
        a = smoothing_factor(dt, self.min_cutoff + self.beta * np.abs(self._dx))
        self._x = a * x + (1.0 - a) * self._x
        self._t = float(t_s)
        return self._x.copy()
