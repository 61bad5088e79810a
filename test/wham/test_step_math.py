"""The WHAM step's small geometry is the reference arithmetic, written with fewer tensor
operations: each piece equals its textbook formulation bit for bit."""
import torch
import torch.nn.functional as F

from wham_ros.geometry.rotations import rotation_6d_to_matrix
from wham_ros.wham.network import CROP_RES, pare_to_full_cam


def test_rotation_6d_to_matrix_is_gram_schmidt_with_f_normalize():
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        d6 = torch.randn(5, 25, 6, generator=g, dtype=dtype)
        d6[0, 0] = 0.0  # a zero row: the clamped norm, as F.normalize
        a1, a2 = d6[..., :3], d6[..., 3:]
        b1 = F.normalize(a1, dim=-1)
        b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
        want = torch.stack((b1, b2, torch.cross(b1, b2, dim=-1)), dim=-2)
        got = rotation_6d_to_matrix(d6)
        assert torch.equal(got, want)
        # converting several batches in one call gives each one's own values
        assert torch.equal(rotation_6d_to_matrix(d6[:, 24]), got[:, 24])


def test_pare_to_full_cam_is_the_reference_formula():
    g = torch.Generator().manual_seed(1)
    cam = torch.rand(6, 3, generator=g) + torch.tensor([0.5, -0.5, -0.5])
    bbox = torch.rand(6, 3, generator=g) * torch.tensor([1920.0, 1080.0, 3.0]) + 0.1
    res = torch.tensor([[1920.0, 1080.0]]).expand(6, 2)
    focal = torch.rand(6, generator=g) * 1000 + 500
    s, tx, ty = cam.unbind(-1)
    box = bbox[..., 2] * 200.0
    tz = 2 * focal / ((box / CROP_RES) * CROP_RES * s)
    cx = 2 * (bbox[..., 0] - res[..., 0] / 2.0) / (s * box)
    cy = 2 * (bbox[..., 1] - res[..., 1] / 2.0) / (s * box)
    assert torch.equal(pare_to_full_cam(cam, bbox, res, focal),
                       torch.stack([tx + cx, ty + cy, tz], dim=-1))


def test_feet_rotations_as_row_vector_products():
    """The body step rotates the feet as row vectors ``f^T cam_R`` in one ``torch.bmm``: the
    same products summed in the same order as the column form ``(cam_R^T f)^T`` and as the
    reference's rotation ``f^T (root rot0^T)^T`` (whose entries are ``cam_R``'s), bit for bit."""
    g = torch.Generator().manual_seed(2)
    for dtype in (torch.float32, torch.float64):
        for B in (1, 2, 4, 9):
            rot0, root = (rotation_6d_to_matrix(torch.randn(B, 6, generator=g, dtype=dtype))
                          for _ in range(2))
            feet = torch.randn(B, 4, 3, generator=g, dtype=dtype)
            cam_R = torch.bmm(rot0, root.mT)
            assert torch.equal(torch.bmm(feet, cam_R), torch.bmm(cam_R.mT, feet.mT).mT)
            assert torch.equal(torch.bmm(feet, cam_R), torch.bmm(feet, torch.bmm(root, rot0.mT).mT))
