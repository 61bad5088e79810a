"""Linear blend skinning pieces: the batched forward kinematics and the fused SMPL step are
the same arithmetic as their plain formulations (bit for bit)."""
import pytest
import torch

from wham_ros.body import SMPLBody
from wham_ros.body.joint_names import SMPL_PARENTS
from wham_ros.body.lbs import (ChainBuffers, blend_shapes, chain_schedule, lbs,
                                rigid_transforms, skin, vertices2joints)
from wham_ros.geometry.rotations import axis_angle_to_matrix


def chain_reference(rot, joints, parents):
    """Forward kinematics one joint at a time (the textbook loop)."""
    B, J = joints.shape[:2]
    rel_joints = joints.clone()
    for j in range(1, J):
        rel_joints[:, j] = joints[:, j] - joints[:, parents[j]]
    local = torch.zeros(B, J, 4, 4, dtype=rot.dtype)
    local[..., :3, :3], local[..., :3, 3], local[..., 3, 3] = rot, rel_joints, 1.0
    world = [local[:, 0]]
    for j in range(1, J):
        world.append(world[parents[j]] @ local[:, j])
    world = torch.stack(world, 1)
    rel = world.clone()
    rel[..., :3, 3] -= (world[..., :3, :3] @ joints.unsqueeze(-1)).squeeze(-1)
    return world[..., :3, 3], rel


def random_case(B, J, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    rot = axis_angle_to_matrix(torch.randn(B, J, 3, generator=g, dtype=dtype))
    return rot, torch.randn(B, J, 3, generator=g, dtype=dtype)


# SMPL, a chain, a star, and an irregular tree (shared and consecutive parents mixed)
TREES = {"smpl": SMPL_PARENTS, "chain": [-1] + list(range(7)), "star": [-1] + [0] * 6,
         "mixed": [-1, 0, 0, 1, 2, 2, 2, 3, 4, 5, 5, 1, 11]}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tree", sorted(TREES))
def test_batched_forward_kinematics_equals_joint_by_joint(tree, dtype):
    parents = TREES[tree]
    for B in (1, 2, 5):
        rot, joints = random_case(B, len(parents), B, dtype)
        want = chain_reference(rot, joints, parents)
        for parent_list in (None, tuple(parents)):  # from the tensor, or given
            got = rigid_transforms(rot, joints, torch.tensor(parents), parent_list)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), (tree, B)


@pytest.mark.parametrize("tree", sorted(TREES))
def test_forward_kinematics_in_reused_buffers(tree):
    """Buffers kept from call to call give every call its own values, and results that later
    calls do not overwrite."""
    parents = TREES[tree]
    buffers = ChainBuffers(3, parents, torch.float32, torch.device("cpu"))
    results = []
    for seed in range(4):
        rot, joints = random_case(3, len(parents), 10 + seed, torch.float32)
        got = rigid_transforms(rot, joints, torch.tensor(parents), tuple(parents), buffers)
        results.append((chain_reference(rot, joints, parents), got))
    for want, got in results:
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), tree


def test_body_model_keeps_chain_buffers_per_batch_dtype_and_thread(body_model_dir):
    import threading

    body = SMPLBody.from_dir(body_model_dir)
    rot1, rot2 = random_case(1, 24, 0, torch.float32)[0], random_case(2, 24, 0, torch.float32)[0]
    assert body.chain_buffers(rot1) is body.chain_buffers(rot1)
    assert body.chain_buffers(rot2) is not body.chain_buffers(rot1)
    assert body.chain_buffers(rot1.double()) is not body.chain_buffers(rot1)
    other = []
    t = threading.Thread(target=lambda: other.append(body.chain_buffers(rot1)))
    t.start()
    t.join()
    assert other[0] is not body.chain_buffers(rot1)  # no thread writes another's buffers


