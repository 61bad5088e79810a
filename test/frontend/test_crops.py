"""Pre-processing crops: bit-exact against WHAM's reference crops (OpenCV 4.x), and geometry."""
import pathlib
import threading

import cv2
import numpy as np
import pytest

from wham_ros.frontend.crops import (IMAGENET_MEAN, IMAGENET_STD, box_to_center_scale,
                                     hmr2_crop_windows, hmr2_crops, vitpose_crops)

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "frontend_parity" / "inputs.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(DATA) as d:
        return {k: d[k] for k in d.files}


def test_opencv_major_version_is_pinned():
    assert cv2.__version__.startswith("4."), "OpenCV 5 changes warpAffine rounding; pin <5"


def test_vitpose_crops_bit_exact(ref):
    out = vitpose_crops(ref["image_rgb"], ref["bboxes_xyxy"])
    np.testing.assert_array_equal(out.center, ref["center"])
    np.testing.assert_array_equal(out.scale, ref["scale"])
    np.testing.assert_array_equal(out.warp, ref["warp_matrix"])
    np.testing.assert_array_equal(out.crops, ref["crops_uint8_rgb"])
    assert out.input_tensor.dtype == np.float32 and out.input_tensor.flags.c_contiguous
    np.testing.assert_array_equal(out.input_tensor, ref["input_tensor"])


def test_hmr2_crops_bit_exact(ref):
    ul, br = hmr2_crop_windows(ref["bboxes_cxcys"])
    np.testing.assert_array_equal(np.concatenate([ul, br], 1), ref["crop_ul_br"])
    norm_img, crops = hmr2_crops(ref["image_rgb"], ref["bboxes_cxcys"])
    assert norm_img.shape == (2, 3, 256, 256) and norm_img.dtype == np.float32
    np.testing.assert_array_equal(norm_img, ref["norm_img"])


def test_batched_equals_one_by_one(ref):
    img = ref["image_rgb"]
    both = vitpose_crops(img, ref["bboxes_xyxy"]).input_tensor
    for i in range(2):
        one = vitpose_crops(img, ref["bboxes_xyxy"][i:i + 1]).input_tensor
        np.testing.assert_array_equal(one[0], both[i])
    both, _ = hmr2_crops(img, ref["bboxes_cxcys"])
    for i in range(2):
        np.testing.assert_array_equal(hmr2_crops(img, ref["bboxes_cxcys"][i:i + 1])[0][0], both[i])


def test_mirrored_crops_follow_the_crops(ref):
    one = vitpose_crops(ref["image_rgb"], ref["bboxes_xyxy"]).input_tensor
    both = vitpose_crops(ref["image_rgb"], ref["bboxes_xyxy"], mirrored=True).input_tensor
    assert both.shape == (4, 3, 256, 192) and both.flags.c_contiguous
    np.testing.assert_array_equal(both, np.concatenate([one, one[..., ::-1]]))


def test_box_geometry():
    # 60 x 160 box (w = x2 - x1 + 1) is widened to the 3:4 aspect ratio, then padded by 1.25.
    center, scale = box_to_center_scale(np.array([[10, 20, 69, 179]], dtype=np.float32))
    np.testing.assert_allclose(center, [[40.0, 100.0]])
    np.testing.assert_allclose(scale, [[120 / 200 * 1.25, 160 / 200 * 1.25]], rtol=1e-6)
    out = vitpose_crops(np.zeros((240, 320, 3), np.uint8), [[10, 20, 69, 179]])
    # UDP: the box centre maps to the crop centre ((192 - 1) / 2, (256 - 1) / 2).
    np.testing.assert_allclose(out.warp[0] @ [40.0, 100.0, 1.0], [95.5, 127.5], atol=1e-4)


def test_outside_pixels_are_black():
    img = np.full((100, 100, 3), 255, np.uint8)
    norm_img, crops = hmr2_crops(img, [[50.0, 50.0, 1.0]])  # 200 px box around a 100 px image
    assert crops[0, 0, 0].tolist() == [0, 0, 0] and crops[0, 128, 128].tolist() == [255, 255, 255]
    np.testing.assert_allclose(norm_img[0, :, 0, 0], -IMAGENET_MEAN / IMAGENET_STD, rtol=1e-6)
    far = vitpose_crops(img, [[1000, 1000, 1100, 1200]])
    assert not far.crops.any()


