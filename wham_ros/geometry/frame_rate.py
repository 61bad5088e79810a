"""WHAM's 30 Hz step policy for cameras of any rate.

WHAM was trained on 30 fps clips only: its root velocity is metres per 1/30 s step, the
trajectory refiner multiplies foot displacements by 30, and ``cam_angvel`` is the 6D change
per step times 30. Feeding it 60 Hz frames would halve every per-step motion it sees. The
policy, decided per incoming frame from its stamp alone (causal, no look-ahead):

``resample`` (default): WHAM steps on the camera frame nearest to a 30 Hz grid; the others
are skipped (the pipeline may still run detection/tracking on them). A frame steps when
``stamp >= due - tol`` with ``tol = 0.5 * min(camera period, 1/30 s)`` (camera period = median
of recent frame intervals); then ``due += 1/30 s`` (or ``due = stamp + 1/30 s`` after a
gap longer than one period, so a gap does not cause a burst). So 60 Hz -> every 2nd frame,
90 Hz -> every 3rd, 45 Hz -> alternately 1 and 2 frames (30 steps/s on average),
30 Hz with jitter -> every frame. A camera slower than 30 Hz steps on every frame: WHAM then
sees larger per-step motion than in training (a warning is logged once); frames are never
duplicated ("hold"), because a repeated image would read as a person standing still.

``every_frame``: WHAM steps on every frame (offline parity, or a camera known to be 30 Hz).

``cam_angvel`` for a step is always integrated from the previous *step's* stamp to this one
(:attr:`FrameDecision.prev_step_ns`), so skipped frames do not lose camera rotation.
"""
from __future__ import annotations

import logging
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Deque, Optional

from wham_ros.geometry.camera_motion import WHAM_FPS

LOGGER = logging.getLogger(__name__)

MODES = ("resample", "every_frame")


@dataclass
class FrameDecision:
    """What to do with one camera frame.

    Attributes:
        step: True if WHAM consumes this frame.
        prev_step_ns: stamp of the previous WHAM step (integrate cam_angvel from there), or
            None if this is the first step.
        reason: why the frame is skipped (empty when stepping).
    """

    step: bool
    prev_step_ns: Optional[int] = None
    reason: str = ""


class FrameRatePolicy:
    """Decides, frame by frame, whether WHAM steps (see the module docstring)."""

    def __init__(self, mode: str = "resample", target_hz: float = WHAM_FPS, history: int = 16):
        """Create the policy.

        Args:
            mode: ``resample`` or ``every_frame``.
            target_hz: WHAM step rate (30).
            history: number of recent frame intervals used for the camera period.

        Raises:
            ValueError: unknown mode or non-positive rate.
        """
        if mode not in MODES:
            raise ValueError(f"Unknown frame rate mode {mode!r}; expected one of {MODES}")
        if not target_hz > 0:
            raise ValueError(f"target_hz must be > 0, got {target_hz}")
        self.mode = mode
        self.period_ns = int(round(1e9 / target_hz))
        self._intervals: Deque[int] = deque(maxlen=history)
        self._last_frame_ns: Optional[int] = None
        self._last_step_ns: Optional[int] = None
        self._due_ns: Optional[int] = None
        self._warned_slow = False

    def reset(self) -> None:
        """Forget the history (e.g. after the stream restarted)."""
        self.__init__(self.mode, 1e9 / self.period_ns, self._intervals.maxlen)

    @property
    def camera_period_ns(self) -> Optional[float]:
        """Median recent frame interval, ns (None before two frames)."""
        return float(statistics.median(self._intervals)) if self._intervals else None

    def decide(self, stamp_ns: int) -> FrameDecision:
        """Decide for one incoming frame.

        Args:
            stamp_ns: the frame's header stamp, ns. Stamps not after the previous frame's are
                skipped with a warning.

        Returns:
            FrameDecision.
        """
        stamp_ns = int(stamp_ns)
        if self._last_frame_ns is not None and stamp_ns <= self._last_frame_ns:
            LOGGER.warning("Frame stamp %d ns is not after the previous frame (%d ns); skipping it",
                           stamp_ns, self._last_frame_ns)
            return FrameDecision(False, self._last_step_ns, "stamp not increasing")
        if self._last_frame_ns is not None:
            self._intervals.append(stamp_ns - self._last_frame_ns)
        self._last_frame_ns = stamp_ns
        prev = self._last_step_ns
        if self.mode == "every_frame" or self._due_ns is None:
            return self._step(stamp_ns, prev)
        tol = 0.5 * min(self.camera_period_ns, self.period_ns)
        if stamp_ns < self._due_ns - tol:
            return FrameDecision(False, prev, "resampling to 30 Hz")
        return self._step(stamp_ns, prev)

    def _step(self, stamp_ns: int, prev: Optional[int]) -> FrameDecision:
        if self._due_ns is None or stamp_ns - self._due_ns > self.period_ns:
            self._due_ns = stamp_ns + self.period_ns
        else:
            self._due_ns += self.period_ns
        cam = self.camera_period_ns
        if not self._warned_slow and cam is not None and len(self._intervals) >= 4 and cam > 1.1 * self.period_ns:
            self._warned_slow = True
            LOGGER.warning("Frames reach WHAM at %.1f Hz (from the stamps of the frames processed), slower "
                           "than WHAM's %.0f Hz: WHAM steps on every frame and sees larger per-step motion "
                           "than in training", 1e9 / cam, 1e9 / self.period_ns)
        self._last_step_ns = stamp_ns
        return FrameDecision(True, prev)
