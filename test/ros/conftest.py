"""Fixtures for tests against the real ROS 2 build (rclpy + generated messages)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ros_env  # noqa: E402


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

