"""Bag tests: make test/bag and test/ros (pipeline double) importable; shared typestore."""
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "ros"))
sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def typestore():
    from wham_ros.bag.typestore import make_typestore

    return make_typestore()
