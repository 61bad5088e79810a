"""The pipeline hands every processed image, with the detector's person boxes, to the image
gyro-bias source (synthetic model set, a textured world seen by a turning camera)."""
import numpy as np
from synthetic_set import load_paths

from wham_ros.geometry.so3 import matrix_to_quat_xyzw
from wham_ros.pipeline import Pipeline
from wham_ros.testing.imu_rig import NS, NoisyImu
from wham_ros.testing.synthetic_models import synthetic_pipeline_config
from wham_ros.testing.textured_pan import TexturedCamera, TurningRig, render_recording, world_texture
from wham_ros.types import CameraFrame


def test_processed_images_reach_the_image_bias_source_with_people_masked(synthetic_models):
    size = (320, 240)
    K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])
    rig = TurningRig(duration_s=2.0)
    imu = NoisyImu(rate_hz=200.0, seed=0)
    samples, _ = imu.samples(rig)
    pipe = Pipeline(synthetic_pipeline_config(load_paths(synthetic_models),
                                              camera_imu_quat_xyzw=matrix_to_quat_xyzw(imu.R_cam_imu)))
    stamps = np.arange(0.5, 1.5, 1 / 30)
    images, boxes = render_recording(rig, TexturedCamera(world_texture(), K, size), stamps, people=2)
    k, seen = 0, []
    for t, image in zip(stamps, images):
        s = int(round(t * NS))
        while k < len(samples) and samples[k].stamp_ns <= s:
            pipe.add_imu(samples[k])
            k += 1
        result = pipe.process(CameraFrame(s, image, "cam", K))
        assert "image_rotation" in result.timings_ms
        seen.append(len(pipe.frontend.last_boxes))
    source = pipe.wham.grounding.image_bias
    # every image pair fitted: one per ~0.1 s (min_interval_ns) over the 1 s recording
    assert set(source.counts) == {"ok"} and source.counts["ok"] >= 8
    assert max(seen) == 2  # the detector's boxes (both walkers) were masked out
    status = pipe.grounding_status()
    assert status["image_bias_state"] in ("starting", "active")
