"""Offline runner on the inputs users bring: truncated and missing videos, failures that must
not leave an output behind, intrinsics for videos, a bag's /tf_static IMU extrinsic."""
import logging

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin

from bag_helpers import FRAME, H, W, make_input_bag
from fake_pipeline import FakeConfig, FakePipeline
from test_runner import fake_factory, read_back
from wham_ros.bag.calibration import (CalibrationError, CameraCalibration, load_camera_yaml,
                                      rotation_between)
from wham_ros.offline.runner import EXIT_INPUT_ENDED_EARLY, load_parameters, main, run
from wham_ros.geometry.so3 import matrix_to_quat_xyzw, quat_xyzw_to_matrix, rot_x, rot_y, rot_z

CALIBRATION_YAML = """image_width: 64
image_height: 48
camera_name: test_cam
camera_matrix:
  rows: 3
  cols: 3
  data: [55.5, 0.0, 30.0, 0.0, 56.5, 22.0, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.1, -0.2, 0.0, 0.0, 0.0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
projection_matrix:
  rows: 3
  cols: 4
  data: [55.5, 0.0, 30.0, 0.0, 0.0, 56.5, 22.0, 0.0, 0.0, 0.0, 1.0, 0.0]
"""


def write_avi(path, n_frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    rng = np.random.default_rng(0)
    for _ in range(n_frames):
        writer.write(rng.integers(0, 255, size=(H, W, 3), dtype=np.uint8))
    writer.release()
    return path


def test_truncated_video_warns_with_count_and_exit_status(tmp_path, typestore, caplog):
    full = write_avi(tmp_path / "full.avi", 20)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])  # a copy that stopped half-way
    rc = main([str(cut), "-o", str(tmp_path / "out"), "--no-progress"],
              pipeline_factory=fake_factory([]))
    assert rc == EXIT_INPUT_ENDED_EARLY
    assert "ended after 9 of the 20 frames its container announces" in caplog.text
    assert len(read_back(tmp_path / "out", typestore)["/human_pose"]) == 9  # what was read is kept
    # The whole file: exit 0, nothing said about truncation.
    caplog.clear()
    assert main([str(full), "-o", str(tmp_path / "out2"), "--no-progress"],
                pipeline_factory=fake_factory([])) == 0
    assert "ended after" not in caplog.text


def test_missing_video_named_a_video_and_output_checked_before_models(tmp_path, caplog):
    built = []
    assert main([str(tmp_path / "walk.mp4"), "-o", str(tmp_path / "o"), "--no-progress"],
                pipeline_factory=fake_factory(built)) == 2
    assert f"input video '{tmp_path / 'walk.mp4'}' does not exist" in caplog.text
    video = write_avi(tmp_path / "clip.avi", 2)
    (tmp_path / "taken").mkdir()
    assert main([str(video), "-o", str(tmp_path / "taken"), "--no-progress"],
                pipeline_factory=fake_factory(built)) == 2
    assert "output '" in caplog.text and "already exists" in caplog.text
    assert built == []  # no model was loaded for either


class FailingPipeline(FakePipeline):
    def process(self, frame, full_mesh=None):
        if len(self.frames) == 2:
            raise RuntimeError("simulated crash on the third frame")
        return super().process(frame, full_mesh)


def test_failure_leaves_no_output_folder(tmp_path, typestore):
    make_input_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, n_frames=4)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(str(tmp_path / "in"), str(out), load_parameters(None, {}), progress=False,
            pipeline_factory=lambda values: FailingPipeline(FakeConfig()))
    assert not out.exists()
    # The same command works again once the cause is gone.
    run(str(tmp_path / "in"), str(out), load_parameters(None, {}), progress=False,
        pipeline_factory=fake_factory([]))
    assert len(read_back(out, typestore)["/human_pose"]) == 4


def test_video_intrinsics_from_camera_info_yaml_or_focal(tmp_path, typestore):
    video = write_avi(tmp_path / "clip.avi", 3)
    calib = tmp_path / "cam.yaml"
    calib.write_text(CALIBRATION_YAML)
    pipes = []
    assert main([str(video), "-o", str(tmp_path / "o1"), "--no-progress", "--frame-id", "cam",
                 "--camera-info", str(calib)], pipeline_factory=fake_factory(pipes)) == 0
    K = np.array([[55.5, 0.0, 30.0], [0.0, 56.5, 22.0], [0.0, 0.0, 1.0]])
    assert all(np.array_equal(f.K, K) for f in pipes[0].frames) and len(pipes[0].frames) == 3
    info = read_back(tmp_path / "o1", typestore)["/camera/camera_info"]
    assert len(info) == 3 and info[0][1].header.frame_id == "cam"
    assert info[0][1].distortion_model == "plumb_bob" and list(info[0][1].d[:2]) == [0.1, -0.2]
    np.testing.assert_array_equal(info[0][1].k, K.reshape(-1))
    # Focal length only: the principal point is the image centre.
    assert main([str(video), "-o", str(tmp_path / "o2"), "--no-progress", "--fx", "70"],
                pipeline_factory=fake_factory(pipes)) == 0
    np.testing.assert_array_equal(pipes[1].frames[0].K, [[70, 0, W / 2], [0, 70, H / 2], [0, 0, 1]])
    # Either one or the other; a bag that has CameraInfo keeps it.
    assert main([str(video), "-o", str(tmp_path / "o3"), "--no-progress", "--fx", "70",
                 "--camera-info", str(calib)], pipeline_factory=fake_factory(pipes)) == 2
    make_input_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, n_frames=1)
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "o4"), "--no-progress", "--fx", "70"],
                pipeline_factory=fake_factory(pipes)) == 2
    assert len(pipes) == 2 and not (tmp_path / "o3").exists() and not (tmp_path / "o4").exists()


