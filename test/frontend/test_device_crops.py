"""Crops on the device (torch ops, ONNX graphs) against the OpenCV host crops.

Stated tolerance: ViTPose crops equal (OpenCV's fixed point replayed), HMR2.0 crops within
1e-3 grey levels (float32 resize; OpenCV may fuse a multiply-add), mirrored crops equal to
``crop[..., ::-1]``; keypoints and HMR2.0 outputs from device crops equal the host path's
up to the network's batch-order float noise.
"""
import numpy as np
import pytest
import torch

from wham_ros.frontend import device_crops as dc
from wham_ros.frontend.crops import hmr2_crops, vitpose_crops
from wham_ros.hmr2 import HMR2Torch
from wham_ros.hmr2.onnx_backend import HMR2Onnx
from wham_ros.ort_session import ModelFileError
from wham_ros.testing.synthetic_models import (export_tiny_hmr2, export_tiny_vitpose, tiny_hmr2,
                                               tiny_vitpose)
from wham_ros.vitpose import VitPoseTorch
from wham_ros.vitpose.onnx_backend import VitPoseOnnx

HMR2_TOL = 1e-3  # grey levels (0..255)


def _image(seed, h=181, w=243):
    """Smooth + sharp content: blurred noise with hard-edged rectangles."""
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)
    for _ in range(6):
        x, y = rng.integers(0, w - 10), rng.integers(0, h - 10)
        img[y:y + rng.integers(5, 60), x:x + rng.integers(5, 60)] = rng.integers(0, 256, 3)
    return img


def _boxes_xyxy(seed, h=181, w=243, n=12):
    """Random boxes: inside, across the borders, tiny (< 2 px) and larger than the image."""
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(-0.5 * w, w, n)
    y1 = rng.uniform(-0.5 * h, h, n)
    size = np.concatenate([rng.uniform(0.3, 2.0, 2), rng.uniform(5, 1.5 * max(h, w), n - 2)])
    aspect = rng.uniform(0.3, 3.0, n)
    return np.stack([x1, y1, x1 + size, y1 + size * aspect], 1).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vitpose_device_crops_equal_opencv(seed):
    img, boxes = _image(seed), _boxes_xyxy(seed)
    ref = vitpose_crops(img, boxes)
    center, scale, geometry = dc.vitpose_geometry(boxes)
    np.testing.assert_array_equal(center, ref.center)
    np.testing.assert_array_equal(scale, ref.scale)
    geometry, mirror = dc.with_mirrored(geometry, True)
    crops = dc.warp_affine_crops(torch.from_numpy(img), torch.from_numpy(geometry),
                                 torch.from_numpy(mirror)).numpy()
    n = len(boxes)
    expected = ref.crops.transpose(0, 3, 1, 2).astype(np.float32)
    np.testing.assert_array_equal(crops[:n], expected)
    np.testing.assert_array_equal(crops[n:], expected[..., ::-1])
    np.testing.assert_array_equal(dc.normalise_crops(torch.from_numpy(crops[:n])).numpy(),
                                  ref.input_tensor)


@pytest.mark.parametrize("seed", [0, 1])
def test_hmr2_device_crops_match_opencv(seed):
    img = _image(seed)
    rng = np.random.default_rng(seed)
    # centres anywhere (also outside), sides from 1 px to 3x the image; 0.64 -> 256 px window
    boxes = np.stack([rng.uniform(-50, 300, 10), rng.uniform(-50, 230, 10),
                      np.concatenate([[0.005, 0.64], rng.uniform(0.05, 3.0, 8)])], 1)
    ref_norm, ref = hmr2_crops(img, boxes)
    windows, mirror = dc.with_mirrored(dc.hmr2_geometry(boxes), True)
    crops = dc.resize_window_crops(torch.from_numpy(img), torch.from_numpy(windows),
                                   torch.from_numpy(mirror)).numpy()
    n = len(boxes)
    expected = ref.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(crops[:n], expected, rtol=0, atol=HMR2_TOL)
    np.testing.assert_array_equal(crops[n:], crops[:n][..., ::-1])
    norm = dc.normalise_crops(torch.from_numpy(crops[:n])).numpy()
    np.testing.assert_allclose(norm, ref_norm, rtol=0, atol=HMR2_TOL / 255 / 0.224)


def test_hmr2_geometry_rejects_bad_boxes():
    with pytest.raises(ValueError, match="s > 0"):
        dc.hmr2_geometry(np.array([[10.0, 10.0, 0.0]]))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        dc.hmr2_geometry(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        dc.vitpose_geometry(np.zeros((2, 3)))


def test_frame_upload_once_per_image():
    calls = []
    up = dc.FrameUpload(lambda a: calls.append(a) or len(calls))
    a, b = np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8)
    assert [up(a), up(a), up(b), up(b), up(a)] == [1, 1, 2, 2, 3]
    assert up.uploads == 3


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    """The tiny synthetic ViTPose and HMR2.0, exported plain and with device crops."""
    root = tmp_path_factory.mktemp("device_crops")
    return {(name, crops): fn(str(root / f"{name}_{crops}.onnx"), device_crops=crops == "device")
            for name, fn in (("vitpose", export_tiny_vitpose), ("hmr2", export_tiny_hmr2))
            for crops in ("opencv", "device")}


