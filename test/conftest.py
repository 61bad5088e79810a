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
def typestore():
    """rosbags typestore with this package's messages registered from msg/."""
    from wham_ros.bag.typestore import make_typestore

    return make_typestore()


@pytest.fixture(scope="session")
def synthetic_models(tmp_path_factory):
    """Path of ``paths.json`` of the session's synthetic model set (see synthetic_set.py)."""
    import synthetic_set

    return synthetic_set.synthetic_model_set(tmp_path_factory)


@pytest.fixture(scope="session")
def wham_state_dict(wham_keys_path):
    """The 83 learned entries (numpy float32) by the fixture's weight rule."""
    from wham_ros.testing.synthetic_wham import learned_shapes_from_keys_json, wham_state_dict
    return wham_state_dict(learned_shapes_from_keys_json(wham_keys_path))


class FrontendParity:
    """Front-end parity fixture data (test/data/frontend_parity) + the name-seeded weight rule."""

    dir = os.path.join(DATA, "frontend_parity")

    def load_keys(self, which):
        """'vitpose' or 'hmr2' -> name -> {shape, dtype, source, sha256}."""
        import json
        with open(os.path.join(self.dir, f"keys_{which}.json")) as fh:
            return json.load(fh)["state_dict"]

    def synthetic_state_dict(self, which):
        """Whole synthetic state dict of 'vitpose' (403 entries) or 'hmr2' (503 entries)."""
        from wham_ros.testing.synthetic_frontend import synthetic_tensor
        return {n: synthetic_tensor(n, i["shape"]) for n, i in self.load_keys(which).items()}

    def load_reference(self, name):
        """Arrays of ``<name>.npz`` of the fixture copy."""
        import numpy as np
        with np.load(os.path.join(self.dir, f"{name}.npz")) as data:
            return {k: data[k] for k in data.files}

    @staticmethod
    def sha256_of(a):
        from wham_ros.testing.synthetic_frontend import sha256_of
        return sha256_of(a)


@pytest.fixture(scope="session")
def parity():
    """Front-end parity helper (see :class:`FrontendParity`)."""
    return FrontendParity()
