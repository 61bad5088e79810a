"""Track start inputs from the HMR2.0 estimate reproduce the demo's init tensors."""
import os

import numpy as np
import pytest
import torch

from wham_ros.body import SMPLBody
from wham_ros.wham import make_track_init

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                    "wham_parity")


@pytest.mark.parametrize("T,prefix", [(24, ""), (60, ""), (24, "flipped_")])
def test_init_tensors_match_fixture(body_model_dir, T, prefix):
    i = np.load(os.path.join(DATA, f"inputs_T{T}.npz"))
    smpl = SMPLBody.from_dir(body_model_dir, dtype=torch.float32)
    g = lambda k: torch.from_numpy(i["raw_" + prefix + k])  # noqa: E731
    kp, sm, root = make_track_init(smpl, g("init_global_orient"), g("init_body_pose"),
                                   g("init_betas"), torch.from_numpy(i[prefix + "x"][:, 0]))
    assert np.abs(kp.numpy() - i[prefix + "init_kp"][:, 0]).max() < 1e-6
    assert np.abs(sm.numpy() - i[prefix + "init_smpl"][:, 0]).max() < 1e-6
    assert np.abs(root.numpy() - i[prefix + "init_root"][:, 0]).max() < 1e-6


def test_root_in_world_replaces_camera_root(body_model_dir):
    i = np.load(os.path.join(DATA, "inputs_T24.npz"))
    smpl = SMPLBody.from_dir(body_model_dir)
    level = torch.tensor([[1.0, 0, 0], [0, 0.8, -0.6], [0, 0.6, 0.8]])
    go = torch.from_numpy(i["raw_init_global_orient"])
    kp, _, root = make_track_init(smpl, go, torch.from_numpy(i["raw_init_body_pose"]),
                                  torch.from_numpy(i["raw_init_betas"]),
                                  torch.from_numpy(i["x"][:, 0]), root_in_world=level @ go[:, 0])
    expect = (level @ go[0, 0])[:2].reshape(-1)
    assert torch.allclose(root[0], expect, atol=1e-6)
    # joints in init_kp stay camera-root based (as WHAM): unchanged by the world root
    assert np.abs(kp.numpy() - i["init_kp"][:, 0]).max() < 1e-6
