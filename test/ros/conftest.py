"""Fixtures for tests against the real ROS 2 build (rclpy + generated messages)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402
import synthetic_set  # noqa: E402


@pytest.fixture(scope="session")
def ros():
    """Activates build/ros_install; skips with the reason when it is absent."""
    ok, reason = ros_env.check()
    if not ok:
        pytest.skip(reason)
    ros_env.activate()
    return ros_env


@pytest.fixture
def rclpy_factory(ros):
    from wham_ros.ros.factory import RclpyFactory

    return RclpyFactory()


@pytest.fixture(scope="session")
def typestore():
    from wham_ros.bag.typestore import make_typestore

    return make_typestore()


@pytest.fixture(scope="session")
def synthetic_models(tmp_path_factory):
    """Path of ``paths.json`` of the session's synthetic model set (see synthetic_set.py)."""
    return synthetic_set.synthetic_model_set(tmp_path_factory)
