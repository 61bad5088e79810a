"""`wham-ros run` keeps the world frame on a camera that never rests: gyro bias from the images.

A 120 s rosbag2 rendered through the true camera rotation (wham_ros.testing.textured_pan): the
camera turns from the first IMU sample to the last (yaw rate 0.05-0.25 rad/s, a 6 deg pitch
wobble), a textured world, two people walking in front, slowly changing light; 160 x 120
images at 10 Hz with their CameraInfo, IMU at 200 Hz with a 0.004 rad/s bias about the
vertical. The runner runs a pipeline double with the real world grounding and the call the
real pipeline makes per processed image (``observe_image`` with the detected people's boxes;
here a colour threshold stands in for the detector, as the synthetic detector finds the same
saturated rectangles). The camera TF must stay within 3 deg of the truth on every image (tilt
within 2 deg). (Without the image source such a recording drifts with the bias, 0.004 rad/s:
27 deg in 120 s; test/geometry/test_image_bias.py shows it on a shorter one.)
"""
import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from test_runner import read_back
from test_runner_grounding import GroundingOnly
from wham_ros.offline.runner import load_parameters, run
from wham_ros.geometry.frames import R_ZUP_YDOWN
from wham_ros.geometry.gravity import level_rotation
from wham_ros.geometry.so3 import angle_between, matrix_to_quat_xyzw, quat_xyzw_to_matrix
from wham_ros.ros.frame_input import stamp_ns
from wham_ros.testing.imu_rig import NS, NoisyImu
from wham_ros.testing.textured_pan import (TexturedCamera, TurningRig, render_recording, vertical_bias,
                                           world_texture)
from wham_ros.types import FrameResult

T0 = 1_700_000_000 * NS
FRAME = "pan_cam_optical"
SIZE = (160, 120)
K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])
DOWN = np.array([0.0, 0.0, -1.0])


def colour_boxes(rgb):
    """(N, 4) xyxy boxes of saturated blobs (what the synthetic colour detector finds)."""
    sat = (rgb.max(axis=2).astype(int) - rgb.min(axis=2)) > 120
    n, _, stats, _ = cv2.connectedComponentsWithStats(sat.astype(np.uint8))
    return np.array([[x, y, x + w, y + h] for x, y, w, h, area in stats[1:] if area > 20],
                    dtype=float).reshape(-1, 4)


class GroundingWithImages(GroundingOnly):
    """Pipeline double: the real world grounding fed as Pipeline.process feeds it, no networks."""

    def process(self, frame, full_mesh=None):
        step = self.grounding.on_frame(frame.stamp_ns)
        self.grounding.observe_image(frame.stamp_ns, frame.image, frame.K, colour_boxes(frame.image))
        return FrameResult(frame.stamp_ns, frame.frame_id, "wham_world", dropped=not step.step,
                           T_world_camera=self.grounding.world.T_world_cam() if step.step else None)


def write_bag(path, typestore, rig, imu, fps=10.0):
    from wham_ros.ros.conversions import header
    from wham_ros.ros.factory import RosbagsFactory

    f = RosbagsFactory(typestore)
    samples, _ = imu.samples(rig)
    stamps = np.arange(0.1, rig.duration_s - 0.1, 1.0 / fps)
    images, _ = render_recording(rig, TexturedCamera(world_texture(), K, SIZE), stamps, people=2)
    W, H = SIZE
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        c_imu = w.add_connection("/imu/data", "sensor_msgs/msg/Imu", typestore=typestore)
        c_img = w.add_connection("/cam/image_raw", "sensor_msgs/msg/Image", typestore=typestore)
        c_info = w.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo", typestore=typestore)
        info = f.new("sensor_msgs/msg/CameraInfo", header=header(f, T0, FRAME), width=W, height=H,
                     k=K.reshape(-1))
        w.write(c_info, T0, typestore.serialize_cdr(info, "sensor_msgs/msg/CameraInfo"))
        k = 0
        for t, rgb in zip(stamps, images):
            t_ns = T0 + int(round(t * NS))
            while k < len(samples) and samples[k].stamp_ns <= t_ns - T0:
                s = samples[k]
                msg = f.new("sensor_msgs/msg/Imu", header=header(f, T0 + s.stamp_ns, "imu_link"),
                            angular_velocity=f.new("geometry_msgs/msg/Vector3",
                                                   **dict(zip("xyz", s.angular_velocity))),
                            linear_acceleration=f.new("geometry_msgs/msg/Vector3",
                                                      **dict(zip("xyz", s.linear_acceleration))),
                            orientation_covariance=np.array([-1.0] + [0.0] * 8))
                w.write(c_imu, T0 + s.stamp_ns + 2_000_000, typestore.serialize_cdr(msg, "sensor_msgs/msg/Imu"))
                k += 1
            msg = f.new("sensor_msgs/msg/Image", header=header(f, t_ns, FRAME), height=H, width=W,
                        encoding="rgb8", is_bigendian=0, step=W * 3, data=rgb.reshape(-1))
            w.write(c_img, t_ns + 20_000_000, typestore.serialize_cdr(msg, "sensor_msgs/msg/Image"))


@pytest.fixture(scope="module")
def turning_bag(tmp_path_factory, typestore):
    rig = TurningRig(duration_s=120.0)
    imu = NoisyImu(rate_hz=200.0, seed=11, bias_walk=1e-5)
    imu.bias0_rad_s = vertical_bias(rig, imu.R_cam_imu, 0.004)
    path = tmp_path_factory.mktemp("turning") / "in"
    write_bag(path, typestore, rig, imu)
    return path, rig, imu


def run_and_compare(tmp_path, typestore, turning_bag, **overrides):
    path, rig, imu = turning_bag
    values = load_parameters(None, {"imu_to_camera_quat_xyzw": matrix_to_quat_xyzw(imu.R_cam_imu).tolist(),
                                    **overrides})
    pipes = []

    def factory(vals):
        pipes.append(GroundingWithImages(vals))
        return pipes[-1]

    run(str(path), str(tmp_path / "out"), values, progress=False, copy_inputs=False, pipeline_factory=factory)
    tf = [(stamp_ns(tr.header.stamp), tr.transform.rotation)
          for _, m in read_back(tmp_path / "out", typestore)["/tf"]
          for tr in m.transforms if tr.child_frame_id == FRAME]
    t = (np.array([s for s, _ in tf], dtype=np.int64) - T0) / NS
    R_est = quat_xyzw_to_matrix(np.array([[q.x, q.y, q.z, q.w] for _, q in tf]))
    C = rig.orientations(t)
    R_true = R_ZUP_YDOWN @ level_rotation(C[0].T @ DOWN) @ C[0].T @ C
    err = np.degrees(angle_between(R_est, R_true))
    tilt = np.degrees(np.arccos(np.clip(np.einsum("ni,ni->n", R_est[:, 2], R_true[:, 2]), -1.0, 1.0)))
    return t, err, tilt, pipes[0].grounding.status()


def test_camera_that_never_rests_keeps_its_orientation_for_120_s(tmp_path, typestore, turning_bag):
    t, err, tilt, status = run_and_compare(tmp_path, typestore, turning_bag)
    assert len(t) > 1150 and t[-1] - t[0] > 118.0  # every image of the 120 s has a camera TF
    print(f"max orientation error {err.max():.2f} deg, max tilt error {tilt.max():.2f} deg")
    assert err.max() <= 3.0, (err.max(), t[err.argmax()])
    assert tilt.max() <= 2.0, tilt.max()
    assert status["gyro_bias_from"] == "image" and status["image_bias_state"] == "active"
    assert status["drift_since_rest_deg"] <= 180.0

