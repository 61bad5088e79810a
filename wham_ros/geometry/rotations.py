"""Rotation conversions shared by every stage.

Conventions (used everywhere in wham_ros):
    * Rotation matrices act on column vectors: ``x_out = R @ x_in``.
    * WHAM's 6D form is the first two **rows** of R (``R[..., :2, :]`` flattened), as in
      WHAM's ``matrix_to_rotation_6d``. HMR2.0 uses the first two **columns** instead;
      convert with :func:`matrix_to_rotation_6d` on its matrices, never reuse its 6D vector.
    * Axis-angle is a 3-vector whose direction is the axis and norm the angle (radians).
    * Quaternions are ``(w, x, y, z)`` unless a function says otherwise
      (ROS messages are ``(x, y, z, w)``: see ``wham_ros.geometry.so3.quat_xyzw_to_matrix``).

All functions take device and dtype from their inputs.
"""
import torch
import torch.nn.functional as F

IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Gram-Schmidt 6D -> rotation matrix (rows form, Zhou et al. 2019).

    Args:
        d6 (torch.Tensor): (..., 6) first row ``a1`` then second row ``a2``.

    Returns:
        torch.Tensor: (..., 3, 3) with rows ``b1 = a1/|a1|``, ``b2`` = normalised part of
        ``a2`` orthogonal to ``b1``, ``b3 = b1 x b2``.
    """
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = _normalize(a1)
    b2 = _normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


def _normalize(v: torch.Tensor) -> torch.Tensor:
    """``F.normalize(v, dim=-1)`` (the same operations, without its Python wrappers)."""
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(1e-12)


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrix -> 6D (first two rows).

    Args:
        matrix (torch.Tensor): (..., 3, 3).

    Returns:
        torch.Tensor: (..., 6).
    """
    return matrix[..., :2, :].reshape(matrix.shape[:-2] + (6,))


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula.

    Args:
        axis_angle (torch.Tensor): (..., 3) axis * angle in radians.

    Returns:
        torch.Tensor: (..., 3, 3).
    """
    angle = torch.linalg.norm(axis_angle, dim=-1, keepdim=True)[..., None]  # ... x 1 x 1
    small = angle < 1e-8
    safe = torch.where(small, torch.ones_like(angle), angle)
    k = axis_angle / safe[..., 0]
    zero = torch.zeros_like(k[..., 0])
    K = torch.stack([zero, -k[..., 2], k[..., 1],
                     k[..., 2], zero, -k[..., 0],
                     -k[..., 1], k[..., 0], zero], dim=-1).reshape(k.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(K)
    R = eye + torch.sin(angle) * K + (1.0 - torch.cos(angle)) * (K @ K)
    # First-order expansion near zero keeps gradients and precision.
    zero_k = torch.stack([zero, -axis_angle[..., 2], axis_angle[..., 1],
                          axis_angle[..., 2], zero, -axis_angle[..., 0],
                          -axis_angle[..., 1], axis_angle[..., 0], zero], dim=-1)
    R_small = eye + zero_k.reshape(K.shape)
    return torch.where(small, R_small, R)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrix -> axis-angle, stable for angles near 0 and pi.

    Args:
        matrix (torch.Tensor): (..., 3, 3) proper rotation.

    Returns:
        torch.Tensor: (..., 3), angle in [0, pi].
    """
    q = matrix_to_quaternion(matrix)  # (w, x, y, z), w >= 0
    xyz = q[..., 1:]
    s = torch.linalg.norm(xyz, dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(s, q[..., :1])
    scale = torch.where(s > 1e-8, angle / torch.where(s > 1e-8, s, torch.ones_like(s)),
                        2.0 / q[..., :1].clamp_min(1e-8))
    return xyz * scale


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrix -> unit quaternion (w, x, y, z) with w >= 0.

    Uses the largest-diagonal branch (Shepperd's method) for numerical stability.

    Args:
        matrix (torch.Tensor): (..., 3, 3).

    Returns:
        torch.Tensor: (..., 4).
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    tr = m00 + m11 + m22
    cands = torch.stack([
        torch.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                     m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22,
                     m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                     1 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                     m[..., 1, 2] + m[..., 2, 1], 1 - m00 - m11 + m22], -1),
    ], dim=-2)  # ... x 4 (branch) x 4 (wxyz), each row = 4 q_k q
    diag = torch.stack([tr, m00, m11, m22], -1)
    best = diag.argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(best.shape + (1, 4)))[..., 0, :]
    q = F.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Quaternion (w, x, y, z) -> rotation matrix (normalises first).

    Args:
        q (torch.Tensor): (..., 4).

    Returns:
        torch.Tensor: (..., 3, 3).
    """
    w, x, y, z = F.normalize(q, dim=-1).unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], -1).reshape(q.shape[:-1] + (3, 3))
