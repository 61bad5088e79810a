"""Per-frame input handling shared by the live nodes and the offline runner (no rclpy).

Image decoding, CameraInfo intrinsics, IMU samples, stamp order and backwards time jumps,
and the mesh-marker rate. Messages are read by duck typing, so rclpy messages (nodes) and
``rosbags`` dataclasses (runner) go through the same code. Invalid inputs are reported to a
``warn(cause, text)`` callback; the callers count them per cause and log each cause once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from wham_ros.image_conversion import ImageConversionError, compressed_to_rgb, image_to_rgb
from wham_ros.types import CameraFrame, ImuSample

Warn = Callable[[str, str], None]


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


def stamp_ns(stamp) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _image_error_cause(text: str) -> str:
    return ("image_encoding" if "encoding" in text else "image_empty" if "empty" in text
            else "image_truncated" if "truncated" in text or "step" in text
            else "image_undecodable")


def imu_sample(msg, warn: Warn) -> Optional[ImuSample]:
    """``sensor_msgs/Imu`` -> :class:`ImuSample`; None (warned as ``imu_non_finite``) if unusable.

    Orientation is kept only when ``orientation_covariance[0] != -1`` (REP-145) and it is a
    finite unit quaternion; acceleration only when its covariance[0] != -1 and it is finite.
    """
    av, la, q = msg.angular_velocity, msg.linear_acceleration, msg.orientation
    gyro = np.array([av.x, av.y, av.z], dtype=np.float64)
    if not np.all(np.isfinite(gyro)):
        warn("imu_non_finite", f"Imu with non-finite angular_velocity {gyro.tolist()} ignored; "
             "expected finite rad/s")
        return None
    acc = np.array([la.x, la.y, la.z], dtype=np.float64)
    quat = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
    has_quat = msg.orientation_covariance[0] != -1.0 and np.all(np.isfinite(quat)) \
        and abs(np.linalg.norm(quat) - 1.0) < 1e-3
    has_acc = msg.linear_acceleration_covariance[0] != -1.0 and np.all(np.isfinite(acc))
    return ImuSample(stamp_ns=stamp_ns(msg.header.stamp), angular_velocity=gyro,
                     linear_acceleration=acc if has_acc else None,
                     orientation_xyzw=quat if has_quat else None, frame_id=msg.header.frame_id)


@dataclass
class InputFrame:
    """What to do with one image message.

    Attributes:
        frame: the decoded frame to process, or None when it must be dropped (warned).
        jumped_back_ns: > 0 when the stamp went back by more than the tolerance: the caller
            resets its tracks (and IMU buffer) before processing ``frame``.
    """

    frame: Optional[CameraFrame]
    jumped_back_ns: int = 0


class FrameInput:
    """Image decoding, stamp order, time jumps and intrinsics of one camera stream.

    Args:
        warn: ``(cause, text)`` callback for invalid inputs (counted per cause; the callers
            log each cause once).
    """

    def __init__(self, warn: Warn) -> None:
        self.warn = warn
        self.camera_info: Optional[Tuple[np.ndarray, int, int]] = None  # (K (3, 3), W, H)
        self.last_stamp_ns: Optional[int] = None

    def reset(self) -> None:
        """Forget the stamp history (a new pipeline accepts any first stamp)."""
        self.last_stamp_ns = None

    def set_camera_info(self, msg) -> None:
        """Keep the intrinsics of a ``sensor_msgs/CameraInfo`` (ignored, warned, if uncalibrated)."""
        k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
            self.warn("camera_info_uncalibrated",
                      f"CameraInfo has no valid intrinsics (k = {k.reshape(-1).tolist()}); "
                      "expected fx, fy > 0. Using WHAM's default intrinsics")
            self.camera_info = None
            return
        self.camera_info = (k, int(msg.width), int(msg.height))

    def image(self, msg, compressed: bool, values: Dict[str, Any], topic: str) -> InputFrame:
        """Decode an ``Image`` / ``CompressedImage`` and decide whether and how to process it.

        Args:
            msg: the image message.
            compressed: ``msg`` is a CompressedImage.
            values: node parameters (``time_jump_tolerance_s``, ``require_camera_info``,
                ``camera_frame_id``).
            topic: input topic name, for warnings.
        """
        t_ns = stamp_ns(msg.header.stamp)
        try:
            if compressed:
                rgb = compressed_to_rgb(msg.format, msg.data)
            else:
                rgb = image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                   bool(msg.is_bigendian))
        except ImageConversionError as exc:
            self.warn(_image_error_cause(str(exc)), f"dropped image at {t_ns} ns on {topic}: {exc}")
            return InputFrame(None)
        jumped = 0
        if self.last_stamp_ns is not None:
            if t_ns < self.last_stamp_ns - int(values["time_jump_tolerance_s"] * 1e9):
                jumped = self.last_stamp_ns - t_ns
            elif t_ns <= self.last_stamp_ns:
                self.warn("image_stamp_not_increasing", f"dropped image with stamp {t_ns} ns "
                          f"not after the previous {self.last_stamp_ns} ns on {topic}")
                return InputFrame(None)
        h, w = rgb.shape[:2]
        k = None
        if self.camera_info is None:
            if values["require_camera_info"]:
                self.warn("camera_info_missing", "no CameraInfo received; dropping frames until "
                          "one arrives (require_camera_info is true)")
                return InputFrame(None, jumped)
            self.warn("camera_info_missing", "no CameraInfo received; using WHAM's default "
                      "intrinsics (f = image diagonal)")
        elif self.camera_info[1:] != (w, h):
            self.warn("camera_info_size_mismatch",
                      f"CameraInfo is for {self.camera_info[1]}x{self.camera_info[2]} px but "
                      f"images are {w}x{h} px; using WHAM's default intrinsics")
        else:
            k = self.camera_info[0]
        self.last_stamp_ns = t_ns
        frame_id = values["camera_frame_id"] or msg.header.frame_id
        return InputFrame(CameraFrame(stamp_ns=t_ns, image=rgb, frame_id=frame_id, K=k), jumped)
