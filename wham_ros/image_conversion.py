"""``sensor_msgs/Image`` and ``CompressedImage`` payloads to RGB numpy arrays, without ROS.

Same semantics as ``cv_bridge.imgmsg_to_cv2`` followed by a conversion to RGB: rows are
``step`` bytes apart (row padding is skipped), multi-byte samples honour
``is_bigendian``, 16-bit images are reduced to 8 bits by keeping the high byte, and
``8UC3`` is taken as BGR (OpenCV's convention). The functions take plain fields, so the
node (rclpy messages) and the offline runner (``rosbags`` messages) share them.

Depth images are refused (:data:`DEPTH_ENCODINGS`: single-channel 16-bit and float
encodings, and ``compressedDepth`` transport): run as grey pictures they would give
people-shaped nonsense. ``mono8`` / ``8UC1`` are accepted as grey camera images (mono and
infrared cameras publish them); a depth camera's 8-bit output is indistinguishable from
them, so subscribe the node to the colour or infrared stream, not to depth.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

# encoding -> (channels, bytes per sample, channel order of the decoded array).
# Orders: "rgb", "bgr", "rgba", "bgra", "mono"; YUV encodings are handled separately.
ENCODINGS: Dict[str, Tuple[int, int, str]] = {
    "rgb8": (3, 1, "rgb"),
    "bgr8": (3, 1, "bgr"),
    "rgba8": (4, 1, "rgba"),
    "bgra8": (4, 1, "bgra"),
    "mono8": (1, 1, "mono"),
    "8UC1": (1, 1, "mono"),
    "8UC3": (3, 1, "bgr"),
    "8UC4": (4, 1, "bgra"),
    "rgb16": (3, 2, "rgb"),
    "bgr16": (3, 2, "bgr"),
    "rgba16": (4, 2, "rgba"),
    "bgra16": (4, 2, "bgra"),
    "16UC3": (3, 2, "bgr"),
}
# Single-channel 16-bit and float encodings: what depth cameras publish (REP-118: 16UC1 in
# mm, 32FC1 in m). Refused with ImageConversionError(cause="image_depth").
DEPTH_ENCODINGS = frozenset({"16UC1", "mono16", "16SC1", "32FC1", "32SC1", "64FC1"})
# Packed 4:2:2 YUV (2 bytes per pixel): encoding -> OpenCV conversion code name.
YUV422 = {"yuv422": "COLOR_YUV2RGB_UYVY", "uyvy": "COLOR_YUV2RGB_UYVY",
          "yuv422_yuy2": "COLOR_YUV2RGB_YUY2", "yuyv": "COLOR_YUV2RGB_YUY2"}


# Causes of ImageConversionError (the nodes count bad input per cause on /diagnostics).
CAUSES = ("image_empty", "image_depth", "image_encoding", "image_step", "image_truncated",
          "image_undecodable")


class ImageConversionError(ValueError):
    """An image message cannot be turned into an RGB array (the message says why).

    Attributes:
        cause: one of :data:`CAUSES`.
        detail: what distinguishes errors of one cause that deserve their own warning (the
            encoding for ``image_encoding`` / ``image_depth``), else "".
    """

    def __init__(self, text: str, cause: str, detail: str = "") -> None:
        super().__init__(text)
        self.cause, self.detail = cause, detail


def supported_encodings() -> list:
    """All raw ``Image.encoding`` values :func:`image_to_rgb` accepts."""
    return sorted(ENCODINGS) + sorted(YUV422)


def _rows(data, height: int, row_bytes: int, step: int) -> np.ndarray:
    """View ``data`` as (height, row_bytes) uint8, skipping ``step - row_bytes`` padding."""
    buf = np.frombuffer(memoryview(data), dtype=np.uint8)
    needed = step * (height - 1) + row_bytes
    if buf.size < needed:
        raise ImageConversionError(
            f"truncated image data: {buf.size} bytes received, expected at least {needed} "
            f"(height {height} x step {step})", "image_truncated")
    return np.lib.stride_tricks.as_strided(buf, shape=(height, row_bytes), strides=(step, 1))


def image_to_rgb(encoding: str, height: int, width: int, step: int, data,
                 is_bigendian: bool = False) -> np.ndarray:
    """Decode the fields of a ``sensor_msgs/Image`` into an RGB array.

    Args:
        encoding: ``Image.encoding`` (see :func:`supported_encodings`).
        height: rows, px.
        width: columns, px.
        step: bytes per row including padding (>= width * bytes per pixel).
        data: the pixel bytes (bytes, bytearray, array.array or uint8 numpy array).
        is_bigendian: byte order of 16-bit samples.

    Returns:
        (height, width, 3) uint8 RGB, C-contiguous (a copy; ``data`` may be reused).

    Raises:
        ImageConversionError: unknown or depth encoding, zero size, step too small or
            truncated data (its ``cause`` says which).
    """
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image: {width}x{height} px, expected a positive size",
                                   "image_empty")
    if encoding in YUV422:
        import cv2

        rows = _rows(data, height, width * 2, _check_step(step, width * 2))
        packed = np.ascontiguousarray(rows).reshape(height, width, 2)
        return cv2.cvtColor(packed, getattr(cv2, YUV422[encoding]))
    if encoding in DEPTH_ENCODINGS:
        raise ImageConversionError(
            f"image encoding '{encoding}' is a depth image, not a camera image; subscribe the "
            "node to a colour (rgb8, bgr8, ...) or grey (mono8) camera stream", "image_depth",
            encoding)
    if encoding not in ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding '{encoding}'; expected one of "
            f"{', '.join(supported_encodings())}", "image_encoding", encoding)
    channels, sample_bytes, order = ENCODINGS[encoding]
    row_bytes = width * channels * sample_bytes
    rows = _rows(data, height, row_bytes, _check_step(step, row_bytes))
    if sample_bytes == 2:
        dtype = np.dtype(">u2" if is_bigendian else "<u2")
        # H x W*C uint16 -> keep the high byte, as cv_bridge's 16 -> 8 bit conversion does.
        pixels = (np.ascontiguousarray(rows).view(dtype) >> 8).astype(np.uint8)
    else:
        pixels = rows
    pixels = pixels.reshape(height, width, channels)  # H x W x C
    if order == "mono":
        return np.repeat(pixels, 3, axis=2)
    if order in ("bgr", "bgra"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])


def _check_step(step: int, row_bytes: int) -> int:
    if step < row_bytes:
        raise ImageConversionError(
            f"image step {step} bytes is smaller than one row ({row_bytes} bytes)", "image_step")
    return step


def compressed_to_rgb(fmt: str, data) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) into an RGB array.

    Args:
        fmt: ``CompressedImage.format``, e.g. "jpeg", "png", "rgb8; jpeg compressed bgr8".
            Only used in error messages: the codec is detected from the data.
        data: the compressed bytes.

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        ImageConversionError: empty or undecodable data, or a ``compressedDepth`` image.
    """
    import cv2

    if "compresseddepth" in fmt.lower() or fmt.split(";")[0].strip() in DEPTH_ENCODINGS:
        raise ImageConversionError(
            f"compressed image format '{fmt}' is a depth image, not a camera image; subscribe "
            "the node to a colour or grey camera stream", "image_depth", fmt.split(";")[0].strip())
    buf = np.frombuffer(memoryview(data), dtype=np.uint8)
    if buf.size == 0:
        raise ImageConversionError(f"empty compressed image (format '{fmt}')", "image_empty")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageConversionError(
            f"cannot decode compressed image of format '{fmt}' ({buf.size} bytes); "
            "expected JPEG or PNG data", "image_undecodable")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def rgb_to_image_fields(rgb: np.ndarray) -> dict:
    """Fields of an ``rgb8`` ``sensor_msgs/Image`` for an RGB array (no header).

    Args:
        rgb: (H, W, 3) uint8 RGB.

    Returns:
        dict with height, width, encoding, is_bigendian, step and data (uint8 array).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageConversionError(
            f"expected an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}", "image_encoding")
    h, w = rgb.shape[:2]
    return {"height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0,
            "step": w * 3, "data": np.ascontiguousarray(rgb).reshape(-1)}
