"""Depth payloads -> metres, alignment to the colour grid, stamp pairing."""
import numpy as np
import pytest

from wham_ros.depth.image import DepthImage, DepthImageError, align_to_colour, depth_to_metres
from wham_ros.depth.pairing import DepthCache
from wham_ros.depth.topics import camera_info_topic_of

K = np.array([[200.0, 0, 79.5], [0, 200.0, 59.5], [0, 0, 1]])


def test_16uc1_millimetres_with_zero_holes_and_row_padding():
    mm = np.array([[0, 1500, 4000], [65535, 0, 10]], dtype="<u2")
    step = 3 * 2 + 4  # 4 bytes of padding per row
    data = np.zeros(2 * step, np.uint8)
    for r in range(2):
        data[r * step:r * step + 6] = mm[r].view(np.uint8)
    m = depth_to_metres("16UC1", 2, 3, step, data)
    assert m.dtype == np.float32 and m.shape == (2, 3)
    np.testing.assert_allclose(m[0, 1:], [1.5, 4.0])
    np.testing.assert_allclose(m[1, [0, 2]], [65.535, 0.01], rtol=1e-6)
    assert np.isnan(m[0, 0]) and np.isnan(m[1, 1])  # 0 = no reading


def test_32fc1_metres_nan_holes_and_big_endian():
    v = np.array([[np.nan, 2.5], [0.0, 7.25]], dtype=">f4")
    m = depth_to_metres("32FC1", 2, 2, 8, v.tobytes(), is_bigendian=True)
    np.testing.assert_allclose(m[[0, 1], [1, 1]], [2.5, 7.25])
    assert np.isnan(m[0, 0]) and np.isnan(m[1, 0])


@pytest.mark.parametrize("encoding,height,width,step,nbytes,cause", [
    ("mono16", 2, 2, 4, 8, "depth_encoding"), ("rgb8", 2, 2, 6, 12, "depth_encoding"),
    ("16UC1", 0, 2, 4, 0, "depth_size"), ("16UC1", 100000, 100000, 200000, 8, "depth_size"),
    ("16UC1", 2, 2, 3, 8, "depth_data"), ("32FC1", 2, 2, 8, 12, "depth_data")])
def test_unusable_depth_refused_with_cause(encoding, height, width, step, nbytes, cause):
    with pytest.raises(DepthImageError) as err:
        depth_to_metres(encoding, height, width, step, bytes(nbytes))
    assert err.value.cause == cause and ("16UC1" in str(err.value) or cause != "depth_encoding")


def test_same_size_same_frame_is_used_as_is():
    d = np.full((120, 160), 3.0, np.float32)
    assert align_to_colour(DepthImage(1, "cam", d, K), "cam", (160, 120), K) is d
    assert align_to_colour(DepthImage(1, "cam", d), "cam", (160, 120), None) is d


def test_half_size_depth_with_scaling_camera_info_is_resampled():
    K_half = K.copy()
    K_half[0, 2], K_half[1, 2] = 39.5, 29.5  # (c + 0.5) / 2 - 0.5
    K_half[0, 0] = K_half[1, 1] = 100.0
    d = np.arange(60 * 80, dtype=np.float32).reshape(60, 80)
    out = align_to_colour(DepthImage(1, "cam", d, K_half), "cam", (160, 120), K)
    assert out.shape == (120, 160)
    np.testing.assert_array_equal(out[::2, ::2], d)  # nearest neighbour, no interpolation
    np.testing.assert_array_equal(out[1::2, 1::2], d)


def test_misaligned_depth_refused_with_reason():
    d = np.ones((60, 80), np.float32)
    with pytest.raises(DepthImageError, match="frame 'depth_optical' is not the colour") as e:
        align_to_colour(DepthImage(1, "depth_optical", np.ones((120, 160), np.float32)), "cam",
                        (160, 120), K)
    assert e.value.cause == "depth_frame"
    with pytest.raises(DepthImageError, match="without both CameraInfos"):
        align_to_colour(DepthImage(1, "cam", d), "cam", (160, 120), K)
    with pytest.raises(DepthImageError, match="does not scale"):  # another lens
        align_to_colour(DepthImage(1, "cam", d, K), "cam", (160, 120), K)
    other = K.copy()
    other[0, 0] = 150.0
    with pytest.raises(DepthImageError, match="differ from the colour"):
        align_to_colour(DepthImage(1, "cam", np.ones((120, 160), np.float32), other), "cam",
                        (160, 120), K)


def test_cache_pairs_exact_else_nearest_within_max_dt():
    cache = DepthCache(max_dt_ns=10)
    for t in (100, 133, 166):
        cache.add(t, f"depth {t}")
    assert cache.match(133) == "depth 133"
    assert cache.match(140) == "depth 133" and cache.match(160) == "depth 166"
    assert cache.match(150) is None  # 17 from both
    assert cache.match(1000) is None
    # a frame need not wait for a later depth image once one within max_dt is kept
    assert cache.wait_until_covered(176, 0.0) and not cache.wait_until_covered(177, 0.0)


def test_cache_is_bounded_and_ordered_by_stamp():
    cache = DepthCache(max_dt_ns=0, size=4)  # exact stamps only
    for t in (50, 10, 40, 20, 30, 60):  # out of order
        cache.add(t, t)
    cache.add(30, "again")  # the same stamp replaces
    assert len(cache) == 4 and cache.newest_stamp_ns == 60
    assert cache.match(10) is None and cache.match(20) is None and cache.match(30) == "again"
    assert cache.wait_until_covered(55, 0.0) and not cache.wait_until_covered(61, 0.01)
    cache.clear()
    assert len(cache) == 0 and cache.newest_stamp_ns is None


@pytest.mark.parametrize("topic,info", [
    ("/camera/camera/aligned_depth_to_color/image_raw",
     "/camera/camera/aligned_depth_to_color/camera_info"),
    ("/zed/zed_node/depth/depth_registered", "/zed/zed_node/depth/camera_info"),
    ("/cam/image_raw/compressed", "/cam/camera_info"), ("depth/image", "depth/camera_info"),
    ("depth", "camera_info")])
def test_camera_info_beside_an_image_topic(topic, info):
    assert camera_info_topic_of(topic) == info
