"""``sensor_msgs/Image`` and ``CompressedImage`` payloads to RGB numpy arrays, without ROS.

Same semantics as ``cv_bridge.imgmsg_to_cv2`` followed by a conversion to RGB: rows are
``step`` bytes apart (row padding is skipped), multi-byte samples honour
``is_bigendian``, 16-bit images are reduced to 8 bits by keeping the high byte, and
``8UC3`` is taken as BGR (OpenCV's convention). The functions take plain fields, so the
node (rclpy messages) and the offline runner (``rosbags`` messages) share them.
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
    "mono16": (1, 2, "mono"),
    "16UC1": (1, 2, "mono"),
    "16UC3": (3, 2, "bgr"),
}
# Packed 4:2:2 YUV (2 bytes per pixel): encoding -> OpenCV conversion code name.
YUV422 = {"yuv422": "COLOR_YUV2RGB_UYVY", "uyvy": "COLOR_YUV2RGB_UYVY",
          "yuv422_yuy2": "COLOR_YUV2RGB_YUY2", "yuyv": "COLOR_YUV2RGB_YUY2"}


class ImageConversionError(ValueError):
    """An image message cannot be turned into an RGB array (the message says why)."""


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
            f"(height {height} x step {step})")
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
        ImageConversionError: unknown encoding, zero size, step too small or truncated data.
    """
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image: {width}x{height} px, expected a positive size")
    if encoding in YUV422:
        import cv2

        rows = _rows(data, height, width * 2, _check_step(step, width * 2))
        packed = np.ascontiguousarray(rows).reshape(height, width, 2)
        return cv2.cvtColor(packed, getattr(cv2, YUV422[encoding]))
    if encoding not in ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding '{encoding}'; expected one of "
            f"{', '.join(supported_encodings())}")
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
            f"image step {step} bytes is smaller than one row ({row_bytes} bytes)")
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
        ImageConversionError: empty or undecodable data.
    """
    import cv2

    buf = np.frombuffer(memoryview(data), dtype=np.uint8)
    if buf.size == 0:
        raise ImageConversionError(f"empty compressed image (format '{fmt}')")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageConversionError(
            f"cannot decode compressed image of format '{fmt}' ({buf.size} bytes); "
            "expected JPEG or PNG data")
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
            f"expected an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    return {"height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0,
            "step": w * 3, "data": np.ascontiguousarray(rgb).reshape(-1)}
