"""Shared fixtures: synthetic WHAM weights and body model (fixture rules, no licensed files)."""
import os

import pytest

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.fixture(scope="session")
def wham_keys_path():
    return os.path.join(DATA, "wham_parity", "keys.json")


@pytest.fixture(scope="session")
def smpl_arrays():
    from wham_ros.testing.synthetic_wham import synthetic_smpl_arrays
    return synthetic_smpl_arrays()


@pytest.fixture(scope="session")
def body_model_dir(tmp_path_factory, smpl_arrays):
    from wham_ros.testing.synthetic_wham import write_body_model_dir
    return write_body_model_dir(str(tmp_path_factory.mktemp("body_models")), smpl_arrays)


@pytest.fixture(scope="session")
def wham_state_dict(wham_keys_path):
    """The 83 learned entries (numpy float32) by the fixture's weight rule."""
    from wham_ros.testing.synthetic_wham import learned_shapes_from_keys_json, wham_state_dict
    return wham_state_dict(learned_shapes_from_keys_json(wham_keys_path))
