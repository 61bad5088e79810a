"""HumanEstimate -> messages with both factories (rclpy and rosbags), CDR round trips."""
import numpy as np
import pytest
import torch

from fake_pipeline import FACES, R_WORLD_CAM, T_WORLD_CAM, FakeConfig, FakePipeline
from wham_ros.geometry.rotations import axis_angle_to_matrix, quaternion_to_matrix
from wham_ros.ros import conversions as C
from wham_ros.ros import markers as M
from wham_ros.ros.factory import RosbagsFactory
from wham_ros.types import CameraFrame, FrontEndResult, PersonObservation

STAMP = 1_234_567_890_123


@pytest.fixture(scope="module")
def result():
    pipe = FakePipeline(FakeConfig(publish_vertices=True, num_people=3, world_frame_id="odom"))
    return pipe.process(CameraFrame(stamp_ns=STAMP, image=np.zeros((4, 4, 3), np.uint8),
                                    frame_id="cam_optical"))


def _quat_matrix(q):  # geometry_msgs/Quaternion (x, y, z, w) -> 3 x 3
    return quaternion_to_matrix(torch.tensor([q.w, q.x, q.y, q.z], dtype=torch.float64)).numpy()


def test_rclpy_and_rosbags_messages_agree_by_round_trip(ros, rclpy_factory, typestore, result):
    from rclpy.serialization import deserialize_message, serialize_message

    rb = RosbagsFactory(typestore)
    for build, typename in [(lambda f: C.result_to_msg(f, result, 0.5, True), C.HUMAN_ARRAY),
                            (lambda f: C.tf_msg(f, result), C.TF_MESSAGE),
                            (lambda f: M.skeleton_markers(f, result), M.MARKER_ARRAY),
                            (lambda f: M.mesh_markers(f, result, FACES), M.MARKER_ARRAY),
                            (lambda f: C.faces_to_msg(f, FACES, 30, STAMP), C.MESH_FACES)]:
        from_rclpy = bytes(serialize_message(build(rclpy_factory)))
        from_rosbags = bytes(typestore.serialize_cdr(build(rb), typename))
        assert len(from_rclpy) == len(from_rosbags)
        # rclpy leaves alignment padding uninitialised: compare by decoding each with the other.
        again = bytes(typestore.serialize_cdr(typestore.deserialize_cdr(from_rclpy, typename), typename))
        assert again == from_rosbags
        cls = rclpy_factory.cls(typename)
        assert deserialize_message(from_rosbags, cls) == deserialize_message(from_rclpy, cls)


def test_human_fields_units_and_frames(typestore, result):
    f = RosbagsFactory(typestore)
    msg = C.result_to_msg(f, result, contact_threshold=0.5, include_vertices=True)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(STAMP, 1_000_000_000)
    assert msg.header.frame_id == "cam_optical" and msg.world_frame_id == "odom"
    assert [h.track_id for h in msg.humans] == [1, 2, 3]
    for est, h in zip(result.humans, msg.humans):
        np.testing.assert_allclose(_quat_matrix(h.root_pose_cam.orientation), est.global_orient_cam, atol=1e-9)
        np.testing.assert_allclose(_quat_matrix(h.root_pose_world.orientation), est.global_orient_world, atol=1e-9)
        p = h.root_pose_world.position
        np.testing.assert_allclose([p.x, p.y, p.z], est.trans_world)
        v = h.root_velocity_world
        np.testing.assert_allclose([v.x, v.y, v.z], [0.1, 0.0, 0.0], atol=1e-12)  # world x, m/s
        assert h.heading_rate == pytest.approx(0.2 * est.track_id)
        body = axis_angle_to_matrix(torch.from_numpy(h.body_pose.reshape(23, 3).astype(np.float64))).numpy()
        np.testing.assert_allclose(body, est.body_pose, atol=1e-5)
        np.testing.assert_allclose([[q.x, q.y, q.z] for q in h.smpl_joints_world], est.smpl_joints_world)
        np.testing.assert_allclose([[q.x, q.y, q.z] for q in h.coco_joints_cam], est.coco_joints_cam)
        # contact = [0.9, 0.2, 0.1, 0.6]: left (toe .9) and right (heel .6) both in contact
        assert h.left_foot_contact and h.right_foot_contact
        np.testing.assert_allclose(h.keypoints_2d.reshape(17, 2), est.keypoints2d[:, :2], rtol=1e-6)
        np.testing.assert_allclose(h.keypoint_scores, est.keypoints2d[:, 2], rtol=1e-6)
        np.testing.assert_allclose(h.vertices_cam.reshape(-1, 3), est.vertices_cam, rtol=1e-6)
        assert h.body_id == f"b{est.track_id}" and h.state == C.STATE_NEW
    high = C.result_to_msg(f, result, contact_threshold=0.95, include_vertices=False)
    assert not high.humans[0].left_foot_contact and len(high.humans[0].vertices_cam) == 0


