"""Linear blend skinning for SMPL-format body models, as pure functions.

Every tensor is an argument; nothing is created on the default device or dtype.
Rotations are 3x3 matrices acting on column vectors. Units are those of the model
files (metres for SMPL).
"""
import functools
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F


def blend_shapes(betas: torch.Tensor, shapedirs: torch.Tensor) -> torch.Tensor:
    """Shape displacement per vertex.

    Args:
        betas (torch.Tensor): (B, S) shape coefficients.
        shapedirs (torch.Tensor): (V, 3, S) shape blend shapes.

    Returns:
        torch.Tensor: (B, V, 3) displacements; ``d[b,v,k] = sum_s betas[b,s] shapedirs[v,k,s]``.
    """
    # One (B, S) x (S, V*3) product: the same bits as the einsum, without its set-up cost.
    return (betas @ shapedirs.reshape(-1, shapedirs.shape[-1]).T).reshape(
        betas.shape[0], -1, 3)


def vertices2joints(regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Joints as fixed linear combinations of vertices.

    Args:
        regressor (torch.Tensor): (J, V).
        vertices (torch.Tensor): (B, V, 3).

    Returns:
        torch.Tensor: (B, J, 3); ``j[b,i,k] = sum_v regressor[i,v] vertices[b,v,k]``.
    """
    # The one product torch.einsum("bvk,jv->bjk", vertices, regressor) runs, without its
    # planning: B = 1: (1, J, V) x (1, V, 3); else (1, 3B, V) x (1, V, J), the result read
    # as B x J x 3 (a transposed view, as einsum returns it).
    B, V = vertices.shape[:2]
    if B == 1:
        return torch.bmm(regressor.unsqueeze(0), vertices)
    vt = vertices.transpose(1, 2).reshape(1, 3 * B, V)  # 1 x 3B x V (a copy)
    return torch.bmm(vt, regressor.t().unsqueeze(0)).view(B, 3, -1).transpose(1, 2)


@functools.lru_cache(maxsize=8)
def chain_schedule(parents: Tuple[int, ...]) -> Tuple[Tuple[int, int, int, bool], ...]:
    """Forward kinematics in few batched products: runs of consecutive joints whose parents
    are all posed before the run and are one joint (shared) or consecutive joints.

    Args:
        parents: parent index per joint, ``parents[0] = -1``.

    Returns:
        per run ``(start, end, parent_start, shared)``: joints ``start..end-1`` have the parent
        ``parent_start`` (shared) or the parents ``parent_start + (j - start)``. SMPL: 9 runs
        for joints 1..23.

    Raises:
        ValueError: a parent that does not precede its child.
    """
    runs = []
    for j in range(1, len(parents)):
        p = parents[j]
        if not 0 <= p < j:
            raise ValueError(f"parent of joint {j} is {p}: parents must precede their children")
        if runs:
            start, end, p_start, shared = runs[-1]
            if end == j and p < start:
                if (shared or end - start == 1) and p == p_start:
                    runs[-1] = (start, j + 1, p_start, True)
                    continue
                if not shared and p == p_start + (end - start):
                    runs[-1] = (start, j + 1, p_start, False)
                    continue
        runs.append((j, j + 1, p, False))
    return tuple(runs)


class ChainBuffers:
    """The transforms :func:`rigid_transforms` builds, allocated once for a batch size, dtype
    and device, and the views its products read and write (a call then runs the products
    without slicing).

    Joint-major (J B) x 4 x 4 blocks: the local transforms (their last row ``(0, 0, 0, 1)``
    written once) and the world transforms; the transforms of a run of joints
    (:func:`chain_schedule`) are one contiguous block, and a run whose joints share one
    parent reads that parent's transform repeated into a block of its own.

    Args:
        batch: B.
        parents: parent index per joint (host integers), ``parents[0] = -1``.
        dtype, device: of the tensors it will serve.
    """

    def __init__(self, batch: int, parents: Sequence[int], dtype: torch.dtype,
                 device: torch.device):
        B, J = batch, len(parents)
        local = torch.zeros(J, B, 4, 4, dtype=dtype, device=device)
        local[..., 3, 3] = 1.0
        self.local_top = local[..., :3, :]  # J x B x 3 x 4: [R | t] of every joint
        self.child_t = local[1:, :, :3, 3]  # (J-1) x B x 3: t of every joint but the root
        self.parent_index = torch.tensor(parents[1:], dtype=torch.int64, device=device)
        local = local.view(J * B, 4, 4)
        world = torch.empty(J * B, 4, 4, dtype=dtype, device=device)
        self.root = (world[:B], local[:B])  # (world, local) of the root
        # per run: (parents' world transforms, repeated-parent block and its source or None,
        # local transforms, world transforms written)
        self.runs = []
        for s, e, p, shared in chain_schedule(tuple(parents)):
            rep = src = None
            parent = world[p * B:(p + e - s) * B]
            if shared:
                parent = torch.empty((e - s) * B, 4, 4, dtype=dtype, device=device)
                rep = parent.view(e - s, B, 4, 4)
                src = world[p * B:(p + 1) * B].expand(e - s, B, 4, 4)
            self.runs.append((parent, rep, src, local[s * B:e * B], world[s * B:e * B]))
        self.world_rot = world[:, :3, :3]  # (J B) x 3 x 3
        self.world = world.view(J, B, 4, 4).transpose(0, 1)  # B x J x 4 x 4 (a view)


def rigid_transforms(rot_mats: torch.Tensor, joints: torch.Tensor, parents: torch.Tensor,
                     parent_list: Optional[Sequence[int]] = None,
                     buffers: Optional[ChainBuffers] = None
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Forward kinematics along the kinematic tree.

    Each world transform is its parent's world transform times its local transform, one
    (4x4) @ (4x4) product per joint; the products of a run of siblings or cousins
    (:func:`chain_schedule`) are computed in one ``torch.bmm`` (the same products).

    Args:
        rot_mats (torch.Tensor): (B, J, 3, 3) parent-relative joint rotations (joint 0 = root).
        joints (torch.Tensor): (B, J, 3) rest-pose joint locations.
        parents (torch.Tensor): (J,) int64 parent index per joint, ``parents[0] = -1``;
            every parent precedes its children.
        parent_list: the same parents as host integers (None: read from ``parents``, one
            device-to-host copy; give it to keep a CUDA step free of host synchronisation).
        buffers: :class:`ChainBuffers` of this batch size, parents, dtype and device to work
            in (None: new ones). Not thread-safe: one call at a time per buffers object.

    Returns:
        (posed_joints (B, J, 3), rel_transforms (B, J, 4, 4)), each in its own memory: world
        joint positions and the transforms that map rest-pose vertices (relative to the rest
        joint) to posed ones.
    """
    B, J = joints.shape[:2]
    if buffers is None:
        parent_list = parents.tolist() if parent_list is None else parent_list
        buffers = ChainBuffers(B, parent_list, joints.dtype, joints.device)
    # Local transforms [R | t; 0 1], joint-major (J x B x 3 x 4 written, the last row is fixed):
    # t = the rest joint, then minus its parent's (the root keeps its location)
    top = torch.cat((rot_mats, joints.unsqueeze(-1)), dim=-1)  # B x J x 3 x 4
    buffers.local_top.copy_(top.transpose(0, 1))
    buffers.child_t.sub_(joints.index_select(1, buffers.parent_index).transpose(0, 1))
    world_root, local_root = buffers.root
    world_root.copy_(local_root)
    for parent, rep, src, local, world in buffers.runs:
        if rep is not None:
            rep.copy_(src)  # the shared parent's world transform, once per joint of the run
        # (n B) x 4 x 4: the parents' world transforms times the local ones
        torch.bmm(parent, local, out=world)
    # Remove the rest-pose joint location: T_rel = T_world * [I | -j_rest]
    offset = torch.bmm(buffers.world_rot, joints.transpose(0, 1).reshape(J * B, 3, 1))
    offset = offset.view(J, B, 3).transpose(0, 1)  # B x J x 3
    rel = buffers.world.clone(memory_format=torch.contiguous_format)  # B x J x 4 x 4, own memory
    posed_joints = rel[..., :3, 3].clone()  # B x J x 3
    rel[..., :3, 3].sub_(offset)  # in place on the view (no write-back through __setitem__)
    return posed_joints, rel


def lbs(betas: torch.Tensor, rot_mats: torch.Tensor, v_template: torch.Tensor,
        shapedirs: torch.Tensor, posedirs: torch.Tensor, J_regressor: torch.Tensor,
        parents: torch.Tensor, lbs_weights: torch.Tensor,
        v_rest_joints: torch.Tensor = None, parent_list: Optional[Sequence[int]] = None,
        identity: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """SMPL skinning of (a subset of) the vertices.

    The rest joints always come from the full template (``J_regressor`` over all V
    vertices); the skinned vertices may be any subset, given by the rows of
    ``v_template``/``shapedirs``/``posedirs``/``lbs_weights`` (vertex skinning is
    independent per vertex, so a subset gives exactly the same values).

    Args:
        betas (torch.Tensor): (B, S).
        rot_mats (torch.Tensor): (B, J, 3, 3) joint rotations, root first.
        v_template (torch.Tensor): (N, 3) template of the skinned vertices.
        shapedirs (torch.Tensor): (N, 3, S).
        posedirs (torch.Tensor): (9 (J-1), N*3) pose blend shapes (smplx layout).
        J_regressor (torch.Tensor): (J, V) rest-joint regressor over the FULL mesh.
        parents (torch.Tensor): (J,) int64.
        lbs_weights (torch.Tensor): (N, J).
        v_rest_joints (torch.Tensor): (B, J, 3) rest joints if already computed, else None
            (then ``v_template``/``shapedirs`` must be the full mesh).
        parent_list: ``parents`` as host integers (see :func:`rigid_transforms`).
        identity (torch.Tensor): (3, 3) identity of ``rot_mats``' dtype and device, if at hand
            (else made here).

    Returns:
        (vertices (B, N, 3), posed_joints (B, J, 3)).
    """
    v_shaped = v_template + blend_shapes(betas, shapedirs)  # B x N x 3
    joints = vertices2joints(J_regressor, v_shaped) if v_rest_joints is None else v_rest_joints
    return skin(v_shaped, rot_mats, posedirs, joints, parents, lbs_weights, parent_list, identity)


def skin(v_shaped: torch.Tensor, rot_mats: torch.Tensor, posedirs: torch.Tensor,
         rest_joints: torch.Tensor, parents: torch.Tensor, lbs_weights: torch.Tensor,
         parent_list: Optional[Sequence[int]] = None, identity: Optional[torch.Tensor] = None,
         buffers: Optional[ChainBuffers] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pose blend shapes and skinning of shaped vertices (the second half of :func:`lbs`).

    Args:
        v_shaped (torch.Tensor): (B, N, 3) template plus shape blend shapes.
        rot_mats (torch.Tensor): (B, J, 3, 3) joint rotations, root first.
        posedirs (torch.Tensor): (9 (J-1), N*3) pose blend shapes (smplx layout).
        rest_joints (torch.Tensor): (B, J, 3) rest joints of the shaped body.
        parents (torch.Tensor): (J,) int64.
        lbs_weights (torch.Tensor): (N, J).
        parent_list, identity: see :func:`lbs`.
        buffers: see :func:`rigid_transforms`.

    Returns:
        (vertices (B, N, 3), posed_joints (B, J, 3)).
    """
    B, J = rot_mats.shape[:2]
    if identity is None:
        identity = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
    pose_feature = (rot_mats[:, 1:] - identity).reshape(B, -1)  # B x 9(J-1)
    v_posed = v_shaped + (pose_feature @ posedirs).reshape(B, -1, 3)  # B x N x 3
    posed_joints, rel = rigid_transforms(rot_mats, rest_joints, parents, parent_list, buffers)
    N = lbs_weights.shape[0]
    # Per-vertex blended transform: T[b,n] = sum_j w[n,j] rel[b,j], B x N x 16 (rows of 4x4):
    # the one torch.bmm that ``lbs_weights @ rel.reshape(B, J, 16)`` runs
    T = torch.bmm(lbs_weights.expand(B, N, J), rel.view(B, J, 16))
    # (B N) x 3 x 4 @ (B N) x 4 x 1: [R | t] (B, N) times (v, 1): per row
    # ((R0 v0 + R1 v1) + R2 v2) + t * 1, the sums of R v + t in their order (t * 1 is exact)
    v1 = F.pad(v_posed, (0, 1), value=1.0)  # B x N x 4
    verts = torch.bmm(T.view(B * N, 16)[:, :12].view(B * N, 3, 4), v1.view(B * N, 4, 1))
    return verts.view(B, N, 3), posed_joints
