"""The whole pipeline with device crops (ONNX graphs with crops inside) vs host crops.

Measured on the synthetic set: keypoints equal, WHAM outputs within 6e-7 (HMR2.0's
float32 resize); the test allows 1e-4 px and 1e-5.
"""
import numpy as np
import pytest
from synthetic_set import load_paths

from wham_ros.pipeline import Pipeline
from wham_ros.testing.scenes import make_scene
from wham_ros.testing.synthetic_models import (export_tiny_hmr2, export_tiny_vitpose,
                                               synthetic_pipeline_config)


@pytest.fixture(scope="module")
def configs(synthetic_models, tmp_path_factory):
    paths = load_paths(synthetic_models)
    root = tmp_path_factory.mktemp("device_crop_models")
    device = {"vitpose_onnx": export_tiny_vitpose(str(root / "vitpose.onnx"), device_crops=True),
              "hmr2_onnx": export_tiny_hmr2(str(root / "hmr2.onnx"), device_crops=True)}
    return (synthetic_pipeline_config(paths, flip_eval=True),
            synthetic_pipeline_config({**paths, **device}, crop_backend="device", flip_eval=True))


def _run(cfg, scene):
    """Feed IMU up to each frame stamp, then the frame; returns per frame {track id: human}."""
    pipe, k, out = Pipeline(cfg), 0, []
    for fr in scene.frames:
        while k < len(scene.imu) and scene.imu[k].stamp_ns <= fr.stamp_ns:
            pipe.add_imu(scene.imu[k])
            k += 1
        out.append({h.track_id: h for h in pipe.process(fr).humans})
    return pipe, out


def test_device_crops_give_the_host_path_results(configs):
    scene = make_scene(6, people=3)
    host_pipe, host = _run(configs[0], scene)
    dev_pipe, dev = _run(configs[1], scene)
    assert [sorted(r) for r in dev] == [sorted(r) for r in host] and len(host[-1]) == 3
    for h_frame, d_frame in zip(host, dev):
        for tid, h in h_frame.items():
            d = d_frame[tid]
            np.testing.assert_allclose(d.keypoints2d, h.keypoints2d, rtol=0, atol=1e-4)
            np.testing.assert_allclose(d.trans_cam, h.trans_cam, rtol=0, atol=1e-5)
            np.testing.assert_allclose(d.body_pose, h.body_pose, rtol=0, atol=1e-5)
    # one image upload per processed frame serves ViTPose and HMR2.0
    assert dev_pipe.frontend.keypoints.upload is dev_pipe.frontend.encoder.upload
    assert dev_pipe.frontend.keypoints.upload.uploads == len(scene.frames)
