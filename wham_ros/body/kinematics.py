"""SMPL kinematic chain from an estimate's pose: global rotations and the person's rest skeleton.

SMPL poses its joints rigidly: ``J_j = J_p + G_p (T_j - T_p)`` with ``p`` the parent of ``j``,
``G_p`` the global rotation of the parent (root orientation times the parent-relative
rotations down the chain) and ``T`` the rest joints of the person's shape. The rest offsets
``T_j - T_p`` (the person's bone vectors in SMPL body coordinates: x left, y up, z forward)
therefore follow from one posed frame without the body model. Rotation matrices act on
column vectors.
"""
from __future__ import annotations

import numpy as np

from wham_ros.body.joint_names import SMPL_PARENTS

NUM_SMPL_JOINTS = len(SMPL_PARENTS)


def global_rotations(global_orient: np.ndarray, body_pose: np.ndarray) -> np.ndarray:
    """Global rotation of every SMPL joint.

    Args:
        global_orient (np.ndarray): (3, 3) root rotation (identity: relative to the pelvis).
        body_pose (np.ndarray): (23, 3, 3) parent-relative rotations of joints 1..23.

    Returns:
        np.ndarray: (24, 3, 3) ``G_j = G_parent(j) R_j``, ``G_0 = global_orient``.
    """
    local = np.concatenate([np.asarray(global_orient, np.float64)[None],
                            np.asarray(body_pose, np.float64)], axis=0)  # 24 x 3 x 3
    G = np.empty_like(local)
    for j, p in enumerate(SMPL_PARENTS):  # parents come before children
        G[j] = local[j] if p < 0 else G[p] @ local[j]
    return G


def rest_offsets(joints: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray) -> np.ndarray:
    """The person's rest-pose bone vectors from one posed frame.

    Args:
        joints (np.ndarray): (24, 3) posed SMPL joints, any frame (e.g. ``smpl_joints_cam``), m.
        global_orient (np.ndarray): (3, 3) the root rotation in that frame.
        body_pose (np.ndarray): (23, 3, 3) parent-relative joint rotations.

    Returns:
        np.ndarray: (24, 3) ``T_j - T_parent(j)`` in SMPL body coordinates, m (row 0 is zero).
    """
    G = global_rotations(global_orient, body_pose)
    J = np.asarray(joints, np.float64)
    offsets = np.zeros((NUM_SMPL_JOINTS, 3))
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            offsets[j] = G[p].T @ (J[j] - J[p])  # G_p^T (J_j - J_p)
    return offsets


def rest_joints(offsets: np.ndarray) -> np.ndarray:
    """(24, 3) rest joints relative to the pelvis from (24, 3) :func:`rest_offsets`."""
    T = np.zeros((NUM_SMPL_JOINTS, 3))
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            T[j] = T[p] + offsets[j]
    return T


def forward_kinematics(offsets: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                       root: np.ndarray) -> np.ndarray:
    """(24, 3) posed joints: the inverse of :func:`rest_offsets` with the pelvis at ``root`` (3,)."""
    G = global_rotations(global_orient, body_pose)
    J = np.zeros((NUM_SMPL_JOINTS, 3))
    J[0] = root
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            J[j] = J[p] + G[p] @ offsets[j]
    return J
