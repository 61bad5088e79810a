"""The node's depth subscription through ``message_filters`` (a ROS install provides it).

``message_filters.Subscriber`` feeds a ``message_filters.Cache`` (a ring buffer of the depth
messages by stamp); :class:`CacheStore` looks up the depth image of a colour frame in it:
the same stamp, else the nearest within ``depth_max_dt_s``, as ApproximateTime pairs two
streams. Without ``message_filters`` the node falls back to the core's
:class:`wham_ros.depth.pairing.DepthCache` (:func:`depth_subscription` says which).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Tuple

from rclpy.clock import ClockType
from rclpy.time import Time

from wham_ros.depth.pairing import CACHE_SIZE, DepthCache
from wham_ros.ros.frame_input import stamp_ns


class CacheStore:
    """A :class:`wham_ros.ros.depth_input.DepthStore` over a ``message_filters.Cache``.

    Args:
        cache: the Cache the depth Subscriber feeds.
        max_dt_ns: largest |depth stamp - colour stamp| paired, ns.
    """

    def __init__(self, cache, max_dt_ns: int) -> None:
        self.cache, self.max_dt_ns = cache, int(max_dt_ns)
        self._added = threading.Condition()
        self._newest: Optional[int] = None

    @property
    def newest_stamp_ns(self) -> Optional[int]:
        with self._added:
            return self._newest

    def add(self, stamp: int, item: Any) -> None:
        """Note that the Cache holds a message stamped ``stamp`` (the Cache keeps ``item``)."""
        with self._added:
            self._newest = stamp if self._newest is None else max(self._newest, stamp)
            self._added.notify_all()

    def match(self, stamp: int) -> Optional[Any]:
        """The cached depth message of ``stamp``, else the nearest within ``max_dt_ns``."""
        def ros_time(ns: int) -> Time:
            return Time(nanoseconds=max(ns, 0), clock_type=ClockType.ROS_TIME)

        near = self.cache.getInterval(ros_time(stamp - self.max_dt_ns), ros_time(stamp + self.max_dt_ns))
        return min(near, key=lambda m: abs(stamp_ns(m.header.stamp) - stamp), default=None)

    def wait_until_covered(self, stamp: int, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) for a depth message stamped at or after ``stamp -
        max_dt_ns`` (one that may pair)."""
        with self._added:
            return self._added.wait_for(
                lambda: self._newest is not None and self._newest >= stamp - self.max_dt_ns,
                timeout=timeout_s)

    def clear(self) -> None:
        """Time jumped back: forget the newest stamp. Messages from before the jump are far
        from the new stamps, never pair, and leave the Cache's ring buffer as new ones come."""
        with self._added:
            self._newest = None


def depth_subscription(node, msg_type, topic: str, qos, max_dt_s: float,
                       on_message: Callable[[Any], None]) -> Tuple[Any, Any, str]:
    """Subscribe to the depth topic: ``(subscription, store, how)``.

    ``on_message(msg)`` is called for every depth message (after the Cache holds it).
    ``how`` names the pairing used: 'message_filters' or the core's stamp cache.
    """
    max_dt_ns = int(round(max_dt_s * 1e9))
    try:
        import message_filters
    except ImportError:
        store = DepthCache(max_dt_ns)
        sub = node.create_subscription(msg_type, topic, on_message, qos)
        return sub, store, "wham_ros.depth.pairing.DepthCache (message_filters is not installed)"
    sub = message_filters.Subscriber(node, msg_type, topic, qos_profile=qos)
    cache = message_filters.Cache(sub, cache_size=CACHE_SIZE)
    cache.registerCallback(on_message)
    return sub.sub, CacheStore(cache, max_dt_ns), "message_filters.Cache"
