"""SO(3) helpers in numpy (float64) for the IMU and frame code.

Conventions (same as :mod:`wham_ros.geometry.rotations`, which holds the torch versions):
    * Rotation matrices act on column vectors: ``x_out = R @ x_in``.
    * ``R_a_b`` maps coordinates in frame ``b`` to coordinates in frame ``a``.
    * Rotation vectors (axis-angle) are 3-vectors, direction = axis, norm = angle in radians.
    * Quaternions here are ROS order ``(x, y, z, w)`` (``geometry_msgs/Quaternion``).
    * WHAM 6D = the first two **rows** of R, flattened.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

IDENTITY_6D = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


def hat(v: np.ndarray) -> np.ndarray:
    """Skew-symmetric (cross-product) matrix of a 3-vector: ``K(a) @ b`` equals ``a x b``.

    Args:
        v (np.ndarray): (..., 3).

    Returns:
        np.ndarray: (..., 3, 3).
    """
    v = np.asarray(v, dtype=np.float64)
    K = np.zeros(v.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2] = -v[..., 2], v[..., 1]
    K[..., 1, 0], K[..., 1, 2] = v[..., 2], -v[..., 0]
    K[..., 2, 0], K[..., 2, 1] = -v[..., 1], v[..., 0]
    return K


def exp_so3(rotvec: np.ndarray) -> np.ndarray:
    """Exponential map (Rodrigues), accurate for tiny angles (Taylor branch).

    Args:
        rotvec (np.ndarray): (..., 3) rotation vector, radians.

    Returns:
        np.ndarray: (..., 3, 3).
    """
    rotvec = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(rotvec, axis=-1)[..., None, None]  # ... x 1 x 1
    K = hat(rotvec)
    small = theta < 1e-6
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta ** 2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta ** 2 / 24.0, (1.0 - np.cos(safe)) / safe ** 2)
    return np.eye(3) + a * K + b * (K @ K)


def exp_so3_product(rotvecs: Sequence[Sequence[float]]) -> np.ndarray:
    """``exp(v_1) exp(v_2) ... exp(v_n)`` of a few rotation vectors, in Python floats.

    The Rodrigues formula of :func:`exp_so3` (Taylor branch below 1e-6 rad) and the products
    written out per element: for the handful of gyro steps between two frames this is a few
    times faster than numpy's per-call overhead.

    Args:
        rotvecs: n rotation vectors ``(x, y, z)``, radians.

    Returns:
        np.ndarray: (3, 3); the identity for n = 0.
    """
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0
    for x, y, z in rotvecs:
        t2 = x * x + y * y + z * z
        t = math.sqrt(t2)
        if t < 1e-6:
            a, b = 1.0 - t2 / 6.0, 0.5 - t2 / 24.0
        else:
            a, b = math.sin(t) / t, (1.0 - math.cos(t)) / t2
        # S = I + a K + b K^2, K = hat(x, y, z)
        bxy, bxz, byz = b * x * y, b * x * z, b * y * z
        s00, s11, s22 = 1.0 - b * (y * y + z * z), 1.0 - b * (x * x + z * z), 1.0 - b * (x * x + y * y)
        s01, s10 = bxy - a * z, bxy + a * z
        s02, s20 = bxz + a * y, bxz - a * y
        s12, s21 = byz - a * x, byz + a * x
        r0, r1, r2, r3, r4, r5, r6, r7, r8 = (
            r0 * s00 + r1 * s10 + r2 * s20, r0 * s01 + r1 * s11 + r2 * s21, r0 * s02 + r1 * s12 + r2 * s22,
            r3 * s00 + r4 * s10 + r5 * s20, r3 * s01 + r4 * s11 + r5 * s21, r3 * s02 + r4 * s12 + r5 * s22,
            r6 * s00 + r7 * s10 + r8 * s20, r6 * s01 + r7 * s11 + r8 * s21, r6 * s02 + r7 * s12 + r8 * s22)
    return np.array([[r0, r1, r2], [r3, r4, r5], [r6, r7, r8]])


def log_so3(R: np.ndarray) -> np.ndarray:
    """Logarithm map, stable near 0 and pi (goes through the quaternion).

    Args:
        R (np.ndarray): (..., 3, 3) proper rotation.

    Returns:
        np.ndarray: (..., 3) rotation vector with angle in [0, pi].
    """
    q = matrix_to_quat_xyzw(R)  # w >= 0
    xyz, w = q[..., :3], q[..., 3:]
    s = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, w)
    scale = np.where(s > 1e-12, angle / np.where(s > 1e-12, s, 1.0), 2.0 / np.maximum(w, 1e-12))
    return xyz * scale


def angle_between(R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    """Geodesic distance ``|log(R_a^T R_b)|`` in radians.

    Args:
        R_a (np.ndarray): (..., 3, 3).
        R_b (np.ndarray): (..., 3, 3).

    Returns:
        np.ndarray: (...,) radians.
    """
    return np.linalg.norm(log_so3(np.swapaxes(R_a, -1, -2) @ R_b), axis=-1)


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternion ``(x, y, z, w)`` (normalised first) -> rotation matrix.

    Args:
        q (np.ndarray): (..., 4).

    Returns:
        np.ndarray: (..., 3, 3).
    """
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    R = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return R.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion ``(x, y, z, w)`` with ``w >= 0`` (Shepperd's method).

    Args:
        R (np.ndarray): (..., 3, 3).

    Returns:
        np.ndarray: (..., 4).
    """
    m = np.asarray(R, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    tr = m00 + m11 + m22
    # 4 (branch) x ... x 4 (xyzw); each branch is 4 q_k * q, best conditioned for the largest q_k.
    cands = np.stack([
        np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1], 1 + tr], -1),
        np.stack([1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] - m[..., 1, 2]], -1),
        np.stack([m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22,
                  m[..., 1, 2] + m[..., 2, 1], m[..., 0, 2] - m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 - m00 - m11 + m22, m[..., 1, 0] - m[..., 0, 1]], -1),
    ], axis=0)
    best = np.argmax(np.stack([tr, m00, m11, m22], axis=0), axis=0)  # ...
    q = np.take_along_axis(cands, best[None, ..., None], axis=0)[0]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:] < 0, -q, q)


def slerp(R0: np.ndarray, R1: np.ndarray, alpha: float) -> np.ndarray:
    """Geodesic interpolation ``R0 exp(alpha log(R0^T R1))``.

    Args:
        R0 (np.ndarray): (3, 3) value at alpha = 0.
        R1 (np.ndarray): (3, 3) value at alpha = 1.
        alpha (float): interpolation weight (values outside [0, 1] extrapolate).

    Returns:
        np.ndarray: (3, 3).
    """
    return R0 @ exp_so3(alpha * log_so3(R0.T @ R1))


def matrix_to_6d(R: np.ndarray) -> np.ndarray:
    """Rotation matrix -> WHAM 6D (first two rows).

    Args:
        R (np.ndarray): (..., 3, 3).

    Returns:
        np.ndarray: (..., 6).
    """
    R = np.asarray(R, dtype=np.float64)
    return R[..., :2, :].reshape(R.shape[:-2] + (6,))


def project_to_so3(M: np.ndarray) -> np.ndarray:
    """Nearest rotation matrix (SVD, determinant forced to +1).

    Args:
        M (np.ndarray): (..., 3, 3).

    Returns:
        np.ndarray: (..., 3, 3).
    """
    U, _, Vt = np.linalg.svd(np.asarray(M, dtype=np.float64))
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.zeros(np.shape(M))
    D[..., 0, 0] = 1.0
    D[..., 1, 1] = 1.0
    D[..., 2, 2] = d
    return U @ D @ Vt


def orthonormalize(R: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Nearest rotation to an almost-orthonormal matrix, without an SVD.

    Newton-Schulz iteration for the polar factor, ``R <- R (3 I - R^T R) / 2``: converges
    quadratically to the matrix :func:`project_to_so3` returns when ``R^T R`` is close to I
    (an error e of ``R^T R - I`` becomes ~0.75 e^2 per iteration: 1e-4 -> 1e-8 -> 1e-16). Use
    it to keep a product of rotations on SO(3); far from orthonormal, use project_to_so3.

    Args:
        R (np.ndarray): (..., 3, 3) with ``|R^T R - I|`` << 1 and det > 0.
        iterations (int): Newton-Schulz steps.

    Returns:
        np.ndarray: (..., 3, 3).
    """
    R = np.asarray(R, dtype=np.float64)
    for _ in range(iterations):
        R = 1.5 * R - 0.5 * R @ (np.swapaxes(R, -1, -2) @ R)
    return R


def is_rotation(R: np.ndarray, tol: float = 1e-6) -> bool:
    """True if R is a finite (3, 3) proper rotation within ``tol``.

    Args:
        R (np.ndarray): candidate matrix.
        tol (float): max deviation of ``R^T R`` from I and of det from 1.

    Returns:
        bool.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3) or not np.all(np.isfinite(R)):
        return False
    (a, b, c), (d, e, f), (g, h, i) = R.tolist()
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)  # (no LAPACK call)
    return bool(np.abs(R.T @ R - np.eye(3)).max() < tol and abs(det - 1.0) < tol)


def rot_x(angle: float) -> np.ndarray:
    """Rotation about the x axis by ``angle`` radians (right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    """Rotation about the y axis by ``angle`` radians (right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle: float) -> np.ndarray:
    """Rotation about the z axis by ``angle`` radians (right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