def test_contact_published_as_probability_raw_kept(typestore):
    pipe = FakePipeline(FakeConfig(num_people=1))
    res = pipe.process(CameraFrame(stamp_ns=STAMP, image=np.zeros((4, 4, 3), np.uint8)))
    raw = np.array([1.12, -0.03, np.nan, 0.4])
    res.humans[0].contact = raw.copy()
    f = RosbagsFactory(typestore)
    h = C.result_to_msg(f, res, contact_threshold=1.0).humans[0]
    np.testing.assert_allclose(h.contact, [1.0, 0.0, 0.0, 0.4], rtol=1e-6)
    assert h.left_foot_contact and not h.right_foot_contact  # 1.12 -> 1.0 >= 1.0
    np.testing.assert_array_equal(res.humans[0].contact, raw)  # the core keeps WHAM's value
    spheres = [m for m in M.skeleton_markers(f, res, 1.0).markers if m.ns == "contacts"][0]
    on = [(c.r, c.g, c.b) == tuple(np.float32(M.CONTACT_ON_RGBA[:3])) for c in spheres.colors]
    assert on == [True, False, False, False]


def test_keypoint_scores_published_in_unit_interval_raw_kept(typestore):
    """Human.keypoint_scores is documented in [0, 1]; ViTPose's heatmap maxima leave it."""
    pipe = FakePipeline(FakeConfig(num_people=1))
    res = pipe.process(CameraFrame(stamp_ns=STAMP, image=np.zeros((4, 4, 3), np.uint8)))
    raw = res.humans[0].keypoints2d.copy()
    raw[:4, 2] = [1.6, -0.2, np.nan, 0.45]
    res.humans[0].keypoints2d = raw.copy()
    h = C.result_to_msg(RosbagsFactory(typestore), res).humans[0]
    np.testing.assert_allclose(h.keypoint_scores[:4], [1.0, 0.0, 0.0, 0.45], rtol=1e-6)
    np.testing.assert_allclose(h.keypoint_scores[4:], np.clip(raw[4:, 2], 0, 1), rtol=1e-6)
    np.testing.assert_array_equal(res.humans[0].keypoints2d, raw)  # the core keeps the raw score


def test_mesh_triangles_are_world_vertices_in_face_order(result):
    h = result.humans[1]
    corners = M.mesh_triangles_world(h, FACES)
    expected = (h.vertices_cam @ R_WORLD_CAM.T + T_WORLD_CAM)[FACES].reshape(-1, 3)
    np.testing.assert_allclose(corners, expected, atol=1e-9)


def test_skeleton_segments_follow_smpl_tree(typestore, result):
    arr = M.skeleton_markers(RosbagsFactory(typestore), result, 0.5)
    assert arr.markers[0].action == M.DELETEALL
    skel = [m for m in arr.markers if m.ns == "skeleton"]
    contacts = [m for m in arr.markers if m.ns == "contacts"]
    assert [m.id for m in skel] == [1, 2, 3] and len(contacts) == 3
    pts = np.array([[p.x, p.y, p.z] for p in skel[0].points]).reshape(23, 2, 3)
    joints = result.humans[0].smpl_joints_world
    np.testing.assert_allclose(pts[:, 0], joints[M.SMPL_BONES[:, 0]])
    np.testing.assert_allclose(pts[:, 1], joints[M.SMPL_BONES[:, 1]])
    greens = [c.g > 0.8 for c in contacts[0].colors]
    assert greens == [True, False, False, True]