def test_reused_canvas_keeps_no_earlier_pixels():
    # The float canvas is scratch memory reused across calls: a padded window cut after a
    # bright one must still be black outside the image, as it is in a fresh thread.
    bright = np.full((400, 400, 3), 255, np.uint8)
    dark = np.zeros((100, 100, 3), np.uint8)
    dark[40:60, 40:60] = 200
    fresh = {}
    worker = threading.Thread(target=lambda: fresh.update(out=hmr2_crops(dark, [[50.0, 50.0, 1.0]])))
    worker.start()
    worker.join()
    hmr2_crops(bright, [[200.0, 200.0, 1.5]])  # fills the scratch with 255 here
    again = hmr2_crops(dark, [[50.0, 50.0, 1.0]])
    np.testing.assert_array_equal(again[1], fresh["out"][1])
    assert again[1][0, 0, 0].tolist() == [0, 0, 0]
    hmr2_crops(bright, [[200.0, 200.0, 1.5]])
    assert not hmr2_crops(dark, [[1000.0, 1000.0, 0.5]])[1].any()  # window wholly outside


def test_no_boxes_gives_empty_batches():
    img = np.zeros((10, 10, 3), np.uint8)
    assert vitpose_crops(img, np.zeros((0, 4))).input_tensor.shape == (0, 3, 256, 192)
    assert hmr2_crops(img, np.zeros((0, 3)))[0].shape == (0, 3, 256, 256)


@pytest.mark.parametrize("image,match", [
    (np.zeros((10, 10, 3), np.float32), "uint8 RGB image, got float32"),
    (np.zeros((10, 10), np.uint8), r"got uint8 array of shape \(10, 10\)"),
    ([[0]], "got list"),
])
def test_bad_images_are_rejected(image, match):
    with pytest.raises(ValueError, match=match):
        vitpose_crops(image, [[0, 0, 5, 5]])
    with pytest.raises(ValueError, match=match):
        hmr2_crops(image, [[5, 5, 0.1]])


def test_bad_boxes_are_rejected():
    img = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match=r"boxes_xyxy must be \(N, 4\)"):
        vitpose_crops(img, [[0, 0, 5]])
    with pytest.raises(ValueError, match=r"bboxes_cxcys must be \(N, 3\)"):
        hmr2_crops(img, [[0, 0, 5, 5]])
    with pytest.raises(ValueError, match="s > 0"):
        hmr2_crops(img, [[5, 5, 0.0]])
    with pytest.raises(ValueError, match="s > 0"):
        hmr2_crops(img, [[5, np.nan, 1.0]])
    with pytest.raises(ValueError, match="empty crop window"):
        hmr2_crops(img, [[5, 5, 1e-4]])


def canvas_crop(image, ul, br):
    """WHAM's crop: zero canvas of the whole window, paste, cv2.resize to 256 x 256."""
    (x0, y0), (x1, y1) = ul, br
    h, w = image.shape[:2]
    canvas = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    sx0, sx1, sy0, sy1 = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return cv2.resize(canvas, (256, 256), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("side,x0,y0", [(1500, -400, -300), (1100, 100, 50), (2600, -2000, 200),
                                        (120, -60, 400), (300, 5, 5)])
def test_sampled_crop_equals_canvas_resize(side, x0, y0):
    from wham_ros.frontend.crops import _sampled_crop

    image = np.random.default_rng(side).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    ul, br = np.array([x0, y0]), np.array([x0 + side, y0 + side])
    np.testing.assert_allclose(_sampled_crop(image, ul, br, (256, 256)),
                               canvas_crop(image, ul, br), rtol=0, atol=2e-5)


@pytest.mark.parametrize("side_px", [1e3, 1e4, 1e5, 1e6, 1e7])
@pytest.mark.parametrize("where", ["on_image", "far_outside"])
def test_huge_boxes_cost_output_sized_memory(side_px, where):
    import tracemalloc

    image = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    cx, cy = (320.0, 240.0) if where == "on_image" else (5e7, -3e7)
    boxes = np.array([[cx, cy, side_px / 200.0]] * 4)
    xyxy = np.array([[cx - side_px / 2, cy - side_px / 2, cx + side_px / 2, cy + side_px / 2]] * 4)
    tracemalloc.start()
    try:
        norm_img, crops = hmr2_crops(image, boxes)
        vit = vitpose_crops(image, xyxy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Outputs: 4 x (2 x 786 kB HMR2 + 590 kB + 147 kB ViTPose); allow a few output sizes more.
    assert peak < 40e6, f"{peak / 1e6:.1f} MB for {side_px:.0e} px boxes"
    assert np.all(np.isfinite(norm_img)) and np.all(np.isfinite(vit.input_tensor))
    if where == "far_outside":  # nothing of the image in the crop: black
        assert not crops.any() and not vit.crops.any()
    elif side_px <= 1e4:  # the image (>= 16 output px wide) is in the middle of the crop
        assert crops[:, 128, 128].any()


def test_box_beyond_int64_safe_range_is_refused():
    with pytest.raises(ValueError, match="reach beyond"):
        hmr2_crops(np.zeros((4, 4, 3), np.uint8), np.array([[0.0, 0.0, 1e12]]))
