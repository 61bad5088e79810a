"""Depth image payloads -> metres, aligned to the colour image (no ROS).

REP-118 encodings: ``16UC1`` in millimetres and ``32FC1`` in metres; 0 and NaN mean "no
reading". A depth image must be aligned to the colour image (RealSense
``aligned_depth_to_color``, ZED ``depth_registered``): same optical frame, same size and
intrinsics. A depth image of another size is resampled (nearest neighbour: depth is never
interpolated across a body's edge) when its CameraInfo scales to the colour one; anything
else is refused with :class:`DepthImageError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

#: Depth encodings -> metres per unit.
DEPTH_UNITS_M = {"16UC1": 1e-3, "32FC1": 1.0}
#: Scaled intrinsics must match the colour ones to this fraction of the focal length
#: (focal lengths) and this many colour pixels (principal point) to count as aligned.
FOCAL_TOLERANCE = 0.01
CENTRE_TOLERANCE_PX = 2.0
#: Largest depth image accepted, pixels (no allocation sized by an unchecked input).
MAX_PIXELS = 4096 * 4096

# Causes of DepthImageError (counted per cause on /diagnostics, warned once each).
CAUSES = ("depth_encoding", "depth_size", "depth_frame", "depth_data")


class DepthImageError(ValueError):
    """A depth image cannot be used (the message says what was received and what is expected).

    Attributes:
        cause: one of :data:`CAUSES`.
    """

    def __init__(self, text: str, cause: str) -> None:
        super().__init__(text)
        self.cause = cause


@dataclass
class DepthImage:
    """One depth image in metres, aligned to the colour image.

    Attributes:
        stamp_ns: header stamp, ns.
        frame_id: the depth image's optical frame (must be the colour image's).
        metres: (H, W) float32 depth along the optical axis (z), m; NaN = no reading.
        K: (3, 3) intrinsics of the depth image from its CameraInfo, or None.
    """

    stamp_ns: int
    frame_id: str
    metres: np.ndarray
    K: Optional[np.ndarray] = None


def depth_to_metres(encoding: str, height: int, width: int, step: int, data,
                    is_bigendian: bool = False) -> np.ndarray:
    """Decode the fields of a depth ``sensor_msgs/Image`` into metres.

    Args:
        encoding: ``16UC1`` (mm) or ``32FC1`` (m).
        height, width: pixels.
        step: bytes per row including padding.
        data: the pixel bytes.
        is_bigendian: byte order of the samples.

    Returns:
        (height, width) float32 metres, NaN where the camera has no reading (0 or NaN).

    Raises:
        DepthImageError: another encoding, an empty or oversized image, short data.
    """
    if encoding not in DEPTH_UNITS_M:
        raise DepthImageError(f"depth image encoding '{encoding}' is not a depth encoding; "
                              "expected 16UC1 (mm) or 32FC1 (m)", "depth_encoding")
    if height <= 0 or width <= 0 or height * width > MAX_PIXELS:
        raise DepthImageError(f"depth image of {width}x{height} px; expected a positive size "
                              f"of at most {MAX_PIXELS} px", "depth_size")
    sample = np.dtype((">" if is_bigendian else "<") + ("u2" if encoding == "16UC1" else "f4"))
    row_bytes = width * sample.itemsize
    buf = np.frombuffer(memoryview(data), dtype=np.uint8)
    if step < row_bytes or buf.size < step * (height - 1) + row_bytes:
        raise DepthImageError(f"depth image data of {buf.size} bytes with step {step} does not "
                              f"hold {height} rows of {row_bytes} bytes", "depth_data")
    rows = np.lib.stride_tricks.as_strided(buf, shape=(height, row_bytes), strides=(step, 1))
    values = np.ascontiguousarray(rows).view(sample).reshape(height, width)  # H x W
    metres = values.astype(np.float32) * np.float32(DEPTH_UNITS_M[encoding])
    metres[~(metres > 0)] = np.nan  # 0 and NaN (and negative) = no reading
    return metres


def _scaled(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Intrinsics of an image resized by (sx, sy) (pixel centres at +0.5)."""
    out = np.array(K, dtype=np.float64)
    out[0, 0], out[1, 1] = K[0, 0] * sx, K[1, 1] * sy
    out[0, 2], out[1, 2] = (K[0, 2] + 0.5) * sx - 0.5, (K[1, 2] + 0.5) * sy - 0.5
    return out


def _intrinsics_match(Ka: np.ndarray, Kb: np.ndarray) -> bool:
    f_ok = np.all(np.abs(np.diag(Ka)[:2] - np.diag(Kb)[:2]) <= FOCAL_TOLERANCE * np.diag(Kb)[:2])
    c_ok = np.all(np.abs(Ka[:2, 2] - Kb[:2, 2]) <= CENTRE_TOLERANCE_PX)
    return bool(f_ok and c_ok)


def align_to_colour(depth: DepthImage, colour_frame_id: str, colour_size: Tuple[int, int],
                    colour_K: Optional[np.ndarray]) -> np.ndarray:
    """The depth image on the colour image's pixel grid.

    Args:
        depth: the decoded depth image.
        colour_frame_id: the colour image's optical frame.
        colour_size: (W, H) of the colour image, px.
        colour_K: (3, 3) colour intrinsics, or None (then only an equal size is accepted).

    Returns:
        (H, W) float32 metres on the colour grid (NaN: no reading).

    Raises:
        DepthImageError: another frame, or a size / intrinsics that do not correspond.
    """
    if depth.frame_id != colour_frame_id:
        raise DepthImageError(
            f"depth image frame '{depth.frame_id}' is not the colour image's '{colour_frame_id}'; "
            "expected a depth image aligned to the colour camera (RealSense "
            "aligned_depth_to_color, ZED depth_registered)", "depth_frame")
    Hd, Wd = depth.metres.shape
    Wc, Hc = colour_size
    have_K = depth.K is not None and colour_K is not None
    if (Wd, Hd) == (Wc, Hc):
        if have_K and not _intrinsics_match(depth.K, colour_K):
            raise DepthImageError(
                f"depth intrinsics {np.round(depth.K.reshape(-1)[[0, 2, 4, 5]], 1).tolist()} "
                f"(fx, cx, fy, cy) differ from the colour ones "
                f"{np.round(np.asarray(colour_K).reshape(-1)[[0, 2, 4, 5]], 1).tolist()}; "
                "expected a depth image aligned to the colour camera", "depth_size")
        return depth.metres
    if not have_K:
        raise DepthImageError(
            f"depth image is {Wd}x{Hd} px, the colour image {Wc}x{Hc} px, and without both "
            "CameraInfos the scaling cannot be checked; publish the depth image's CameraInfo "
            "(sibling 'camera_info' topic) or an aligned depth image of the colour size",
            "depth_size")
    sx, sy = Wc / Wd, Hc / Hd
    if not _intrinsics_match(_scaled(depth.K, sx, sy), colour_K):
        raise DepthImageError(
            f"depth image {Wd}x{Hd} px does not scale to the colour image {Wc}x{Hc} px: its "
            "intrinsics, scaled, differ from the colour ones; expected a depth image aligned "
            "to the colour camera", "depth_size")
    # Nearest neighbour: colour pixel centre (u + 0.5) / sx - 0.5 in depth pixels.
    cols = np.clip(np.floor((np.arange(Wc) + 0.5) / sx), 0, Wd - 1).astype(np.intp)
    rows = np.clip(np.floor((np.arange(Hc) + 0.5) / sy), 0, Hd - 1).astype(np.intp)
    return depth.metres[rows[:, None], cols[None, :]]  # Hc x Wc