def test_tf_children_and_observation_round_trip(typestore, result):
    f = RosbagsFactory(typestore)
    tf = C.tf_msg(f, result)
    assert [t.child_frame_id for t in tf.transforms] == [
        "body_b1", "body_b1_smpl", "body_b2", "body_b2_smpl", "body_b3", "body_b3_smpl"]
    for est, (body, smpl) in zip(result.humans, zip(tf.transforms[::2], tf.transforms[1::2])):
        R_body = _quat_matrix(body.transform.rotation)  # world <- body_<id> (REP-155 axes)
        assert body.header.frame_id == "odom" and smpl.header.frame_id == body.child_frame_id
        # x forward = SMPL +z, y left = SMPL +x, z up = SMPL +y
        np.testing.assert_allclose(R_body, est.global_orient_world[:, [2, 0, 1]], atol=1e-9)
        # body_<id>_smpl composes back to the SMPL root orientation at the same origin
        np.testing.assert_allclose(R_body @ _quat_matrix(smpl.transform.rotation),
                                   est.global_orient_world, atol=1e-9)
        t = smpl.transform.translation
        assert (t.x, t.y, t.z) == (0.0, 0.0, 0.0)
    rng = np.random.default_rng(3)
    obs = PersonObservation(
        track_id=4, bbox_xyxy=rng.random(4), keypoints=rng.random((17, 3)), bbox_cxcys=rng.random(3),
        x=rng.random(37), mask=rng.random(17) > 0.5, features=rng.random(1024).astype(np.float32),
        init_global_orient=np.eye(3), init_body_pose=np.stack([np.eye(3)] * 23),
        init_betas=rng.random(10), is_new=True)
    raw = typestore.serialize_cdr(C.observation_to_msg(f, obs), C.PERSON_OBS)
    back = C.msg_to_observation(typestore.deserialize_cdr(raw, C.PERSON_OBS))
    for name in ("bbox_xyxy", "keypoints", "bbox_cxcys", "x", "features", "init_global_orient",
                 "init_body_pose", "init_betas"):
        np.testing.assert_allclose(getattr(back, name), getattr(obs, name), rtol=1e-6)
    np.testing.assert_array_equal(back.mask, obs.mask)
    assert back.is_new and back.track_id == 4
    assert back.flipped_x is None and back.flipped_mask is None and back.flipped_features is None
    obs.init_global_orient = obs.init_body_pose = obs.init_betas = None
    raw = typestore.serialize_cdr(C.observation_to_msg(f, obs), C.PERSON_OBS)
    back = C.msg_to_observation(typestore.deserialize_cdr(raw, C.PERSON_OBS))
    assert back.init_global_orient is None and back.init_betas is None
    # flip-eval's mirrored view travels too
    obs.flipped_x, obs.flipped_mask = rng.random(37), rng.random(17) > 0.5
    obs.flipped_features = rng.random(1024).astype(np.float32)
    obs.flipped_init_global_orient, obs.flipped_init_body_pose = -np.eye(3), rng.random((23, 3, 3))
    obs.flipped_init_betas = rng.random(10)
    raw = typestore.serialize_cdr(C.observation_to_msg(f, obs), C.PERSON_OBS)
    back = C.msg_to_observation(typestore.deserialize_cdr(raw, C.PERSON_OBS))
    for name in ("flipped_x", "flipped_features", "flipped_init_global_orient",
                 "flipped_init_body_pose", "flipped_init_betas"):
        np.testing.assert_allclose(getattr(back, name), getattr(obs, name), rtol=1e-6)
    np.testing.assert_array_equal(back.flipped_mask, obs.flipped_mask)


def test_faces_shape_is_checked(typestore):
    with pytest.raises(ValueError, match=r"faces must be \(F, 3\) vertex indices, got shape \(4,\)"):
        C.faces_to_msg(RosbagsFactory(typestore), np.arange(4), 4, 0)


def _front_end_result():
    rng = np.random.default_rng(5)
    obs = [PersonObservation(
        track_id=tid, bbox_xyxy=rng.random(4), keypoints=rng.random((17, 3)), bbox_cxcys=rng.random(3),
        x=rng.random(37), mask=rng.random(17) > 0.5, features=rng.random(1024).astype(np.float32),
        init_global_orient=np.eye(3), init_body_pose=np.stack([np.eye(3)] * 23),
        init_betas=rng.random(10), is_new=tid == 7) for tid in (7, 3)]
    K = np.array([[500.0, 0.0, 320.5], [0.0, 501.0, 240.25], [0.0, 0.0, 1.0]])
    return FrontEndResult(STAMP, "cam_optical", K, (640, 480), obs, [2, 5], {"detect": 1.0})


