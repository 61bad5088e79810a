"""``wham-ros`` end to end with the real Pipeline and the synthetic model set.

Synthetic scenes (a red and a green person, a panning camera with an IMU) are written as
rosbag2 (MCAP and sqlite3) or as an MJPG video, run through the CLI's ``main`` with a
parameter YAML pointing at the synthetic models, and the output bag is read back with
``rosbags`` and with ``mcap-ros2-support``.
"""
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin

from bag_helpers import write_scene_bag
from synthetic_set import load_paths
from test_runner import OUT_TOPICS, read_back
from wham_ros.offline.runner import default_pipeline_factory, load_parameters, main, run
from wham_ros.testing.scenes import make_scene

FRAME = "scene_cam_optical"
N_FRAMES = 7


def write_config(path: Path, models: dict, **extra) -> Path:
    """A node parameter YAML (config/wham.yaml format) for the synthetic models."""
    import yaml

    values = dict(models, keypoint_backend="vitpose", detector_format="yolov8", providers="cpu",
                  tracker_min_hits=2)
    values.update(extra)
    path.write_text(yaml.safe_dump({"wham": {"ros__parameters": values}}))
    return path


@pytest.fixture(scope="module")
def scene():
    return make_scene(N_FRAMES, size=(320, 240))


def check_humans(msgs, stamps):
    """One HumanArray per image with its stamp; ids 1 (red, left) and 2 (green, right)."""
    assert [t for t, _ in msgs] == stamps
    assert [(m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec) for _, m in msgs] == stamps
    ids = [[h.track_id for h in m.humans] for _, m in msgs]
    assert ids == [[]] + [[1, 2]] * (len(stamps) - 1)  # min_hits 2
    last = msgs[-1][1]
    assert last.world_frame_id == "wham_world"
    red, green = last.humans
    assert red.bbox_xyxy[0] < green.bbox_xyxy[0]
    for h in last.humans:
        assert h.root_pose_cam.position.z > 0.5 and h.age == len(stamps) - 1
        assert len(h.smpl_joints_world) == 24 and len(h.coco_joints_cam) == 17
        assert len(h.contact) == 4 and np.all(np.isfinite(h.body_pose))


def check_export(folder: Path, human_arrays):
    """track_<id>.npz holds the HumanArray's values; track_<id>.bvh has a frame per 30 Hz step."""
    from scipy.spatial.transform import Rotation

    from wham_ros.export.bvh import read_bvh

    assert sorted(p.name for p in folder.iterdir()) == [
        "track_1.bvh", "track_1.npz", "track_2.bvh", "track_2.npz"]
    for tid in (1, 2):
        humans = [(t, h) for t, m in human_arrays for h in m.humans if h.track_id == tid]
        with np.load(folder / f"track_{tid}.npz") as z:
            np.testing.assert_array_equal(z["stamps_ns"], [t for t, _ in humans])
            pos = [[h.root_pose_world.position.x, h.root_pose_world.position.y,
                    h.root_pose_world.position.z] for _, h in humans]
            np.testing.assert_allclose(z["trans_world"], pos, atol=1e-6)
            np.testing.assert_allclose(z["body_pose"], [h.body_pose for _, h in humans], atol=1e-5)
            q = [[h.root_pose_world.orientation.x, h.root_pose_world.orientation.y,
                  h.root_pose_world.orientation.z, h.root_pose_world.orientation.w] for _, h in humans]
            np.testing.assert_allclose(Rotation.from_rotvec(z["global_orient_world"]).as_matrix(),
                                       Rotation.from_quat(q).as_matrix(), atol=1e-6)
        assert len(read_bvh(folder / f"track_{tid}.bvh").motion) == len(humans)  # 30 Hz scene


@pytest.mark.parametrize("storage,image_format", [(StoragePlugin.MCAP, "bgr8"),
                                                  (StoragePlugin.SQLITE3, "jpeg")],
                         ids=["mcap-bgr8", "sqlite3-jpeg"])
def test_bag_through_the_real_pipeline(tmp_path, typestore, synthetic_models, scene, storage,
                                       image_format):
    stamps = write_scene_bag(tmp_path / "in", typestore, storage, scene, FRAME, image_format)
    config = write_config(tmp_path / "wham.yaml", load_paths(synthetic_models), mesh_rate_hz=10.0)
    rc = main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--config", str(config),
               "--no-progress", "--export", str(tmp_path / "tracks"), "--bvh-up", "y"])
    assert rc == 0
    bag = read_back(tmp_path / "out", typestore)
    check_export(tmp_path / "tracks", bag["/human_pose"])
    image_topic = "/scene/image_raw/compressed" if image_format == "jpeg" else "/scene/image_raw"
    assert set(bag) == OUT_TOPICS | {image_topic, "/scene/camera_info", "/scene/imu"}
    assert len(bag[image_topic]) == N_FRAMES and len(bag["/scene/imu"]) == len(scene.imu)
    check_humans(bag["/human_pose"], stamps)
    assert [t for t, _ in bag["/human_pose/markers"]] == stamps
    # TF: the camera on every frame, the bodies once tracked
    children = [sorted(tr.child_frame_id for tr in m.transforms) for _, m in bag["/tf"]]
    assert children == [[FRAME]] + [["body_b1", "body_b1_smpl", "body_b2", "body_b2_smpl", FRAME]] * (
        N_FRAMES - 1)
    faces = bag["/human_pose/mesh_faces"]
    assert len(faces) == 1 and len(faces[0][1].triangles) == 13776 * 3
    # mesh at 10 Hz of message time on a 30 Hz scene: frames 0, 3, 6
    assert [t for t, _ in bag["/human_pose/mesh"]] == stamps[::3]
    last_mesh = bag["/human_pose/mesh"][-1][1].markers
    assert [(m.ns, m.id, len(m.points)) for m in last_mesh[1:]] == [("mesh", 1, 13776 * 3),
                                                                  ("mesh", 2, 13776 * 3)]


