"""Bag tests: make test/bag and test/ros (pipeline double) importable; shared typestore."""
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "ros"))
sys.path.insert(0, str(HERE))
import synthetic_set  # noqa: E402  (test/ros)


@pytest.fixture(scope="session")
def typestore():
    from wham_ros.bag.typestore import make_typestore

    return make_typestore()


@pytest.fixture(scope="session")
def synthetic_models(tmp_path_factory):
    """Path of ``paths.json`` of the session's synthetic model set (see test/ros/synthetic_set.py)."""
    return synthetic_set.synthetic_model_set(tmp_path_factory)
