"""ONNX export of a tiny ViTPose (ViTPose-H names and I/O, small sizes): ORT == torch."""
import logging

import numpy as np
import pytest
import torch

from wham_ros.models.export_onnx import export_vitpose, main
from wham_ros.ort_session import ModelFileError
from wham_ros.vitpose import VitPoseTorch
from wham_ros.vitpose.onnx_backend import VitPoseOnnx

pytest.importorskip("onnx", reason="torch.onnx.export needs the onnx package")


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory, tiny_vitpose):
    path = tmp_path_factory.mktemp("onnx") / "vitpose_tiny.onnx"
    export_vitpose(tiny_vitpose, str(path))
    return path


@pytest.fixture(scope="module")
def image(parity):
    return parity.load_reference("inputs")["image_rgb"]


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_heatmaps_match_torch(onnx_path, tiny_vitpose, batch):
    x = torch.randn(batch, 3, 256, 192, generator=torch.Generator().manual_seed(batch))
    ort_out = VitPoseOnnx(str(onnx_path), providers="cpu", flip_test=False).heatmaps(x.numpy())
    with torch.inference_mode():
        ref = tiny_vitpose(x).numpy()
    assert ort_out.shape == (batch, 17, 64, 48)
    np.testing.assert_allclose(ort_out, ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_onnx_estimator_matches_torch_estimator(onnx_path, tiny_vitpose, image):
    boxes = np.array([[18.5, 8.25, 371.75, 511], [255.75, -35.75, 482.25, 299.25]], np.float32)
    onnx_est = VitPoseOnnx(str(onnx_path), providers="cpu")
    torch_est = VitPoseTorch(tiny_vitpose)
    kp_onnx, kp_torch = onnx_est(image, boxes), torch_est(image, boxes)
    assert kp_onnx.shape == (2, 17, 3) and kp_onnx.dtype == np.float32
    np.testing.assert_allclose(kp_onnx[..., 2], kp_torch[..., 2], rtol=0, atol=1e-4)
    np.testing.assert_allclose(kp_onnx[..., :2], kp_torch[..., :2], rtol=0, atol=0.05)
    # keypoints are in image pixels, inside the padded boxes
    assert (kp_torch[0, :, 0] > -100).all() and (kp_torch[0, :, 0] < 500).all()
    # flip test changes the result (the mirrored pass is really used)
    assert not np.allclose(VitPoseTorch(tiny_vitpose, flip_test=False)(image, boxes), kp_torch)


def test_export_writes_one_file(onnx_path):
    assert [p.name for p in onnx_path.parent.iterdir()] == ["vitpose_tiny.onnx"]


def test_no_boxes(onnx_path, image):
    estimator = VitPoseOnnx(str(onnx_path), providers="cpu")
    assert estimator(image, np.zeros((0, 4))).shape == (0, 17, 3)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_wrong_model_is_rejected(tmp_path):
    path = tmp_path / "other.onnx"
    torch.onnx.export(torch.nn.Linear(4, 2), (torch.zeros(1, 4),), str(path), dynamo=False,
                      input_names=["x"], output_names=["y"])
    with pytest.raises(ModelFileError,
                       match="expected input 'input_tensor' and output 'heatmaps'"):
        VitPoseOnnx(str(path), providers="cpu")


def test_cli_reports_missing_checkpoint(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        rc = main(["vitpose", str(tmp_path / "missing.pth"), str(tmp_path / "out.onnx")])
    assert rc == 1
    assert "missing.pth' not found" in caplog.text
    assert not (tmp_path / "out.onnx").exists()
    with pytest.raises(SystemExit):
        main(["yolo", "a", "b"])


def test_fp16_export_runs_and_stays_close(tmp_path, tiny_vitpose, image):
    path = tmp_path / "vitpose_fp16.onnx"
    export_vitpose(tiny_vitpose, str(path), fp16=True)
    assert next(tiny_vitpose.parameters()).dtype == torch.float32  # caller's model untouched
    est = VitPoseOnnx(str(path), providers="cpu", flip_test=False)
    assert est.input_dtype == np.float16
    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    out = est.heatmaps(x.numpy())
    with torch.inference_mode():
        ref = tiny_vitpose(x).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=0, atol=2e-2 * np.abs(ref).max())