@pytest.fixture(scope="module")
def scene():
    img = _image(5, 240, 320)
    boxes = np.array([[30, 20, 120, 220], [-20, 60, 60, 250], [150, 10, 330, 200]], np.float32)
    return img, boxes


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_device_crops_keypoints_equal_host_crops(tiny_onnx, scene):
    img, boxes = scene
    host = VitPoseOnnx(tiny_onnx["vitpose", "opencv"], providers="cpu")
    device = VitPoseOnnx(tiny_onnx["vitpose", "device"], providers="cpu", crop_backend="device")
    ref, got = host(img, boxes), device(img, boxes)
    assert got.shape == (3, 17, 3)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-3)
    hmr_host = HMR2Onnx(tiny_onnx["hmr2", "opencv"], providers="cpu")
    hmr_dev = HMR2Onnx(tiny_onnx["hmr2", "device"], providers="cpu", crop_backend="device",
                       upload=device.upload)
    bbox = np.array([[75.0, 120.0, 1.1], [20.0, 150.0, 0.9], [240.0, 100.0, 1.2]])
    ref, got = hmr_host(img, bbox, flip=True), hmr_dev(img, bbox, flip=True)
    assert set(got) == set(ref)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=1e-4 * (1 + np.abs(ref[k]).max()))
    assert device.upload.uploads == 1  # one image upload served ViTPose and HMR2.0


def test_onnx_model_must_fit_crop_backend(tiny_onnx):
    with pytest.raises(ModelFileError, match="export it with wham-ros export vitpose --device-crops"):
        VitPoseOnnx(tiny_onnx["vitpose", "opencv"], providers="cpu", crop_backend="device")
    with pytest.raises(ModelFileError, match="expected input 'norm_img'"):
        HMR2Onnx(tiny_onnx["hmr2", "device"], providers="cpu")
    with pytest.raises(ValueError, match="Unknown crop_backend 'gpu'"):
        VitPoseOnnx(tiny_onnx["vitpose", "device"], providers="cpu", crop_backend="gpu")


def test_torch_runners_device_crops(tiny_vitpose_and_hmr2, scene):
    vitpose, hmr2 = tiny_vitpose_and_hmr2
    img, boxes = scene
    ref = VitPoseTorch(vitpose)(img, boxes)
    got = VitPoseTorch(vitpose, crop_backend="device")(img, boxes)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-3)
    bf16 = VitPoseTorch(vitpose, crop_backend="device", autocast="bf16")(img, boxes)
    assert bf16.shape == ref.shape and np.all(np.isfinite(bf16))
    bbox = np.array([[75.0, 120.0, 1.1], [240.0, 100.0, 1.2]])
    ref = HMR2Torch(hmr2)(img, bbox, flip=True)
    got = HMR2Torch(hmr2, crop_backend="device")(img, bbox, flip=True)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=1e-4 * (1 + np.abs(ref[k]).max()))
    with pytest.raises(ValueError, match="Unknown autocast 'fp8'"):
        HMR2Torch(hmr2, autocast="fp8")


@pytest.fixture(scope="module")
def tiny_vitpose_and_hmr2():
    return tiny_vitpose(), tiny_hmr2()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fp16_export_with_device_crops(tmp_path, scene):
    """--fp16 --device-crops: uint8/float64/bool inputs, fp16 network, as the fp16 host graph."""
    from wham_ros.models.export_onnx import export_vitpose
    from wham_ros.frontend.crops import vitpose_crops

    img, boxes = scene
    model = tiny_vitpose()
    export_vitpose(model, str(tmp_path / "dev.onnx"), fp16=True, device_crops=True)
    export_vitpose(model, str(tmp_path / "host.onnx"), fp16=True)
    dev = VitPoseOnnx(str(tmp_path / "dev.onnx"), providers="cpu", crop_backend="device")
    host = VitPoseOnnx(str(tmp_path / "host.onnx"), providers="cpu")
    types = {i.name: i.type for i in dev.session.get_inputs()}
    assert types == {"image": "tensor(uint8)", "crop_to_image": "tensor(double)",
                     "mirror": "tensor(bool)"}
    assert dev.session.get_outputs()[0].type == "tensor(float16)"
    _, _, geometry = dc.vitpose_geometry(boxes)
    geometry, mirror = dc.with_mirrored(geometry, True)
    got = dev.run_with_crops(img, geometry, mirror)
    crops = vitpose_crops(img, boxes).input_tensor
    ref = host.run_network(np.concatenate([crops, crops[..., ::-1]]))
    assert got.dtype == np.float32  # the runner casts fp16 outputs
    np.testing.assert_allclose(got, ref, rtol=0, atol=2 * np.spacing(np.float16(np.abs(ref).max())))
