"""Crops on the device (host-computed taps, torch ops, ONNX graphs) against OpenCV's crops.

Stated tolerance: ViTPose crops equal (OpenCV's fixed point replayed in float64 on the
host), HMR2.0 crops within 1e-3 grey levels (float32 resize; OpenCV may fuse a
multiply-add), mirrored crops equal to ``crop[..., ::-1]``; keypoints and HMR2.0 outputs
from device crops equal the host path's up to the network's batch-order float noise. The
exported graphs hold no float64 and cast the uint8 image before anything else (TensorRT).
"""
import numpy as np
import onnxruntime as ort
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


def _sample(img, taps):
    """The device op on the host: (B, 3, h, w) float32."""
    return dc.sample_crops(torch.from_numpy(img), *map(torch.from_numpy, taps.feeds().values())).numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vitpose_device_crops_equal_opencv(seed):
    img, boxes = _image(seed), _boxes_xyxy(seed)
    ref = vitpose_crops(img, boxes)
    center, scale, geometry = dc.vitpose_geometry(boxes)
    np.testing.assert_array_equal(center, ref.center)
    np.testing.assert_array_equal(scale, ref.scale)
    geometry, mirror = dc.with_mirrored(geometry, True)
    taps = dc.warp_affine_taps(geometry, mirror, img.shape[:2])
    assert taps.rows.dtype == taps.cols.dtype == np.int32
    assert taps.row_weights.dtype == taps.col_weights.dtype == np.float32
    crops = np.floor(_sample(img, taps) + 0.5)  # round half up, as VitPoseWithCrops does
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
    crops = _sample(img, dc.resize_taps(windows, mirror, img.shape[:2]))
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
    rotated = np.array([[[1.0, 0.1, 0.0], [0.0, 1.0, 0.0]]])
    with pytest.raises(ValueError, match="axis-aligned"):
        dc.warp_affine_taps(rotated, np.zeros(1, bool), (10, 10))


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
    assert types == {"image": "tensor(uint8)", "crop_rows": "tensor(int32)",
                     "crop_row_weights": "tensor(float)", "crop_cols": "tensor(int32)",
                     "crop_col_weights": "tensor(float)"}
    assert dev.session.get_outputs()[0].type == "tensor(float16)"
    _, _, geometry = dc.vitpose_geometry(boxes)
    geometry, mirror = dc.with_mirrored(geometry, True)
    got = dev.run_with_crops(img, dc.warp_affine_taps(geometry, mirror, img.shape[:2]))
    crops = vitpose_crops(img, boxes).input_tensor
    ref = host.run_network(np.concatenate([crops, crops[..., ::-1]]))
    assert got.dtype == np.float32  # the runner casts fp16 outputs
    np.testing.assert_allclose(got, ref, rtol=0, atol=2 * np.spacing(np.float16(np.abs(ref).max())))


@pytest.mark.parametrize("name", ["vitpose", "hmr2"])
def test_device_crop_graph_has_no_float64_and_casts_the_image_first(tiny_onnx, name):
    """TensorRT: no DOUBLE (onnx-tensorrt maps it to float32) and uint8 only into a Cast."""
    onnx = pytest.importorskip("onnx")
    model = onnx.shape_inference.infer_shapes(onnx.load(tiny_onnx[name, "device"]))
    double = onnx.TensorProto.DOUBLE
    typed = list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output)
    assert [v.name for v in typed if v.type.tensor_type.elem_type == double] == []
    assert not [n.name for n in model.graph.node if n.op_type == "Cast"
                and any(a.name == "to" and a.i == double for a in n.attribute)]
    assert [i.name for i in model.graph.initializer if i.data_type == double] == []
    consumers = [n for n in model.graph.node if "image" in n.input]
    assert [n.op_type for n in consumers] == ["Cast"]
    assert [a.i for a in consumers[0].attribute if a.name == "to"] == [onnx.TensorProto.FLOAT]


def test_taps_chunk_like_the_whole_batch(tiny_onnx, scene):
    """More people than max_people: the runner splits the crops into profile-sized chunks."""
    from wham_ros.ort_session import OrtOptions

    img, boxes = scene
    whole = VitPoseOnnx(tiny_onnx["vitpose", "device"], providers="cpu", crop_backend="device")
    small = VitPoseOnnx(tiny_onnx["vitpose", "device"], providers="cpu", crop_backend="device",
                        options=OrtOptions(max_people=1))
    assert small.max_batch == 2 and whole.max_batch == 16
    calls = []
    run = small.bound.run
    small.bound.run = lambda names, feeds: calls.append(len(feeds["crop_rows"])) or run(names, feeds)
    np.testing.assert_allclose(small(img, boxes), whole(img, boxes), rtol=0, atol=1e-5)
    assert calls == [2, 2, 2]  # 3 people x (crop + mirrored) in chunks of 2
    assert small.upload.uploads == 1  # one image upload for all chunks
    hmr = HMR2Onnx(tiny_onnx["hmr2", "device"], providers="cpu", crop_backend="device",
                   options=OrtOptions(max_people=1))
    ref = HMR2Onnx(tiny_onnx["hmr2", "device"], providers="cpu", crop_backend="device")
    bbox = np.array([[75.0, 120.0, 1.1], [20.0, 150.0, 0.9], [240.0, 100.0, 1.2]])
    got, want = hmr(img, bbox, flip=True), ref(img, bbox, flip=True)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-4 * (1 + np.abs(want[k]).max()))


@pytest.mark.skipif("TensorrtExecutionProvider" not in ort.get_available_providers(),
                    reason="needs onnxruntime-gpu with the TensorRT execution provider and a GPU; "
                           "this onnxruntime has none")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_device_crop_graphs_run_whole_on_tensorrt(tiny_onnx, scene, tmp_path):
    """The profiled warm-up places the whole graph (crops included) on TensorRT, and the
    keypoints match the CPU run."""
    from wham_ros.ort_session import OrtOptions

    img, boxes = scene
    trt = VitPoseOnnx(tiny_onnx["vitpose", "device"], providers="tensorrt", crop_backend="device",
                      options=OrtOptions(trt_cache_dir=str(tmp_path), max_people=4))
    assert trt.provider == "TensorrtExecutionProvider"
    assert "CUDAExecutionProvider" not in trt.placement, trt.placement
    cpu = VitPoseOnnx(tiny_onnx["vitpose", "device"], providers="cpu", crop_backend="device")
    np.testing.assert_allclose(trt(img, boxes), cpu(img, boxes), rtol=0, atol=1e-2)
