"""Messages as arrays: CDR bytes from numpy equal the object messages' serialisation."""
import numpy as np
import pytest

from fake_pipeline import FACES, FakeConfig, FakePipeline
from wham_ros.ros import conversions as C
from wham_ros.ros import markers as M
from wham_ros.ros import outputs, serialization
from wham_ros.ros.factory import RosbagsFactory
from wham_ros.ros.serialization import CdrFactory
from wham_ros.types import CameraFrame

STAMP = 1_234_567_890_123
VALUES = {"contact_threshold": 0.5, "publish_vertices": True, "publish_tf": True,
          "publish_camera_tf": True}


def frame(num_people):
    pipe = FakePipeline(FakeConfig(publish_vertices=True, num_people=num_people,
                                   world_frame_id="odom"))
    return pipe.process(CameraFrame(stamp_ns=STAMP, image=np.zeros((4, 4, 3), np.uint8),
                                    frame_id="cam_optical"))


BUILDERS = [
    ("humans", C.HUMAN_ARRAY, lambda f, r: C.result_to_msg(f, r, 0.5, False)),
    ("humans_vertices", C.HUMAN_ARRAY, lambda f, r: C.result_to_msg(f, r, 0.5, True)),
    ("tf", C.TF_MESSAGE, lambda f, r: C.tf_msg(f, r, True, True)),
    ("markers", M.MARKER_ARRAY, lambda f, r: M.skeleton_markers(f, r, 0.5)),
    ("mesh", M.MARKER_ARRAY, lambda f, r: M.mesh_markers(f, r, FACES)),
    ("mesh_no_faces", M.MARKER_ARRAY, lambda f, r: M.mesh_markers(f, r, None)),
    ("faces", C.MESH_FACES, lambda f, r: C.faces_to_msg(f, FACES, 30, STAMP)),
]


def padding_mask(build, typestore, result, monkeypatch):
    """True at the alignment padding bytes of ``build``'s CDR form (found by re-padding)."""
    zero = CdrFactory(typestore).serialize(build(CdrFactory(typestore), result))
    with monkeypatch.context() as m:
        m.setattr(serialization, "_PAD", tuple(b"\xff" * n for n in range(8)))
        ones = CdrFactory(typestore).serialize(build(CdrFactory(typestore), result))
    return np.frombuffer(zero, np.uint8) != np.frombuffer(ones, np.uint8)


@pytest.mark.parametrize("num_people", [0, 1, 4])
@pytest.mark.parametrize("name,typename,build", BUILDERS, ids=[b[0] for b in BUILDERS])
def test_bytes_equal_rosbags_serialisation(typestore, num_people, name, typename, build):
    result = frame(num_people)
    mine = CdrFactory(typestore).serialize(build(CdrFactory(typestore), result))
    assert mine == bytes(typestore.serialize_cdr(build(RosbagsFactory(typestore), result), typename))


@pytest.mark.parametrize("num_people", [0, 1, 4])
@pytest.mark.parametrize("name,typename,build", BUILDERS, ids=[b[0] for b in BUILDERS])
def test_bytes_equal_rclpy_serialisation(ros, rclpy_factory, typestore, monkeypatch, num_people,
                                         name, typename, build):
    from rclpy.serialization import deserialize_message, serialize_message

    result = frame(num_people)
    mine = CdrFactory(typestore).serialize(build(CdrFactory(typestore), result))
    obj = build(rclpy_factory, result)
    theirs = bytes(serialize_message(obj))
    assert len(mine) == len(theirs)
    # rclpy leaves alignment padding uninitialised: every other byte must be the same.
    data = ~padding_mask(build, typestore, result, monkeypatch)
    np.testing.assert_array_equal(np.frombuffer(mine, np.uint8)[data],
                                  np.frombuffer(theirs, np.uint8)[data])
    cls = rclpy_factory.cls(typename)  # (objects keep float32 fields unrounded: decode both)
    assert deserialize_message(mine, cls) == deserialize_message(theirs, cls)


def test_padding_mask_finds_padding(typestore, monkeypatch):
    # A Marker's int32 action is followed by 4 bytes of padding before the float64 pose.
    mask = padding_mask(BUILDERS[4][2], typestore, frame(1), monkeypatch)
    assert 0 < mask.sum() < 64


def test_frame_output_bytes_are_the_conversions(typestore):
    result = frame(4)
    rb = RosbagsFactory(typestore)
    data = outputs.frame_output_bytes(CdrFactory(typestore), result, VALUES, FACES, mesh=True)
    assert data["humans"] == typestore.serialize_cdr(C.result_to_msg(rb, result, 0.5, True), C.HUMAN_ARRAY)
    assert data["tf"] == typestore.serialize_cdr(C.tf_msg(rb, result, True, True), C.TF_MESSAGE)
    assert data["markers"] == typestore.serialize_cdr(M.skeleton_markers(rb, result, 0.5), M.MARKER_ARRAY)
    assert data["mesh"] == typestore.serialize_cdr(M.mesh_markers(rb, result, FACES), M.MARKER_ARRAY)
    none = outputs.frame_output_bytes(CdrFactory(typestore), frame(0),
                                      {**VALUES, "publish_camera_tf": False}, FACES, mesh=False)
    assert set(none) == {"humans", "markers"}


def test_factory_reuses_gather_buffers_without_aliasing(typestore):
    f = CdrFactory(typestore)
    first = f.serialize(M.mesh_markers(f, frame(4), FACES))
    again = f.serialize(M.mesh_markers(f, frame(1), FACES))
    assert first == CdrFactory(typestore).serialize(M.mesh_markers(f, frame(4), FACES))
    assert again == CdrFactory(typestore).serialize(M.mesh_markers(f, frame(1), FACES))


def test_bad_fields_fail_when_built(typestore):
    f = CdrFactory(typestore)
    with pytest.raises(TypeError, match="no field"):
        f.new(C.MESH_FACES, triangle=np.zeros(3))
    with pytest.raises(ValueError, match="needs 4 values"):
        f.serialize(f.new(C.HUMAN, bbox_xyxy=np.zeros(3)))
    with pytest.raises(ValueError, match=r"needs \(24, 3\)|needs 24"):
        f.serialize(f.new(C.HUMAN, smpl_joints_cam=f.points(np.zeros((23, 3)))))


def test_rotations_are_converted_once_per_frame(typestore, monkeypatch):
    calls = []
    real = C.human_rotations
    monkeypatch.setattr(C, "human_rotations", lambda humans: calls.append(len(humans)) or real(humans))
    outputs.frame_output_bytes(CdrFactory(typestore), frame(4), VALUES, FACES, mesh=True)
    assert calls == [4]
