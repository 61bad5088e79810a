"""SMPL body model (neutral) with WHAM's extra regressors.

Units: metres. Frames: the model frame (SMPL's: y up, for the template; WHAM's
outputs rotate it with the predicted root). Rotations are 3x3 matrices on column
vectors. All outputs of :meth:`SMPLBody.forward` are **hip-centred** as in WHAM: the
offset is the mean of WHAM joints 11 and 12 (COCO hips).
"""
import logging
import os
import threading
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from wham_ros.assets.safe_load import ModelFileReadError, load_npy_file, load_npz_file
from wham_ros.body.joint_names import NUM_WHAM_JOINTS, SMPL_PARENTS, WHAM_HIP_JOINTS
from wham_ros.body.lbs import ChainBuffers, blend_shapes, skin, vertices2joints
from wham_ros.body.model_file import SMPL_ARRAY_SHAPES, BodyModelError

LOG = logging.getLogger(__name__)


@dataclass
class BodyOutput:
    """Hip-centred SMPL outputs (model frame rotated by the given root).

    Attributes:
        joints: (B, 31, 3) WHAM joints (17 COCO + 14), hip-centred.
        feet: (B, 4, 3) WHAM foot contact points, hip-centred.
        offset: (B, 3) hip centre before centring (mean of WHAM joints 11, 12).
        smpl_joints: (B, 24, 3) SMPL kinematic joints, hip-centred.
        vertices: (B, 6890, 3) hip-centred mesh, or None if not requested.
    """

    joints: torch.Tensor
    feet: torch.Tensor
    offset: torch.Tensor
    smpl_joints: torch.Tensor
    vertices: Optional[torch.Tensor] = None


def read_body_model_dir(body_model_dir: str) -> Dict[str, np.ndarray]:
    """Read SMPL arrays and WHAM regressors from a WHAM-style body model directory.

    Layout (as WHAM's ``dataset/body_models``): ``smpl/SMPL_NEUTRAL.npz`` (preferred; see
    ``wham-ros convert-smpl``) or ``smpl/SMPL_NEUTRAL.pkl``, ``J_regressor_wham.npy``,
    ``J_regressor_feet.npy``.

    Returns:
        dict of float arrays with the keys of :data:`SMPL_ARRAY_SHAPES` plus
        ``J_regressor_wham`` (31, 6890) and ``J_regressor_feet`` (4, 6890).

    Raises:
        BodyModelError: naming the file and what is wrong.
    """
    from wham_ros.body.convert import check_smpl_arrays, load_smpl_pickle

    smpl_dir = os.path.join(body_model_dir, "smpl")
    npz = os.path.join(smpl_dir, "SMPL_NEUTRAL.npz")
    pkl = os.path.join(smpl_dir, "SMPL_NEUTRAL.pkl")
    if os.path.isfile(npz):
        try:
            arrays = load_npz_file(npz, SMPL_ARRAY_SHAPES)
        except ModelFileReadError as exc:
            raise BodyModelError(f"Cannot read SMPL model '{npz}': {exc.reason}") from exc
        src = npz
    elif os.path.isfile(pkl):
        LOG.warning("Loading pickled SMPL model '%s'; convert it once with "
                    "'wham-ros convert-smpl %s %s' to avoid unpickling at run time.", pkl, pkl, npz)
        arrays = load_smpl_pickle(pkl)
        src = pkl
    else:
        raise BodyModelError(
            f"SMPL model not found: expected '{npz}' (or '{pkl}'). Download SMPL_NEUTRAL from "
            "https://smpl.is.tue.mpg.de (registration, non-commercial licence) and convert it "
            "with 'wham-ros convert-smpl'.")
    check_smpl_arrays(arrays, f"SMPL model '{src}'")
    for name, rows in (("J_regressor_wham", NUM_WHAM_JOINTS), ("J_regressor_feet", 4)):
        path = os.path.join(body_model_dir, name + ".npy")
        if not os.path.isfile(path):
            raise BodyModelError(f"WHAM joint regressor not found: '{path}' (ships with WHAM's "
                                 "'fetch_demo_data.sh' body models)")
        try:
            reg = load_npy_file(path)
        except ModelFileReadError as exc:
            raise BodyModelError(f"Cannot read '{path}': {exc.reason}") from exc
        if reg.shape != (rows, 6890) or reg.dtype.kind not in "biuf":
            raise BodyModelError(f"'{path}' has shape {reg.shape} ({reg.dtype}), expected "
                                 f"({rows}, 6890) numbers")
        arrays[name] = reg
    return arrays