def test_bag_without_camera_info_takes_focal(tmp_path, typestore):
    make_input_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, n_frames=2, camera_info=False)
    pipes = []
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--no-progress", "--fx", "60",
                 "--cx", "31"], pipeline_factory=fake_factory(pipes)) == 0
    np.testing.assert_array_equal(pipes[0].frames[0].K, [[60, 0, 31], [0, 60, H / 2], [0, 0, 1]])


def test_calibration_files_and_values(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text(CALIBRATION_YAML)
    calib = load_camera_yaml(str(path))
    assert (calib.width, calib.height, calib.distortion_model) == (64, 48, "plumb_bob")
    assert calib.K[1, 1] == 56.5 and calib.for_image(640, 480).width == 64  # the file's size
    path.write_text("image_width: 64\ncamera_matrix: {rows: 3, cols: 3, data: [1, 0, 0]}\n")
    with pytest.raises(CalibrationError, match="'camera_matrix' has 3 values, expected 9"):
        load_camera_yaml(str(path))
    with pytest.raises(CalibrationError, match="fx, fy > 0"):
        CameraCalibration.from_focal(-5.0)
    with pytest.raises(CalibrationError, match="cannot read camera calibration"):
        load_camera_yaml(str(tmp_path / "none.yaml"))


def test_rotation_between_frames_of_a_static_tree():
    """The runner's IMU mount without a ROS installation (no tf2): static rotations chained."""
    # camera_link -> camera_optical (REP-103 optical convention), camera_link -> imu_link.
    R_link_optical = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    R_link_imu = rot_z(0.3) @ rot_y(-0.2) @ rot_x(0.1)
    tree = [("base_link", "camera_link", matrix_to_quat_xyzw(rot_z(1.0))),
            ("camera_link", "camera_optical", matrix_to_quat_xyzw(R_link_optical)),
            ("camera_link", "imu_link", matrix_to_quat_xyzw(R_link_imu))]
    q = rotation_between(tree, "camera_optical", "imu_link")
    np.testing.assert_allclose(quat_xyzw_to_matrix(q), R_link_optical.T @ R_link_imu, atol=1e-12)
    assert rotation_between(tree, "camera_optical", "elsewhere") is None


def test_imu_extrinsic_from_tf_static_or_warned(tmp_path, typestore, caplog):
    """The IMU mount from the bag's /tf_static (camera_link -> optical frame and camera_link ->
    imu_link: a chain through the common parent): with tf2 where a ROS installation has it,
    else the chain of static rotations."""
    caplog.set_level(logging.INFO)
    R_cam_imu = rot_x(-np.pi / 2) @ rot_z(0.4)
    tree = [("camera_link", FRAME, [0.5, -0.5, 0.5, -0.5]),
            ("camera_link", "imu_link", matrix_to_quat_xyzw(
                quat_xyzw_to_matrix(np.array([0.5, -0.5, 0.5, -0.5])) @ R_cam_imu))]
    make_input_bag(tmp_path / "tf", typestore, StoragePlugin.MCAP, n_frames=2, tf_static=tree)
    seen = []

    def factory(values):
        seen.append(list(values["imu_to_camera_quat_xyzw"]))
        return FakePipeline(FakeConfig())

    run(str(tmp_path / "tf"), str(tmp_path / "o1"), load_parameters(None, {}), progress=False,
        pipeline_factory=factory)
    np.testing.assert_allclose(quat_xyzw_to_matrix(np.array(seen[0])), R_cam_imu, atol=1e-9)
    assert "IMU -> camera rotation from the bag's /tf_static (imu_link -> bag_cam_optical)" in caplog.text
    # The parameter, when set, wins (and the disagreement is said).
    given = [0.0, 0.0, 0.0, -1.0]
    run(str(tmp_path / "tf"), str(tmp_path / "o2"),
        load_parameters(None, {"imu_to_camera_quat_xyzw": given}), progress=False,
        pipeline_factory=factory)
    assert seen[1] == given and "is used, not the bag's /tf_static rotation" in caplog.text
    # Neither: identity, with a warning naming both frames.
    make_input_bag(tmp_path / "notf", typestore, StoragePlugin.MCAP, n_frames=2)
    run(str(tmp_path / "notf"), str(tmp_path / "o3"), load_parameters(None, {}), progress=False,
        pipeline_factory=factory)
    assert seen[2] == [0.0, 0.0, 0.0, 1.0]
    assert "IMU frame 'imu_link' differs from camera frame 'bag_cam_optical'" in caplog.text
    # Same frame for IMU and camera: nothing to warn about.
    caplog.clear()
    make_input_bag(tmp_path / "same", typestore, StoragePlugin.MCAP, n_frames=2, imu_frame=FRAME)
    run(str(tmp_path / "same"), str(tmp_path / "o4"), load_parameters(None, {}), progress=False,
        pipeline_factory=factory)
    assert "differs from camera frame" not in caplog.text


def test_bag_image_stamped_ahead_of_its_recording_is_dropped(tmp_path, typestore, caplog):
    make_input_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, n_frames=4, future_frame=1)
    pipes = []
    counts = run(str(tmp_path / "in"), str(tmp_path / "out"), load_parameters(None, {}),
                 progress=False, pipeline_factory=fake_factory(pipes))
    assert counts["/human_pose"] == 3 and pipes[0].resets == 0  # skipped, no reset after it
    assert "stamped 86400.000 s ahead of the clock" in caplog.text
