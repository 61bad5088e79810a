"""ONNX export of a tiny HMR2 encoder (HMR2.0 names and I/O, small sizes): ORT == torch."""
import numpy as np
import pytest
import torch

from wham_ros.models.export_onnx import export_hmr2
from wham_ros.hmr2 import OUTPUT_NAMES, HMR2Torch
from wham_ros.hmr2.onnx_backend import HMR2Onnx
from wham_ros.ort_session import ModelFileError

pytest.importorskip("onnx", reason="torch.onnx.export needs the onnx package")


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory, tiny_hmr2):
    path = tmp_path_factory.mktemp("onnx") / "hmr2_tiny.onnx"
    export_hmr2(tiny_hmr2, str(path))
    return path


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_outputs_match_torch(onnx_path, tiny_hmr2, batch):
    x = torch.randn(batch, 3, 256, 256, generator=torch.Generator().manual_seed(batch))
    out = HMR2Onnx(str(onnx_path), providers="cpu").run_network(x.numpy())
    with torch.inference_mode():
        ref = {k: v.numpy() for k, v in tiny_hmr2(x).items()}
    assert list(out) == list(OUTPUT_NAMES)
    for name in OUTPUT_NAMES:
        assert out[name].shape == ref[name].shape, name
        np.testing.assert_allclose(out[name], ref[name], rtol=0,
                                   atol=1e-4 * max(1.0, np.abs(ref[name]).max()), err_msg=name)


def test_onnx_estimator_with_flip_matches_torch(onnx_path, tiny_hmr2, parity):
    inputs = parity.load_reference("inputs")
    image, boxes = inputs["image_rgb"], inputs["bboxes_cxcys"]
    res_onnx = HMR2Onnx(str(onnx_path), providers="cpu")(image, boxes, flip=True)
    res_torch = HMR2Torch(tiny_hmr2)(image, boxes, flip=True)
    assert set(res_onnx) == set(OUTPUT_NAMES) | {f"flipped_{n}" for n in OUTPUT_NAMES}
    for name, value in res_torch.items():
        np.testing.assert_allclose(res_onnx[name], value, rtol=0,
                                   atol=1e-4 * max(1.0, np.abs(value).max()), err_msg=name)
    # the flipped pass is the network on the mirrored crop
    mirrored = HMR2Torch(tiny_hmr2).run_network(inputs["norm_img"][..., ::-1].copy())
    np.testing.assert_allclose(res_torch["flipped_features"], mirrored["features"], atol=1e-4)
    assert not np.allclose(res_torch["flipped_features"], res_torch["features"])


def test_no_boxes(onnx_path, parity):
    image = parity.load_reference("inputs")["image_rgb"]
    out = HMR2Onnx(str(onnx_path), providers="cpu")(image, np.zeros((0, 3)))
    assert out["features"].shape == (0, 1024) and out["body_pose"].shape == (0, 23, 3, 3)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_vitpose_model_is_rejected(tmp_path):
    path = tmp_path / "other.onnx"
    torch.onnx.export(torch.nn.Linear(4, 2), (torch.zeros(1, 4),), str(path), dynamo=False,
                      input_names=["norm_img"], output_names=["heatmaps"])
    with pytest.raises(ModelFileError, match="expected input 'norm_img' and outputs"):
        HMR2Onnx(str(path), providers="cpu")


def test_missing_onnx_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        HMR2Onnx(str(tmp_path / "none.onnx"), providers="cpu")


def test_fp16_export_runs_and_stays_close(tmp_path, tiny_hmr2):
    path = tmp_path / "hmr2_fp16.onnx"
    export_hmr2(tiny_hmr2, str(path), fp16=True)
    assert next(tiny_hmr2.parameters()).dtype == torch.float32
    est = HMR2Onnx(str(path), providers="cpu")
    assert est.input_dtype == np.float16
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    out = est.run_network(x.numpy())
    with torch.inference_mode():
        ref = {k: v.numpy() for k, v in tiny_hmr2(x).items()}
    for name in OUTPUT_NAMES:
        assert out[name].dtype == np.float32
        np.testing.assert_allclose(out[name], ref[name], rtol=0,
                                   atol=3e-2 * max(1.0, np.abs(ref[name]).max()), err_msg=name)


def test_flip_feeds_the_crops_then_their_mirror_images(parity):
    """With ``flip`` the network gets the N normalised crops then their N mirror images,
    bit for bit (written by ``hmr2_crops(..., mirrored=True)``), and the outputs split so."""
    from wham_ros.frontend.crops import hmr2_crops
    from wham_ros.hmr2.estimator import HMR2Estimator

    class Recording(HMR2Estimator):
        def run_network(self, norm_img):
            self.fed = norm_img
            b = len(norm_img)
            return {"features": np.arange(b, dtype=np.float32)[:, None].repeat(1024, 1),
                    "global_orient": np.zeros((b, 1, 3, 3), np.float32),
                    "body_pose": np.zeros((b, 23, 3, 3), np.float32),
                    "betas": np.zeros((b, 10), np.float32), "cam": np.zeros((b, 3), np.float32)}

    inputs = parity.load_reference("inputs")
    image, boxes = inputs["image_rgb"], inputs["bboxes_cxcys"]
    est = Recording()
    out = est(image, boxes, flip=True)
    norm, _ = hmr2_crops(image, boxes)
    np.testing.assert_array_equal(est.fed, np.concatenate([norm, norm[..., ::-1]]))
    np.testing.assert_array_equal(norm, inputs["norm_img"])
    assert out["features"][:, 0].tolist() == [0, 1] and out["flipped_features"][:, 0].tolist() == [2, 3]
