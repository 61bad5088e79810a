"""``human_pose/overlay`` (sensor_msgs/Image, rgb8): the camera image with the people drawn over it.

Drawn by :func:`wham_ros.render.overlay.render_overlay` (mesh or skeleton per the
``overlay_mode`` parameter, ids, foot contact) with the image's header, at most
``overlay_rate_hz`` (wall time) and only while someone subscribes: without a subscriber it
costs nothing, not even the mesh.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy

from wham_ros.image_conversion import rgb_to_image_fields
from wham_ros.render.overlay import render_overlay
from wham_ros.ros.conversions import header
from wham_ros.ros.frame_input import RateLimiter
from wham_ros.types import CameraFrame, FrameResult

TOPIC = "human_pose/overlay"
QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)


class OverlayPublisher:
    """The overlay publisher of the composed node (created on configure)."""

    def __init__(self, node) -> None:
        self.node = node
        self.pub = node.create_publisher(node._f.cls("sensor_msgs/msg/Image"), TOPIC, QOS)
        self._rate = RateLimiter()

    def due(self, values: Dict[str, Any]) -> bool:
        """True when this frame should be drawn (rate and a subscriber)."""
        return (self._rate.due(time.monotonic_ns(), values["overlay_rate_hz"])
                and self.pub.get_subscription_count() > 0)

    def wants_mesh(self, values: Dict[str, Any]) -> bool:
        """True when the drawing needs the 6890-vertex mesh."""
        return values["overlay_mode"] == "mesh"

    def publish(self, frame: CameraFrame, result: FrameResult, values: Dict[str, Any],
                faces: Optional[np.ndarray]) -> None:
        """Draw and publish one frame's overlay."""
        self._rate.mark(time.monotonic_ns())
        rgb = render_overlay(frame.image, result, faces, values["contact_threshold"],
                             values["overlay_mode"])
        f = self.node._f
        self.pub.publish(f.new("sensor_msgs/msg/Image", header=header(f, frame.stamp_ns, frame.frame_id),
                               **rgb_to_image_fields(rgb)))
