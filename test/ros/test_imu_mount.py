"""Where the IMU -> camera rotation comes from on a robot: TF when ``imu_to_camera_quat_xyzw``
is left at identity, never TF when the parameter is set (even while the node listens to TF for
``publish_camera_tf`` or a fixed frame)."""
import logging
from types import SimpleNamespace

import numpy as np
import pytest

R_TF = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # REP-103 body -> optical


class FakeTf:
    """Stands in for tf2 (not buildable here, issue 18): one IMU mount in the tree."""

    def __init__(self, node):
        self.asked = []

    def rotation(self, target, source):
        self.asked.append((target, source))
        return R_TF

    def close(self):
        pass


def fake_node(quat, camera_motion="imu", publish_camera_tf=True):
    set_rotations = []
    node = SimpleNamespace(
        _values={"fixed_frame": "", "camera_motion": camera_motion,
                 "imu_to_camera_quat_xyzw": quat, "publish_camera_tf": publish_camera_tf,
                 "tf_timeout_s": 1.0},
        _warned=set(), _imu_frame="imu_link", _tf=None,
        _pipe=SimpleNamespace(set_camera_imu_rotation=set_rotations.append),
        get_logger=lambda: logging.getLogger("test_imu_mount"))
    return node, set_rotations


@pytest.fixture
def base_node(ros, monkeypatch):
    from wham_ros.ros import base_node

    monkeypatch.setattr(base_node, "NodeTf", FakeTf)
    return base_node.PipelineNodeBase


@pytest.mark.parametrize("publish_camera_tf", [True, False])
def test_identity_quaternion_takes_the_mount_from_tf_once(base_node, publish_camera_tf):
    node, set_rotations = fake_node([0.0, 0.0, 0.0, 1.0], publish_camera_tf=publish_camera_tf)
    assert base_node._start_tf(node)
    for _ in range(3):
        base_node._camera_imu_rotation(node, "camera_color_optical_frame")
    assert len(set_rotations) == 1 and np.array_equal(set_rotations[0], R_TF)
    assert node._tf.asked == [("camera_color_optical_frame", "imu_link")]


@pytest.mark.parametrize("quat, camera_motion", [([0.5, -0.5, 0.5, 0.5], "imu"),
                                                 ([0.0, 0.0, 0.0, 1.0], "static")])
def test_a_set_quaternion_or_no_imu_motion_never_asks_tf(base_node, quat, camera_motion):
    """TF listened to for publish_camera_tf (on by default): the set parameter still wins, and
    no rotation lookup is made per frame."""
    node, set_rotations = fake_node(quat, camera_motion)
    assert base_node._start_tf(node)
    assert isinstance(node._tf, FakeTf)  # listening (publish_camera_tf)
    for _ in range(3):
        base_node._camera_imu_rotation(node, "camera_color_optical_frame")
    assert set_rotations == [] and node._tf.asked == []