class SMPLBody(nn.Module):
    """SMPL with WHAM's joint (31) and foot (4) regressors, skinning on demand.

    Buffers hold everything (``.to(device, dtype)`` works). ``forward`` skins only the
    vertices that WHAM's joint and foot regressors use unless the full mesh is requested,
    which gives exactly the same joints and feet for a fraction of the work.
    """

    def __init__(self, arrays: Dict[str, np.ndarray], dtype=torch.float32):
        super().__init__()
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype)  # noqa: E731
        n_betas = arrays["shapedirs"].shape[-1]
        self.num_betas = min(n_betas, 10)
        parents = np.asarray(arrays["kintree_table"][0], dtype=np.int64).copy()
        parents[0] = -1
        if parents.tolist() != SMPL_PARENTS:
            LOG.warning("SMPL kinematic tree differs from the standard SMPL parents")
        self.register_buffer("parents", torch.as_tensor(parents))
        self.parent_list = tuple(int(p) for p in parents)  # host copy: no device sync in lbs
        # Forward kinematics buffers per (batch size, dtype, device, thread), kept for the
        # model's life: a captured CUDA graph keeps writing the ones it was captured with
        self._chain_buffers: Dict[tuple, ChainBuffers] = {}
        hips = sorted(WHAM_HIP_JOINTS)  # the hip centre's joints as a slice (a view, no gather)
        self.hip_slice = (slice(hips[0], hips[-1] + 1) if hips == list(range(hips[0], hips[-1] + 1))
                          else list(hips))
        self.register_buffer("faces", torch.as_tensor(np.asarray(arrays["f"], dtype=np.int64)))
        self.register_buffer("v_template", t(arrays["v_template"]))
        self.register_buffer("shapedirs", t(arrays["shapedirs"][..., :self.num_betas]))
        # smplx layout: (207, V*3), row = pose feature, column = 3 v + k
        self.register_buffer("posedirs", t(np.reshape(arrays["posedirs"], (-1, 207)).T))
        self.register_buffer("J_regressor", t(arrays["J_regressor"]))
        self.register_buffer("lbs_weights", t(arrays["weights"]))
        self.register_buffer("J_regressor_wham", t(arrays["J_regressor_wham"]))
        self.register_buffer("J_regressor_feet", t(arrays["J_regressor_feet"]))
        self.refresh()

    def refresh(self) -> None:
        """(Re)compute the buffers derived from the model arrays; call after changing them.

        * The vertex subset used by the WHAM joint + foot regressors (``sub_*``).
        * The rest joints as a linear function of the shape (they are linear in the
          template): ``J(betas) = J_template + J_shapedirs . betas`` with
          ``J_template = J_regressor v_template`` (24, 3) and
          ``J_shapedirs[j,k,s] = sum_v J_regressor[j,v] shapedirs[v,k,s]`` (24, 3, S),
          computed in float64.
        """
        used = torch.nonzero((self.J_regressor_wham.abs().sum(0)
                              + self.J_regressor_feet.abs().sum(0)) > 0)[:, 0]
        self.register_buffer("sub_idx", used)
        used3 = (used[:, None] * 3 + torch.arange(3, device=used.device)).reshape(-1)
        self.register_buffer("sub_v_template", self.v_template[used].clone())
        self.register_buffer("sub_shapedirs", self.shapedirs[used].clone())
        self.register_buffer("sub_posedirs", self.posedirs[:, used3].clone())
        self.register_buffer("sub_lbs_weights", self.lbs_weights[used].clone())
        self.register_buffer("sub_J_regressor_wham", self.J_regressor_wham[:, used].clone())
        self.register_buffer("sub_J_regressor_feet", self.J_regressor_feet[:, used].clone())
        self.register_buffer("identity3", torch.eye(3, dtype=self.v_template.dtype,
                                                    device=self.v_template.device))
        self._derive_rest_joints()

    def _derive_rest_joints(self) -> None:
        reg = self.J_regressor.double()
        dt = self.v_template.dtype
        self.register_buffer("J_template", (reg @ self.v_template.double()).to(dt))
        self.register_buffer("J_shapedirs",
                             torch.einsum("jv,vks->jks", reg, self.shapedirs.double()).to(dt))

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self._chain_buffers.clear()
        self._derive_rest_joints()  # from the converted arrays, in float64 (dtype changes)
        return self

    @classmethod
    def from_dir(cls, body_model_dir: str, device="cpu", dtype=torch.float32) -> "SMPLBody":
        """Build from a WHAM-style body model directory (see :func:`read_body_model_dir`)."""
        return cls(read_body_model_dir(body_model_dir), dtype=dtype).to(device)

    def chain_buffers(self, rot: torch.Tensor) -> ChainBuffers:
        """This thread's forward kinematics buffers for rotations ``rot`` (B, J, 3, 3) (batch
        size, dtype and device), made on first use."""
        key = (rot.shape[0], rot.dtype, rot.device, threading.get_ident())
        buffers = self._chain_buffers.get(key)
        if buffers is None:
            buffers = self._chain_buffers[key] = ChainBuffers(rot.shape[0], self.parent_list,
                                                              rot.dtype, rot.device)
        return buffers

    def forward(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor,
                full_mesh: bool = False) -> BodyOutput:
        """Pose the body.

        Args:
            global_orient (torch.Tensor): (B, 1, 3, 3) root rotation.
            body_pose (torch.Tensor): (B, 23, 3, 3) parent-relative joint rotations.
            betas (torch.Tensor): (B, 10) shape.
            full_mesh: also return the (B, 6890, 3) mesh.

        Returns:
            BodyOutput, hip-centred.
        """
        rot = torch.cat([global_orient.reshape(-1, 1, 3, 3), body_pose.reshape(-1, 23, 3, 3)], 1)
        return self.pose(rot, betas, full_mesh)

    def pose(self, rot: torch.Tensor, betas: torch.Tensor, full_mesh: bool = False) -> BodyOutput:
        """:meth:`forward` with all rotations in one tensor.

        Args:
            rot (torch.Tensor): (B, 24, 3, 3) root rotation, then the parent-relative ones.
            betas (torch.Tensor): (B, 10) shape.
            full_mesh: also return the (B, 6890, 3) mesh.

        Returns:
            BodyOutput, hip-centred.
        """
        if betas.dim() != 2 or betas.shape[1] != self.num_betas:  # (the step's are (B, 10))
            betas = betas.reshape(-1, betas.shape[-1])[:, :self.num_betas]
        # Rest joints of the shaped template: B x 24 x 3
        rest_joints = self.J_template + blend_shapes(betas, self.J_shapedirs)
        if full_mesh:
            vt, sd, pd, w = self.v_template, self.shapedirs, self.posedirs, self.lbs_weights
            reg_wham, reg_feet = self.J_regressor_wham, self.J_regressor_feet
        else:  # only the vertices the regressors use
            vt, sd, pd, w = (self.sub_v_template, self.sub_shapedirs, self.sub_posedirs,
                             self.sub_lbs_weights)
            reg_wham, reg_feet = self.sub_J_regressor_wham, self.sub_J_regressor_feet
        pts, smpl_joints = skin(vt + blend_shapes(betas, sd), rot, pd, rest_joints, self.parents,
                                w, self.parent_list, self.identity3, self.chain_buffers(rot))
        joints = vertices2joints(reg_wham, pts)  # B x 31 x 3
        feet = vertices2joints(reg_feet, pts)  # B x 4 x 3
        offset = joints[:, self.hip_slice].mean(-2)  # B x 3
        c = offset.unsqueeze(-2)
        return BodyOutput(joints=joints - c, feet=feet - c, offset=offset,
                          smpl_joints=smpl_joints - c, vertices=pts - c if full_mesh else None)
