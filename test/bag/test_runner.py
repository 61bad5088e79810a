"""Offline runner: real rosbag2 files (MCAP and sqlite3) and a video in, MCAP rosbag2 out."""
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin

from bag_helpers import FRAME, H, W, make_input_bag
from fake_pipeline import FakeConfig, FakePipeline
from wham_ros.offline.runner import load_parameters, main, run

OUT_TOPICS = {"/human_pose", "/human_pose/markers", "/human_pose/mesh", "/human_pose/mesh_faces", "/tf",
              "/humans/bodies/tracked"} | {f"/humans/bodies/{b}/{t}" for b in ("b1", "b2") for t in (
                  "roi", "skeleton2d", "velocity", "joint_states", "urdf")}


def read_back(path: Path, typestore):
    """topic -> list of (log time, message) with rosbags."""
    out = {}
    with AnyReader([path], default_typestore=typestore) as reader:
        for conn, t, raw in reader.messages():
            out.setdefault(conn.topic, []).append((t, reader.deserialize(raw, conn.msgtype)))
    return out


def fake_factory(store, **cfg):
    def factory(values):
        store.append(FakePipeline(FakeConfig(world_frame_id=values["world_frame_id"],
                                             publish_vertices=values["publish_vertices"], **cfg)))
        return store[-1]
    return factory


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_bag_in_mcap_out(tmp_path, typestore, storage):
    counts_in = make_input_bag(tmp_path / "in", typestore, storage, n_frames=5)
    pipes = []
    values = load_parameters(None, {"publish_vertices": True, "mesh_rate_hz": 5.0,
                                    "world_frame_id": "map"})
    counts = run(str(tmp_path / "in"), str(tmp_path / "out"), values, progress=False,
                 pipeline_factory=fake_factory(pipes))
    bag = read_back(tmp_path / "out", typestore)
    assert set(bag) == OUT_TOPICS | {"/cam/image_raw", "/cam/camera_info", "/imu/data"}
    assert {t: len(m) for t, m in bag.items()} == counts
    assert len(bag["/human_pose"]) == len(bag["/tf"]) == len(bag["/human_pose/markers"]) == 5
    assert len(bag["/human_pose/mesh"]) == 3  # 10 Hz frames, mesh at 5 Hz (message time)
    assert len(bag["/human_pose/mesh_faces"]) == 1
    for topic in ("/cam/image_raw", "/cam/camera_info", "/imu/data"):
        assert len(bag[topic]) == counts_in[topic]  # inputs copied unchanged
    # Outputs carry the image stamps and frames; inputs reached the pipeline.
    pipe = pipes[0]
    image_stamps = [t for t, _ in bag["/cam/image_raw"]]
    assert [t for t, _ in bag["/human_pose"]] == image_stamps == [f.stamp_ns for f in pipe.frames]
    first = bag["/human_pose"][0][1]
    assert first.header.frame_id == FRAME and first.world_frame_id == "map"
    assert [h.track_id for h in first.humans] == [1, 2] and len(first.humans[0].vertices_cam) == 90
    assert pipe.frames[0].K[0, 0] == 50.0 and pipe.frames[0].image.shape == (H, W, 3)
    assert len(pipe.imu) == counts_in["/imu/data"]
    tf = bag["/tf"][0][1].transforms
    assert [(t.header.frame_id, t.child_frame_id) for t in tf] == [
        ("map", "body_b1"), ("body_b1", "body_b1_smpl"), ("map", "body_b2"), ("body_b2", "body_b2_smpl")]
    faces = bag["/human_pose/mesh_faces"][0][1]
    np.testing.assert_array_equal(np.asarray(faces.triangles).reshape(-1, 3), pipe.faces)


def test_output_decodes_with_mcap_ros2(tmp_path, typestore):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    make_input_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, n_frames=3, compressed=True)
    run(str(tmp_path / "in"), str(tmp_path / "out"), load_parameters(None, {}), progress=False,
        pipeline_factory=fake_factory([]))
    mcap_file = next((tmp_path / "out").glob("*.mcap"))
    seen = {}
    with open(mcap_file, "rb") as fh:
        reader = make_reader(fh, decoder_factories=[DecoderFactory()])
        for _, channel, _, msg in reader.iter_decoded_messages():
            seen.setdefault(channel.topic, []).append(msg)
    assert len(seen["/human_pose"]) == 3 and len(seen["/cam/image_raw/compressed"]) == 3
    human = seen["/human_pose"][0].humans[1]
    assert human.track_id == 2 and human.body_id == "b2"
    assert len(human.smpl_joints_world) == 24 and len(human.body_pose) == 69
    assert seen["/tf"][0].transforms[0].child_frame_id == "body_b1"