def test_chain_schedule():
    runs = chain_schedule(tuple(SMPL_PARENTS))
    assert len(runs) == 9  # depth-first joint order: 23 joints in 9 products
    covered = [j for s, e, _, _ in runs for j in range(s, e)]
    assert covered == list(range(1, 24))
    for s, e, p, shared in runs:
        for j in range(s, e):  # every joint's parent is the one the run names, posed before
            assert SMPL_PARENTS[j] == (p if shared else p + j - s) < s
    assert chain_schedule((-1, 0, 0, 0)) == ((1, 4, 0, True),)
    assert chain_schedule((-1, 0, 1, 2)) == ((1, 2, 0, False), (2, 3, 1, False),
                                             (3, 4, 2, False))
    with pytest.raises(ValueError, match="parent of joint 1 is 2"):
        chain_schedule((-1, 2, 0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_subset_pose_equals_plain_products(body_model_dir, dtype):
    """The step's SMPL (rotations in one tensor, batched forward kinematics, hip centre from a
    slice) gives exactly the values of the plain call sequence."""
    body = SMPLBody.from_dir(body_model_dir, dtype=dtype)
    rot, _ = random_case(3, 24, 7, dtype)
    betas = torch.randn(3, 10, generator=torch.Generator().manual_seed(3), dtype=dtype)
    out = body.pose(rot, betas)
    assert torch.equal(out.offset, body(rot[:, :1], rot[:, 1:], betas).offset)
    rest = body.J_template + blend_shapes(betas, body.J_shapedirs)
    for full_mesh in (False, True):  # the old call sequence: lbs, then one einsum per regressor
        got = body.pose(rot, betas, full_mesh=full_mesh)
        sub = "" if full_mesh else "sub_"
        g = lambda name: getattr(body, sub + name)  # noqa: E731
        pts, smpl_joints = lbs(betas, rot, g("v_template"), g("shapedirs"), g("posedirs"),
                               body.J_regressor, body.parents, g("lbs_weights"), rest)
        idx = body.sub_idx if sub else slice(None)
        joints = vertices2joints(body.J_regressor_wham[:, idx], pts)
        feet = vertices2joints(body.J_regressor_feet[:, idx], pts)
        offset = joints[:, [11, 12]].mean(-2)  # COCO hips
        c = offset[:, None]
        assert torch.equal(got.offset, offset)
        assert torch.equal(got.joints, joints - c) and torch.equal(got.feet, feet - c)
        assert torch.equal(got.smpl_joints, smpl_joints - c)
        assert (got.vertices is None) if sub else torch.equal(got.vertices, pts - c)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_vertices2joints_is_the_einsum(dtype):
    """The regressor product is the one ``torch.einsum("bvk,jv->bjk")`` computes, bit for bit
    and with its strides, for any batch, vertex and joint count."""
    g = torch.Generator().manual_seed(5)
    for V in (7, 619, 6890):
        for B in (1, 2, 3, 4, 8):
            for J in (4, 24, 31):
                v = torch.randn(B, V, 3, generator=g, dtype=dtype)
                reg = torch.rand(J, V, generator=g, dtype=dtype)
                got, want = vertices2joints(reg, v), torch.einsum("bvk,jv->bjk", v, reg)
                assert torch.equal(got, want) and got.stride() == want.stride(), (V, B, J)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_skinning_products_equal_the_plain_formulas(body_model_dir, dtype):
    """``skin`` blends the transforms with the one ``torch.bmm`` that ``lbs_weights @ rel``
    runs and applies ``[R | t]`` to ``(v, 1)`` in one product: bit for bit ``T[:3, :3] v`` (a
    3x3 product) plus ``T[:3, 3]`` (``t * 1`` is exact, the sums keep their order)."""
    body = SMPLBody.from_dir(body_model_dir, dtype=dtype)
    g = torch.Generator().manual_seed(11)
    for B in (1, 2, 4):
        rot, _ = random_case(B, 24, B, dtype)
        betas = torch.randn(B, 10, generator=g, dtype=dtype)
        rest = body.J_template + blend_shapes(betas, body.J_shapedirs)
        v_shaped = body.v_template + blend_shapes(betas, body.shapedirs)
        got, _ = skin(v_shaped, rot, body.posedirs, rest, body.parents, body.lbs_weights)
        pose_feature = (rot[:, 1:] - torch.eye(3, dtype=dtype)).reshape(B, -1)
        v_posed = v_shaped + (pose_feature @ body.posedirs).reshape(B, -1, 3)
        _, rel = rigid_transforms(rot, rest, body.parents)
        T = (body.lbs_weights @ rel.reshape(B, 24, 16)).reshape(B, -1, 4, 4)
        want = (T[..., :3, :3] @ v_posed.unsqueeze(-1)).squeeze(-1) + T[..., :3, 3]
        assert torch.equal(got, want), B
