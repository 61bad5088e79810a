"""Depth stream handling shared by the live node and the offline runner (no rclpy).

Depth ``sensor_msgs/Image`` messages are kept by stamp (the node: ``message_filters``'
Cache, :mod:`wham_ros.ros.depth_sync`; the runner: :class:`wham_ros.depth.pairing.DepthCache`);
each colour frame then gets the depth image of its stamp (or the nearest within
``depth_max_dt_s``), decoded to metres and aligned to its pixel grid (using the depth
``CameraInfo``). Messages are read by duck typing, as in :mod:`wham_ros.ros.frame_input`. A depth image
that cannot be used is refused with one warning per cause (counted per cause); the colour
frames go on without depth.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol

import numpy as np

from wham_ros.depth.image import DepthImage, DepthImageError, align_to_colour, depth_to_metres
from wham_ros.depth.pairing import DepthCache
from wham_ros.ros.frame_input import Warn, stamp_ns
from wham_ros.types import CameraFrame


class DepthStore(Protocol):
    """Where depth messages wait for their colour frame (see :class:`DepthCache`)."""

    max_dt_ns: int
    newest_stamp_ns: Optional[int]

    def add(self, stamp_ns: int, item: Any) -> None: ...

    def match(self, stamp_ns: int) -> Optional[Any]: ...

    def wait_until_covered(self, stamp_ns: int, timeout_s: float) -> bool: ...

    def clear(self) -> None: ...


class DepthInput:
    """Depth images of one aligned depth stream, paired with colour frames by stamp.

    Args:
        warn: ``(cause, text, key=None)`` callback (see :mod:`wham_ros.ros.frame_input`).
        max_dt_s: largest |depth stamp - colour stamp| paired, s.
        topic: the depth topic (for messages).
        store: where messages wait (default: a :class:`DepthCache` of ``max_dt_s``).

    Attributes:
        received: depth images received; refused: paired ones that could not be used.
        paired: colour frames that got a depth image; unpaired: frames that did not.
    """

    def __init__(self, warn: Warn, max_dt_s: float, topic: str = "depth",
                 store: Optional[DepthStore] = None) -> None:
        self.warn, self.topic = warn, topic
        self.store = store if store is not None else DepthCache(int(round(max_dt_s * 1e9)))
        self.K: Optional[np.ndarray] = None
        self.received = self.refused = self.paired = self.unpaired = 0

    def set_camera_info(self, msg) -> None:
        """Keep the depth image's intrinsics (used to check a resampled depth image)."""
        k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
        self.K = k if np.all(np.isfinite(k)) and k[0, 0] > 0 and k[1, 1] > 0 else None

    def add(self, msg) -> None:
        """Keep one depth ``sensor_msgs/Image`` until its colour frame comes (decoded then)."""
        self.received += 1
        self.store.add(stamp_ns(msg.header.stamp), msg)

    def attach(self, frame: CameraFrame, header_frame_id: str) -> CameraFrame:
        """``frame`` with the paired, aligned depth image (``frame.depth``), if there is one.

        A depth image that cannot be used is refused (warned once per cause); the frame then
        runs monocular.

        Args:
            frame: a decoded colour frame.
            header_frame_id: the colour image's own ``header.frame_id`` (``frame.frame_id``
                may be the ``camera_frame_id`` override, which applies to depth too).
        """
        msg = self.store.match(frame.stamp_ns)
        if msg is None:
            self.unpaired += 1
            return frame
        H, W = frame.image.shape[:2]
        try:
            metres = depth_to_metres(msg.encoding, int(msg.height), int(msg.width), int(msg.step),
                                     msg.data, bool(msg.is_bigendian))
            depth = DepthImage(stamp_ns(msg.header.stamp), msg.header.frame_id, metres, self.K)
            frame.depth = align_to_colour(depth, header_frame_id, (W, H), frame.K)
        except DepthImageError as exc:
            self.refused += 1
            self.unpaired += 1
            self.warn(exc.cause, f"refused depth image on {self.topic}: {exc}; colour-only "
                      "processing goes on")
            return frame
        self.paired += 1
        return frame

    def reset(self) -> None:
        """Forget the kept images (time jumped back)."""
        self.store.clear()
