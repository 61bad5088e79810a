"""ROS-free image decoding (cv_bridge semantics): encodings, row padding, bad input."""
import cv2
import numpy as np
import pytest

from wham_ros.image_conversion import (ImageConversionError, compressed_to_rgb, image_to_rgb,
                                       rgb_to_image_fields, supported_encodings)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)  # H x W x 3


def _padded(pixels: np.ndarray, pad: int) -> tuple:
    """Rows of ``pixels`` (H x row bytes) followed by ``pad`` junk bytes each -> (step, data)."""
    h = pixels.shape[0]
    flat = pixels.reshape(h, -1).view(np.uint8)
    junk = np.full((h, pad), 0xAB, np.uint8)
    return flat.shape[1] + pad, np.concatenate([flat, junk], axis=1).tobytes()


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("encoding,make", [
    ("rgb8", lambda c: c),
    ("bgr8", lambda c: c[:, :, ::-1]),
    ("8UC3", lambda c: c[:, :, ::-1]),
    ("rgba8", lambda c: np.dstack([c, np.full(c.shape[:2], 9, np.uint8)])),
    ("bgra8", lambda c: np.dstack([c[:, :, ::-1], np.full(c.shape[:2], 9, np.uint8)])),
])
def test_colour_encodings_with_padding(encoding, make, pad):
    step, data = _padded(np.ascontiguousarray(make(RGB)), pad)
    out = image_to_rgb(encoding, 5, 7, step, data)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono8_replicated_to_rgb(encoding):
    mono = RGB[:, :, 0].copy()
    step, data = _padded(mono, 1)
    out = image_to_rgb(encoding, 5, 7, step, data)
    np.testing.assert_array_equal(out, np.repeat(mono[:, :, None], 3, axis=2))


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("encoding,channels,rev", [("rgb16", 3, False), ("bgr16", 3, True)])
def test_16bit_keeps_high_byte_in_either_byte_order(encoding, channels, rev, bigendian):
    hi = RGB[:, :, :channels]
    lo = RNG.integers(0, 256, size=hi.shape, dtype=np.uint8)
    vals = hi.astype(np.uint16) * 256 + lo  # H x W x C uint16
    src = vals[:, :, ::-1] if rev else vals
    raw = np.ascontiguousarray(src).astype(">u2" if bigendian else "<u2")
    step, data = _padded(raw, 2)
    out = image_to_rgb(encoding, 5, 7, step, data, is_bigendian=bigendian)
    expected = np.repeat(hi, 3, axis=2) if channels == 1 else hi
    np.testing.assert_array_equal(out, expected)


def test_yuv422_decodes_grey_level():
    # UYVY with U = V = 128 is grey: Y passes through (up to OpenCV's rounding).
    y = np.full((4, 6), 100, np.uint8)
    uyvy = np.empty((4, 12), np.uint8)
    uyvy[:, 0::2] = 128
    uyvy[:, 1::2] = y
    out = image_to_rgb("yuv422", 4, 6, 12, uyvy.tobytes())
    assert out.shape == (4, 6, 3)
    assert np.all(np.abs(out.astype(int) - 100) <= 2)


def test_numpy_and_bytearray_buffers_accepted():
    fields = rgb_to_image_fields(RGB)
    out = image_to_rgb(fields["encoding"], fields["height"], fields["width"], fields["step"],
                       bytearray(fields["data"].tobytes()))
    np.testing.assert_array_equal(out, RGB)
    out2 = image_to_rgb("rgb8", 5, 7, 21, fields["data"])
    np.testing.assert_array_equal(out2, RGB)


@pytest.mark.parametrize("kwargs,cause,match", [
    (dict(encoding="bayer_rggb8", height=5, width=7, step=7, data=b"\0" * 35), "image_encoding",
     "unsupported image encoding 'bayer_rggb8'"),
    (dict(encoding="rgb8", height=0, width=7, step=21, data=b""), "image_empty", "empty image: 7x0"),
    (dict(encoding="rgb8", height=5, width=7, step=21, data=b"\0" * 50), "image_truncated",
     "truncated image data: 50 bytes"),
    (dict(encoding="rgb8", height=5, width=7, step=20, data=b"\0" * 200), "image_step",
     "step 20 bytes is smaller"),
])
def test_bad_raw_images_raise_clear_errors(kwargs, cause, match):
    with pytest.raises(ImageConversionError, match=match) as info:
        image_to_rgb(**kwargs)
    assert info.value.cause == cause


@pytest.mark.parametrize("encoding,sample_bytes", [("16UC1", 2), ("mono16", 2), ("32FC1", 4),
                                                   ("64FC1", 8)])
def test_depth_images_refused_as_depth(encoding, sample_bytes):
    with pytest.raises(ImageConversionError, match=f"'{encoding}' is a depth image, not a camera "
                       "image") as info:
        image_to_rgb(encoding, 5, 7, 7 * sample_bytes, b"\0" * 35 * sample_bytes)
    assert info.value.cause == "image_depth" and info.value.detail == encoding
    with pytest.raises(ImageConversionError, match="is a depth image") as info:
        compressed_to_rgb("16UC1; compressedDepth", b"\0" * 10)
    assert info.value.cause == "image_depth"


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_compressed_colour(ext):
    big = cv2.resize(RGB, (64, 48), interpolation=cv2.INTER_NEAREST)
    ok, enc = cv2.imencode(ext, big[:, :, ::-1])  # OpenCV encodes BGR
    assert ok
    out = compressed_to_rgb(ext[1:], enc.tobytes())
    assert out.shape == (48, 64, 3)
    tol = 0 if ext == ".png" else 40
    assert np.abs(out.astype(int) - big.astype(int)).mean() <= max(tol / 4, 0.0)


def test_compressed_grey_and_16bit_png():
    grey = RGB[:, :, 1]
    ok, enc = cv2.imencode(".png", grey)
    np.testing.assert_array_equal(compressed_to_rgb("png", enc.tobytes()),
                                  np.repeat(grey[:, :, None], 3, axis=2))
    ok, enc16 = cv2.imencode(".png", grey.astype(np.uint16) * 256 + 7)
    np.testing.assert_array_equal(compressed_to_rgb("png", enc16.tobytes())[:, :, 0], grey)


@pytest.mark.parametrize("data,match", [(b"", "empty compressed image"),
                                        (b"not a jpeg at all", "cannot decode compressed image")])
def test_bad_compressed_raise(data, match):
    with pytest.raises(ImageConversionError, match=match):
        compressed_to_rgb("jpeg", data)


def test_rgb_to_image_fields_rejects_wrong_shape():
    with pytest.raises(ImageConversionError, match=r"expected an \(H, W, 3\) uint8"):
        rgb_to_image_fields(np.zeros((4, 4), np.uint8))
    assert "bgr8" in supported_encodings() and "yuv422" in supported_encodings()