def test_front_end_result_round_trip(typestore):
    fe = _front_end_result()
    raw = typestore.serialize_cdr(C.frontend_result_to_msg(RosbagsFactory(typestore), fe),
                                  C.PERSON_OBS_ARRAY)
    back = C.msg_to_frontend_result(typestore.deserialize_cdr(raw, C.PERSON_OBS_ARRAY))
    assert (back.stamp_ns, back.frame_id, back.res) == (STAMP, "cam_optical", (640, 480))
    np.testing.assert_array_equal(back.K, fe.K)
    assert back.ended_track_ids == [2, 5]
    assert [ob.track_id for ob in back.observations] == [3, 7]  # ascending track id
    assert [ob.is_new for ob in back.observations] == [False, True]
    np.testing.assert_allclose(back.observations[1].features, fe.observations[0].features)
    np.testing.assert_array_equal(back.observations[0].mask, fe.observations[1].mask)


def test_front_end_result_rclpy_equals_rosbags(ros, rclpy_factory, typestore):
    from rclpy.serialization import deserialize_message, serialize_message

    fe = _front_end_result()
    from_rclpy = bytes(serialize_message(C.frontend_result_to_msg(rclpy_factory, fe)))
    from_rosbags = bytes(typestore.serialize_cdr(
        C.frontend_result_to_msg(RosbagsFactory(typestore), fe), C.PERSON_OBS_ARRAY))
    cls = rclpy_factory.cls(C.PERSON_OBS_ARRAY)
    assert deserialize_message(from_rosbags, cls) == deserialize_message(from_rclpy, cls)
    back = C.msg_to_frontend_result(deserialize_message(from_rclpy, cls))  # rclpy message in
    assert back.ended_track_ids == [2, 5] and back.res == (640, 480)


def test_rep155_messages_rclpy_equal_rosbags(ros, rclpy_factory, typestore, result):
    """The REP-155 messages are the same bytes from both factories (hri_msgs generated from its .msg)."""
    from rclpy.serialization import deserialize_message, serialize_message

    from wham_ros.ros.hri import Rep155Bodies

    pytest.importorskip("hri_msgs.msg", reason="no hri_msgs build (run bash tools/build_ros.sh)")
    ours, started, ended = Rep155Bodies().update(rclpy_factory, result)
    theirs, _, _ = Rep155Bodies().update(RosbagsFactory(typestore), result)
    assert started == ["b1", "b2", "b3"] and ended == []
    assert [m.topic for m in ours] == [m.topic for m in theirs]
    assert sum(m.latched for m in ours) == 3  # one URDF per body
    for a, b in zip(ours, theirs):  # both decode (rclpy) to the same message
        cls = rclpy_factory.cls(a.msgtype)
        raw = bytes(typestore.serialize_cdr(b.msg, b.msgtype))
        assert deserialize_message(raw, cls) == deserialize_message(serialize_message(a.msg), cls), a.topic


def test_person_observations_keep_their_documented_relations(typestore, synthetic_models):
    """PersonObservation(Array).msg on the real front-end (synthetic models, flip-eval):
    mask = confidence < 0.3, the documented lengths, ascending track ids, k/width/height."""
    from synthetic_set import load_paths
    from wham_ros.pipeline import build_frontend
    from wham_ros.testing.scenes import make_scene
    from wham_ros.testing.synthetic_models import synthetic_pipeline_config

    frontend = build_frontend(synthetic_pipeline_config(load_paths(synthetic_models),
                                                        flip_eval=True))
    scene = make_scene(8, people=3)
    f = RosbagsFactory(typestore)
    people = 0
    for frame in scene.frames:
        msg = C.frontend_result_to_msg(f, frontend.process(frame))
        assert (msg.width, msg.height) == (640, 480)
        np.testing.assert_array_equal(msg.k.reshape(3, 3), scene.K)
        ids = [p.track_id for p in msg.people]
        assert ids == sorted(ids)
        for p in msg.people:
            people += 1
            conf = p.keypoints.reshape(17, 3)[:, 2]
            np.testing.assert_array_equal(p.mask, conf < 0.3)
            assert len(p.init_global_orient) in (0, 9) and len(p.init_body_pose) in (0, 207)
            assert len(p.init_betas) in (0, 10)
            assert (len(p.flipped_x), len(p.flipped_mask), len(p.flipped_features)) == (37, 17, 1024)
            assert len(p.flipped_init_global_orient) in (0, 9)
            assert len(p.flipped_init_body_pose) in (0, 207) and len(p.flipped_init_betas) in (0, 10)
            assert np.all(np.isfinite(p.x)) and np.all(np.isfinite(p.features))
    assert people >= 3  # confirmed tracks were there to check