def test_output_decodes_with_mcap_ros2(tmp_path, typestore, synthetic_models, scene):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    stamps = write_scene_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, scene, FRAME, "png")
    config = write_config(tmp_path / "wham.yaml", load_paths(synthetic_models), mesh_rate_hz=0.0,
                          publish_vertices=True)
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--config", str(config),
                 "--no-progress", "--no-inputs"]) == 0
    seen = {}
    with open(next((tmp_path / "out").glob("*.mcap")), "rb") as fh:
        for _, channel, message, msg in make_reader(
                fh, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            seen.setdefault(channel.topic, []).append((message.log_time, msg))
    assert set(seen) == OUT_TOPICS - {"/human_pose/mesh"}
    check_humans(seen["/human_pose"], stamps)
    # REP-155 from the real pipeline, decoded by mcap-ros2 from the bag's own schemas
    assert [list(m.ids) for _, m in seen["/humans/bodies/tracked"]] == [[]] + [["b1", "b2"]] * (N_FRAMES - 1)
    for _, m in seen["/humans/bodies/b1/joint_states"]:
        assert len(m.name) == 20 and np.all(np.isfinite(m.position))
    assert all(len(m.skeleton) == 18 for _, m in seen["/humans/bodies/b2/skeleton2d"])
    for _, m in seen["/human_pose"][1:]:  # publish_vertices: the 6890-vertex mesh in every Human
        assert [len(h.vertices_cam) for h in m.humans] == [6890 * 3, 6890 * 3]


def test_video_through_the_real_pipeline(tmp_path, typestore, synthetic_models, scene, caplog):
    import cv2

    video = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    for fr in scene.frames:
        writer.write(np.ascontiguousarray(fr.image[:, :, ::-1]))
    writer.release()
    config = write_config(tmp_path / "wham.yaml", load_paths(synthetic_models))
    assert main([str(video), "-o", str(tmp_path / "out"), "--config", str(config),
                 "--no-progress", "--frame-id", "video_cam"]) == 0
    assert "camera_motion 'imu' -> 'static'" in caplog.text
    bag = read_back(tmp_path / "out", typestore)
    stamps = [int(round(i * 1e9 / 30.0)) for i in range(N_FRAMES)]
    assert [t for t, _ in bag["/camera/image_raw"]] == stamps
    check_humans(bag["/human_pose"], stamps)
    assert bag["/human_pose"][0][1].header.frame_id == "video_cam"


def recording_factory(calls):
    """The real pipeline, recording (stamp, full_mesh, humans with vertices) per frame."""
    def factory(values):
        pipe = default_pipeline_factory(values)
        process = pipe.process

        def recording(frame, full_mesh=None):
            result = process(frame, full_mesh=full_mesh)
            calls.append((frame.stamp_ns, full_mesh,
                          sum(h.vertices_cam is not None for h in result.humans)))
            return result

        pipe.process = recording
        return pipe
    return factory


@pytest.mark.parametrize("mesh_rate_hz,mesh_every", [(10.0, 3), (0.0, None)])
def test_mesh_computed_only_on_frames_that_publish_it(tmp_path, typestore, synthetic_models, scene,
                                                      mesh_rate_hz, mesh_every):
    stamps = write_scene_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, scene, FRAME, "rgb8")
    values = load_parameters(None, dict(load_paths(synthetic_models), detector_format="yolov8",
                                        providers="cpu", tracker_min_hits=2,
                                        mesh_rate_hz=mesh_rate_hz))
    calls = []
    run(str(tmp_path / "in"), str(tmp_path / "out"), values, progress=False, copy_inputs=False,
        pipeline_factory=recording_factory(calls))
    mesh_stamps = stamps[::mesh_every] if mesh_every else []
    assert [t for t, _, _ in calls] == stamps
    assert [flag for _, flag, _ in calls] == [t in mesh_stamps for t in stamps]
    # vertices exist exactly for the people of the frames asking for them (frame 0: nobody)
    assert [n for _, _, n in calls] == [2 if t in mesh_stamps and t != stamps[0] else 0 for t in stamps]
    bag = read_back(tmp_path / "out", typestore)
    assert [t for t, _ in bag.get("/human_pose/mesh", [])] == mesh_stamps
    assert all(len(h.vertices_cam) == 0 for _, m in bag["/human_pose"] for h in m.humans)


@pytest.mark.parametrize("missing", ["wham_checkpoint", "body_model_dir", "detector_onnx", "hmr2_onnx"])
def test_missing_model_file_exits_3(tmp_path, typestore, synthetic_models, scene, caplog, missing):
    write_scene_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, scene, FRAME, "rgb8")
    models = dict(load_paths(synthetic_models), **{missing: str(tmp_path / "nowhere")})
    config = write_config(tmp_path / "wham.yaml", models)
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--config", str(config),
                 "--no-progress"]) == 3
    assert "cannot load the models" in caplog.text and "nowhere" in caplog.text
