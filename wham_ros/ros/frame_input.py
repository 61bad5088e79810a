"""Per-frame input handling shared by the live nodes and the offline runner (no rclpy).

Image decoding, CameraInfo intrinsics, IMU samples, stamp order and backwards time jumps,
and the mesh-marker rate. Messages are read by duck typing, so rclpy messages (nodes) and
``rosbags`` dataclasses (runner) go through the same code. Invalid inputs are reported to a
``warn(cause, text, key=None)`` callback; the callers count them per cause and log each
``key`` (default: the cause) once, so a second unknown encoding is named too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from wham_ros.image_conversion import ImageConversionError, compressed_to_rgb, image_to_rgb
from wham_ros.types import CameraFrame, ImuSample

# warn(cause, text, key=None): count under ``cause``, log ``text`` once per ``key`` (or cause).
Warn = Callable[..., None]


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
        frame: the decoded frame to process, or None when it must be dropped (warned, or
            held back while waiting for CameraInfo).
        jumped_back_ns: > 0 when the stamp went back by more than the tolerance: the caller
            resets its tracks (and IMU buffer) before processing ``frame``.
        waiting_for_camera_info: the frame was held back during ``camera_info_wait_s``.
    """

    frame: Optional[CameraFrame]
    jumped_back_ns: int = 0
    waiting_for_camera_info: bool = False


class FrameInput:
    """Image decoding, stamp sanity, time jumps and intrinsics of one camera stream.

    Stamps are checked against a reference clock given per image (the node's clock, a bag's
    log time): an image stamped more than ``max_stamp_ahead_s`` ahead of it is dropped
    (``image_stamp_future``), so a bad stamp neither reaches the pipeline nor resets the
    tracks when the stream returns to the right time.

    Args:
        warn: ``(cause, text, key=None)`` callback for invalid inputs (counted per cause;
            the callers log each key once).
        camera_info_expected: True when a CameraInfo source exists (a publisher on the
            topic, a CameraInfo topic in the bag): the first frames then wait up to
            ``camera_info_wait_s`` of image time for it instead of running on WHAM's
            default intrinsics.
    """

    def __init__(self, warn: Warn, camera_info_expected: Callable[[], bool] = lambda: False) -> None:
        self.warn = warn
        self.camera_info_expected = camera_info_expected
        self.camera_info: Optional[Tuple[np.ndarray, int, int]] = None  # (K (3, 3), W, H)
        self.last_stamp_ns: Optional[int] = None
        self.first_stamp_ns: Optional[int] = None  # first image since reset (CameraInfo wait)

    def reset(self) -> None:
        """Forget the stamp history (a new pipeline accepts any first stamp)."""
        self.last_stamp_ns = None
        self.first_stamp_ns = None

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

    def image(self, msg, compressed: bool, values: Dict[str, Any], topic: str,
              now_ns: Optional[int] = None) -> InputFrame:
        """Decode an ``Image`` / ``CompressedImage`` and decide whether and how to process it.

        Args:
            msg: the image message.
            compressed: ``msg`` is a CompressedImage.
            values: node parameters (``time_jump_tolerance_s``, ``max_stamp_ahead_s``,
                ``require_camera_info``, ``camera_info_wait_s``, ``camera_frame_id``).
            topic: input topic name, for warnings.
            now_ns: the reference clock, ns (None or 0, e.g. simulated time not started:
                stamps are not checked against a clock).
        """
        t_ns = stamp_ns(msg.header.stamp)
        ahead_ns = t_ns - now_ns if now_ns else 0
        max_ahead_s = values["max_stamp_ahead_s"]
        if max_ahead_s > 0 and ahead_ns > max_ahead_s * 1e9:
            self.warn("image_stamp_future",
                      f"dropped image on {topic} stamped {ahead_ns * 1e-9:.3f} s ahead of the "
                      f"clock (max_stamp_ahead_s = {max_ahead_s:g}); check the camera's clock "
                      "and use_sim_time")
            return InputFrame(None)
        try:
            if compressed:
                rgb = compressed_to_rgb(msg.format, msg.data)
            else:
                rgb = image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                   bool(msg.is_bigendian))
        except ImageConversionError as exc:
            self.warn(exc.cause, f"dropped image at {t_ns} ns on {topic}: {exc}",
                      f"{exc.cause}:{exc.detail}" if exc.detail else None)
            return InputFrame(None)
        jumped = 0
        if self.last_stamp_ns is not None:
            if t_ns < self.last_stamp_ns - int(values["time_jump_tolerance_s"] * 1e9):
                jumped = self.last_stamp_ns - t_ns
            elif t_ns <= self.last_stamp_ns:
                self.warn("image_stamp_not_increasing", f"dropped image with stamp {t_ns} ns "
                          f"not after the previous {self.last_stamp_ns} ns on {topic}")
                return InputFrame(None)
        self.last_stamp_ns = t_ns
        h, w = rgb.shape[:2]
        k = None
        if self.first_stamp_ns is None:
            self.first_stamp_ns = t_ns
        if self.camera_info is None:
            if (not values["require_camera_info"] and self.camera_info_expected()
                    and 0 <= t_ns - self.first_stamp_ns < values["camera_info_wait_s"] * 1e9):
                return InputFrame(None, jumped, waiting_for_camera_info=True)
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
        frame_id = values["camera_frame_id"] or msg.header.frame_id
        return InputFrame(CameraFrame(stamp_ns=t_ns, image=rgb, frame_id=frame_id, K=k), jumped)
