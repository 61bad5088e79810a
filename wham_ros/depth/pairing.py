"""Pairing depth images with colour frames by stamp (no ROS).

Written by hand: a small stamp cache for the ROS-free core and the offline runner, where
``message_filters`` (it needs rclpy) cannot be used; the node uses ``message_filters``
(:mod:`wham_ros.ros.depth_sync`). It pairs like ``message_filters`` ApproximateTime does for
two streams: a colour frame gets the depth image of the same stamp, else the nearest one
within ``max_dt_ns``; frames without one run monocular. The kept items are the depth
messages themselves (decoded only when paired).
"""
from __future__ import annotations

import bisect
import threading
from typing import Any, List, Optional

#: Depth images kept (about 0.5 s of a 30 Hz stream; 16 VGA 16UC1 images are 10 MB): memory stays bounded.
CACHE_SIZE = 16


class DepthCache:
    """The newest depth messages by stamp, thread-safe (a callback adds, a worker matches).

    Args:
        max_dt_ns: largest |depth stamp - colour stamp| paired, ns.
        size: images kept; the oldest stamp is dropped first.
    """

    def __init__(self, max_dt_ns: int, size: int = CACHE_SIZE) -> None:
        self.max_dt_ns, self.size = int(max_dt_ns), int(size)
        self._stamps: List[int] = []
        self._items: List[Any] = []
        self._lock = threading.Lock()
        self._added = threading.Condition(self._lock)

    def add(self, stamp_ns: int, item: Any) -> None:
        """Keep ``item`` stamped ``stamp_ns`` (a repeated stamp replaces the earlier one)."""
        with self._lock:
            i = bisect.bisect_left(self._stamps, stamp_ns)
            if i < len(self._stamps) and self._stamps[i] == stamp_ns:
                self._items[i] = item
            else:
                self._stamps.insert(i, stamp_ns)
                self._items.insert(i, item)
            if len(self._stamps) > self.size:
                del self._stamps[0], self._items[0]
            self._added.notify_all()

    def clear(self) -> None:
        """Forget every image (time jumped back)."""
        with self._lock:
            self._stamps.clear()
            self._items.clear()

    @property
    def newest_stamp_ns(self) -> Optional[int]:
        with self._lock:
            return self._stamps[-1] if self._stamps else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._stamps)

    def match(self, stamp_ns: int) -> Optional[Any]:
        """The item of ``stamp_ns``, else the nearest within ``max_dt_ns``, else None."""
        with self._lock:
            i = bisect.bisect_left(self._stamps, stamp_ns)
            best = None
            for j in (i - 1, i):
                if 0 <= j < len(self._stamps):
                    dt = abs(self._stamps[j] - stamp_ns)
                    if dt <= self.max_dt_ns and (best is None or dt < best[0]):
                        best = (dt, self._items[j])
            return None if best is None else best[1]

    def wait_until_covered(self, stamp_ns: int, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until an item stamped at or after ``stamp_ns -
        max_dt_ns`` is kept (one that may pair), so a depth image sent just after its colour
        frame still pairs; True when one is."""
        with self._lock:
            return self._added.wait_for(
                lambda: bool(self._stamps) and self._stamps[-1] >= stamp_ns - self.max_dt_ns,
                timeout=timeout_s)
