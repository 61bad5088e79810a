"""Per-frame input handling shared by the live node and the offline runner (no rclpy).

The functions take message objects by duck typing, so rclpy messages (node) and ``rosbags``
dataclasses (runner) go through the same code.
"""
from __future__ import annotations

from typing import Optional


class RateLimiter:
    """At most ``rate_hz`` events per second of a nanosecond clock (wall or message time).

    Camera stamps are rounded to whole nanoseconds (30 Hz: 33333333 ns), so an event is due
    ``SLACK`` of a period early: 10 Hz on a 30 Hz stream is every 3rd frame.
    """

    SLACK = 0.02

    def __init__(self) -> None:
        self._last_ns: Optional[int] = None

    def due(self, t_ns: int, rate_hz: float) -> bool:
        """True when an event at ``t_ns`` keeps the rate at or below ``rate_hz`` (0: never)."""
        if rate_hz <= 0:
            return False
        return self._last_ns is None or t_ns - self._last_ns >= (1.0 - self.SLACK) * 1e9 / rate_hz

    def mark(self, t_ns: int) -> None:
        """Record an event at ``t_ns``."""
        self._last_ns = int(t_ns)

    def reset(self) -> None:
        """Forget the last event (the clock went back)."""
        self._last_ns = None