def test_bad_image_in_bag_is_skipped(tmp_path, typestore, caplog):
    make_input_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, n_frames=4, bad_frame=1)
    pipes = []
    counts = run(str(tmp_path / "in"), str(tmp_path / "out"), load_parameters(None, {}),
                 progress=False, pipeline_factory=fake_factory(pipes))
    assert counts["/human_pose"] == 3 and counts["/cam/image_raw"] == 4
    assert [h.age for h in read_back(tmp_path / "out", typestore)["/human_pose"][-1][1].humans] == [3, 3]
    assert "image encoding '32FC1' is a depth image, not a camera image" in caplog.text


def test_video_in_mcap_out(tmp_path, typestore):
    import cv2

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for i in range(4):
        writer.write(np.full((H, W, 3), 40 * i, np.uint8))
    writer.release()
    rc = main([str(video), "-o", str(tmp_path / "out"), "--no-progress", "--frame-id", "cam"],
              pipeline_factory=fake_factory([]))
    assert rc == 0
    bag = read_back(tmp_path / "out", typestore)
    assert len(bag["/camera/image_raw"]) == len(bag["/human_pose"]) == 4
    img = bag["/camera/image_raw"][2][1]
    assert (img.encoding, img.width, img.height, img.header.frame_id) == ("rgb8", W, H, "cam")
    assert [t for t, _ in bag["/human_pose"]] == [0, 100_000_000, 200_000_000, 300_000_000]


def test_cli_errors_are_clear(tmp_path, typestore, caplog):
    assert main([str(tmp_path / "missing"), "-o", str(tmp_path / "o"), "--no-progress"],
                pipeline_factory=fake_factory([])) == 2
    assert "input bag" in caplog.text and "does not exist" in caplog.text
    make_input_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, n_frames=1)
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--image-topic", "/nope",
                 "--no-progress"], pipeline_factory=fake_factory([])) == 2
    assert "image topic '/nope' not in the bag" in caplog.text
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("wham:\n  ros__parameters:\n    providers: quantum\n")
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--config", str(cfg),
                 "--no-progress"], pipeline_factory=fake_factory([])) == 2
    assert "parameter 'providers' = 'quantum' is invalid" in caplog.text


def test_shipped_config_loads(tmp_path):
    cfg = Path(__file__).resolve().parents[2] / "config" / "wham.yaml"
    values = load_parameters(str(cfg), {})
    from wham_ros.ros.params import PARAMS

    assert set(values) == {p.name for p in PARAMS}
    text = cfg.read_text()
    for p in PARAMS:  # every parameter is in the YAML with a comment line above it
        assert f"    {p.name}:" in text


def test_rep155_topics_in_the_bag(tmp_path, typestore):
    """REP-155 bodies: ids, per-body roi / skeleton2d / velocity / joint_states, one latched URDF."""
    import xml.etree.ElementTree as ET

    from wham_ros.body import rep155
    from wham_ros.body.kinematics import rest_offsets

    make_input_bag(tmp_path / "in", typestore, StoragePlugin.MCAP, n_frames=3)
    pipes = []
    run(str(tmp_path / "in"), str(tmp_path / "out"), load_parameters(None, {"world_frame_id": "map"}),
        progress=False, pipeline_factory=fake_factory(pipes))
    bag = read_back(tmp_path / "out", typestore)
    assert [list(m.ids) for _, m in bag["/humans/bodies/tracked"]] == [["b1", "b2"]] * 3
    assert len(bag["/humans/bodies/b1/urdf"]) == 1  # latched, once per body
    with AnyReader([tmp_path / "out"], default_typestore=typestore) as reader:
        conn = next(c for c in reader.connections if c.topic == "/humans/bodies/b1/urdf")
        assert "transient_local" in str(conn.ext.offered_qos_profiles).lower()
    robot = ET.fromstring(bag["/humans/bodies/b2/urdf"][0][1].data)
    assert robot.find("link").get("name") == "body_b2"
    h = pipes[0].process  # the fake's humans are deterministic per (track, stamp)
    t0, msg = bag["/humans/bodies/b2/joint_states"][0]
    est = next(x for x in h(pipes[0].frames[0]).humans if x.track_id == 2)
    assert list(msg.name) == [f"{n}_b2" for n in rep155.JOINT_NAMES]
    np.testing.assert_allclose(msg.position, rep155.joint_angles(
        est.body_pose, rest_offsets(est.smpl_joints_cam, est.global_orient_cam, est.body_pose)))
    _, vel = bag["/humans/bodies/b1/velocity"][0]
    assert vel.header.frame_id == "map"
    assert (vel.twist.linear.x, vel.twist.angular.z) == pytest.approx((0.1, 0.2))
    _, roi = bag["/humans/bodies/b1/roi"][0]
    assert roi.header.frame_id == FRAME
    assert (roi.xmin, roi.ymin, roi.xmax, roi.ymax) == pytest.approx(
        tuple(rep155.normalized_roi(est.bbox_xyxy, W, H)))
    _, sk = bag["/humans/bodies/b1/skeleton2d"][0]
    assert len(sk.skeleton) == 18 and 0.0 <= min(p.x for p in sk.skeleton) <= 1.0
