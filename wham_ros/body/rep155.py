"""REP-155 (ROS4HRI) body model from SMPL: frame axes, joint angles, link lengths, URDF, Skeleton2D.

ROS-free. Frames:

* SMPL body coordinates: x left, y up, z forward (out of the chest); the SMPL pelvis frame.
* REP-155 body frame ``body_<id>``: origin mid-hip, x forward, y left, z up (REP-103 axes);
  ``v_rep = A_REP_SMPL @ v_smpl`` and ``R_world_rep = R_world_smpl @ A_REP_SMPL.T``.

The kinematic model is the ROS4HRI human model (package ``human_description``,
``urdf/human-tpl.xacro``): links and joints named ``<name>_<id>``, limbs hanging along -z at
zero angles. :data:`JOINT_NAMES` are its 20 revolute joints in the order ``hri_fullbody``
publishes them. Angles come from the SMPL pose: each limb segment's SMPL orientation (its rest
direction mapped onto the model's -z by the smallest rotation) is decomposed into the model's
joint axes, so upper arms, thighs, head and the torso pitch follow SMPL exactly and elbows
and knees take the flexion in their joint plane.
"""
from __future__ import annotations

import warnings
from typing import Dict, Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from wham_ros.body.joint_names import COCO_JOINT_NAMES, SMPL_JOINT_NAMES
from wham_ros.body.kinematics import forward_kinematics, global_rotations, rest_joints

# v_rep = A v_smpl: REP x (forward) = SMPL z, REP y (left) = SMPL x, REP z (up) = SMPL y.
A_REP_SMPL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

JOINT_NAMES = (
    "waist", "r_head", "y_head", "p_head",
    "l_y_shoulder", "l_p_shoulder", "l_r_shoulder", "l_elbow",
    "r_y_shoulder", "r_p_shoulder", "r_r_shoulder", "r_elbow",
    "l_y_hip", "l_p_hip", "l_r_hip", "l_knee",
    "r_y_hip", "r_p_hip", "r_r_hip", "r_knee",
)
# (lower, upper) limits of the model, rad.
LIMITS = {
    "waist": (-0.2, 1.0), "r_head": (-1.0, 1.0), "y_head": (-1.4, 1.4), "p_head": (-1.5, 1.5),
    "y_shoulder": (-1.1, 1.9), "p_shoulder": (-0.4, 3.3), "r_shoulder": (-1.7, 1.5),
    "elbow": (0.0, 2.5), "y_hip": (-0.1, 0.6), "p_hip": (-0.4, 3.3), "r_hip": (-0.4, 0.7),
    "knee": (-2.5, 0.0),
}
# Three-joint groups: intrinsic Euler sequence of the axes and their signs
# (a rotation about -X by t is scipy's 'X' by -t). Keyed by (side, group).
_EULER = {
    ("l", "shoulder"): ("ZXZ", (-1.0, 1.0, 1.0)),   # axes -z, +x, +z
    ("r", "shoulder"): ("ZXZ", (1.0, -1.0, -1.0)),  # axes +z, -x, -z
    ("l", "hip"): ("ZXY", (-1.0, 1.0, -1.0)),       # axes -z, +x, -y
    ("r", "hip"): ("ZXY", (-1.0, -1.0, -1.0)),      # axes -z, -x, -y
    ("", "head"): ("XZY", (1.0, 1.0, -1.0)),        # axes +x, +z, -y
}
_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
_DOWN = np.array([0.0, 0.0, -1.0])

# Skeleton2D (OpenPose COCO-18 order) from COCO-17; NECK is the shoulders' midpoint.
SKELETON2D_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "left_eye", "right_eye", "left_ear", "right_ear",
)
SKELETON2D_FROM_COCO = tuple(-1 if n == "neck" else COCO_JOINT_NAMES.index(n)
                             for n in SKELETON2D_NAMES)


def rep_body_rotation(R_world_smpl: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orientation of ``body_<id>`` (REP-155 axes) from the SMPL root orientation."""
    return np.asarray(R_world_smpl) @ A_REP_SMPL.T


def _smallest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) rotation about ``a x b`` taking direction ``a`` to direction ``b``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis, c = np.cross(a, b), float(np.dot(a, b))
    s = np.linalg.norm(axis)
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return Rotation.from_rotvec(np.pi * perp / np.linalg.norm(perp)).as_matrix()
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c)).as_matrix()


def _wrap(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a) + np.pi) % (2.0 * np.pi) - np.pi


def _violation(angles: Sequence[float], limits: Sequence[Tuple[float, float]]) -> float:
    return sum(max(lo - a, 0.0) + max(a - hi, 0.0) for a, (lo, hi) in zip(angles, limits))


def _euler(R: np.ndarray, side: str, group: str, names: Sequence[str]) -> np.ndarray:
    """Angles of a three-joint group with ``R = R_a1(t1) R_a2(t2) R_a3(t3)`` (signed axes);
    of the two Euler solutions the one within (or closest to) the model's limits."""
    seq, signs = _EULER[(side, group)]
    with warnings.catch_warnings():  # gimbal lock (e.g. arm straight down) is fine for FK
        warnings.simplefilter("ignore")
        t = Rotation.from_matrix(R).as_euler(seq)
    proper = seq[0] == seq[2]
    alt = np.array([t[0] + np.pi, -t[1] if proper else np.pi - t[1], t[2] + np.pi])
    limits = [LIMITS[n] for n in names]
    cands = [_wrap(np.asarray(signs) * c) for c in (t, alt)]
    return min(cands, key=lambda c: _violation(c, limits))


def _flexion_about_minus_y(v: np.ndarray) -> float:
    """Angle about -y taking -z to the direction of ``v`` projected on the x-z plane."""
    return float(np.arctan2(v[0], -v[2]))


def _pitch(u: np.ndarray) -> float:
    """Angle about +y taking +z to the direction of ``u`` projected on the x-z plane."""
    return float(np.arctan2(u[0], u[2]))


def joint_angles(body_pose: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """REP-155 joint positions (:data:`JOINT_NAMES` order) from an SMPL pose.

    Args:
        body_pose (np.ndarray): (23, 3, 3) SMPL parent-relative joint rotations.
        offsets (np.ndarray): (24, 3) the person's rest bone vectors
            (``wham_ros.body.kinematics.rest_offsets``), SMPL body coordinates, m.

    Returns:
        np.ndarray: (20,) angles, rad.
    """
    A = A_REP_SMPL
    G = global_rotations(np.eye(3), body_pose)  # 24 x 3 x 3, relative to the pelvis
    G_rep = A @ G @ A.T  # 24 x 3 x 3, REP axes

    def segment(joint: str, child: str) -> np.ndarray:
        """Orientation of the model link whose -z runs from ``joint`` to ``child``."""
        return G_rep[_J[joint]] @ _smallest_rotation(_DOWN, A @ offsets[_J[child]])

    # Torso: pitch of the hips -> shoulders line, relative to the rest pose.
    rest = rest_joints(offsets)
    posed = forward_kinematics(offsets, np.eye(3), body_pose, np.zeros(3))

    def up(J):
        mid_sh = J[[_J["left_shoulder"], _J["right_shoulder"]]].mean(0)
        return A @ (mid_sh - J[[_J["left_hip"], _J["right_hip"]]].mean(0))

    waist = _pitch(up(posed)) - _pitch(up(rest))
    R_torso = Rotation.from_rotvec([0.0, waist, 0.0]).as_matrix()
    out = {"waist": waist}
    out.update(zip(("r_head", "y_head", "p_head"),
                   _euler(R_torso.T @ G_rep[_J["head"]], "", "head",
                          ("r_head", "y_head", "p_head"))))
    for s, side in (("l", "left"), ("r", "right")):
        upper = segment(f"{side}_shoulder", f"{side}_elbow")
        lower = segment(f"{side}_elbow", f"{side}_wrist")
        names = (f"{s}_y_shoulder", f"{s}_p_shoulder", f"{s}_r_shoulder")
        out.update(zip(names, _euler(R_torso.T @ upper, s, "shoulder",
                                     ("y_shoulder", "p_shoulder", "r_shoulder"))))
        out[f"{s}_elbow"] = _flexion_about_minus_y(upper.T @ lower @ _DOWN)
        thigh = segment(f"{side}_hip", f"{side}_knee")
        shank = segment(f"{side}_knee", f"{side}_ankle")
        names = (f"{s}_y_hip", f"{s}_p_hip", f"{s}_r_hip")
        out.update(zip(names, _euler(thigh, s, "hip", ("y_hip", "p_hip", "r_hip"))))
        out[f"{s}_knee"] = _flexion_about_minus_y(thigh.T @ shank @ _DOWN)
    return np.array([out[n] for n in JOINT_NAMES])


def link_lengths(offsets: np.ndarray) -> Dict[str, float]:
    """The model's size parameters (``human-tpl.xacro`` names) from the person's rest skeleton.

    Args:
        offsets (np.ndarray): (24, 3) rest bone vectors, SMPL body coordinates, m.

    Returns:
        dict: ``waist_length`` (hip to hip), ``torso_height`` (mid-hips to mid-shoulders, up),
        ``neck_shoulder_length`` (half shoulder width), ``neck_length`` (shoulders to neck
        joint, up), ``head_radius`` (neck to head joint), ``upperarm_length``,
        ``forearm_length``, ``tight_length`` (thigh), ``tibia_length``; metres, left/right means.
    """
    T = rest_joints(offsets)

    def dist(a, b):
        return float(np.mean([np.linalg.norm(T[_J[f"{s}_{a}"]] - T[_J[f"{s}_{b}"]])
                              for s in ("left", "right")]))

    mid_hip = T[[_J["left_hip"], _J["right_hip"]]].mean(0)
    mid_sh = T[[_J["left_shoulder"], _J["right_shoulder"]]].mean(0)
    return {
        "waist_length": float(np.linalg.norm(T[_J["left_hip"]] - T[_J["right_hip"]])),
        "torso_height": float(mid_sh[1] - mid_hip[1]),
        "neck_shoulder_length": 0.5 * float(np.linalg.norm(T[_J["left_shoulder"]] - T[_J["right_shoulder"]])),
        "neck_length": float(max(T[_J["neck"]][1] - mid_sh[1], 0.0)),
        "head_radius": float(np.linalg.norm(T[_J["head"]] - T[_J["neck"]])),
        "upperarm_length": dist("shoulder", "elbow"), "forearm_length": dist("elbow", "wrist"),
        "tight_length": dist("hip", "knee"), "tibia_length": dist("knee", "ankle"),
    }


# --------------------------------------------------------------------------- URDF
_LIMB_RADIUS = 0.03


def _joint(name, kind, parent, child, xyz=(0.0, 0.0, 0.0), axis=None, limit=None) -> str:
    s = (f'  <joint name="{name}" type="{kind}">\n    <parent link="{parent}"/>\n'
         f'    <child link="{child}"/>\n    <origin xyz="{xyz[0]:.9g} {xyz[1]:.9g} {xyz[2]:.9g}" rpy="0 0 0"/>\n')
    if axis is not None:
        s += f'    <axis xyz="{axis[0]:g} {axis[1]:g} {axis[2]:g}"/>\n'
        s += (f'    <limit lower="{limit[0]:g}" upper="{limit[1]:g}" effort="1000" '
              'velocity="0.5"/>\n')
    return s + "  </joint>\n"


def _link(name, length=None, sphere=None, offset=(0.0, 0.0, 0.0)) -> str:
    if length is None and sphere is None:
        return f'  <link name="{name}"/>\n'
    if sphere is not None:
        geom = f'<sphere radius="{sphere:.9g}"/>'
        xyz = offset
    else:
        geom = f'<cylinder length="{length:.9g}" radius="{_LIMB_RADIUS}"/>'
        xyz = (0.0, 0.0, -length / 2.0)
    return (f'  <link name="{name}">\n    <visual>\n      <origin xyz="{xyz[0]:.9g} {xyz[1]:.9g} '
            f'{xyz[2]:.9g}" rpy="0 0 0"/>\n      <geometry>{geom}</geometry>\n'
            '      <material name="skin"><color rgba="1 0.7 0 1"/></material>\n'
            '    </visual>\n  </link>\n')


def urdf(body_id: str, lengths: Dict[str, float]) -> str:
    """URDF of the ROS4HRI human model for one body, sized by :func:`link_lengths`.

    Root link ``body_<id>`` (REP-155 axes, origin mid-hip); every link and joint is named
    ``<name>_<id>``; the revolute joints are :data:`JOINT_NAMES`.
    """
    L, i = lengths, body_id
    s = [f'<?xml version="1.0"?>\n<robot name="human_{i}">\n', _link(f"body_{i}"),
         _link(f"waist_{i}"),
         _joint(f"waist_{i}", "revolute", f"body_{i}", f"waist_{i}", axis=(0, 1, 0),
                limit=LIMITS["waist"]),
         _link(f"torso_{i}", L["torso_height"]),
         _joint(f"torso_{i}", "fixed", f"waist_{i}", f"torso_{i}", xyz=(0, 0, L["torso_height"]))]
    parent = f"torso_{i}"
    for name, axis, xyz in (("r_head", (1, 0, 0), (0, 0, L["neck_length"])),
                            ("y_head", (0, 0, 1), (0, 0, 0)), ("p_head", (0, -1, 0), (0, 0, 0))):
        s += [_link(f"{name}_{i}"), _joint(f"{name}_{i}", "revolute", parent, f"{name}_{i}", xyz,
                                           axis, LIMITS[name])]
        parent = f"{name}_{i}"
    s += [_link(f"head_{i}", sphere=L["head_radius"]),
          _joint(f"head_{i}", "fixed", parent, f"head_{i}", xyz=(0, 0, L["head_radius"]))]
    for side, r in (("l", 1.0), ("r", -1.0)):
        chain = [  # (link, joint, parent (None: the previous link), origin, axis, limit key, length)
            (f"{side}_y_shoulder", f"{side}_y_shoulder", f"torso_{i}",
             (0, r * L["neck_shoulder_length"], 0), (0, 0, -r), "y_shoulder", None),
            (f"{side}_p_shoulder", f"{side}_p_shoulder", None, (0, 0, 0), (r, 0, 0), "p_shoulder", None),
            (f"{side}_shoulder", f"{side}_r_shoulder", None, (0, 0, 0), (0, 0, r), "r_shoulder",
             L["upperarm_length"]),
            (f"{side}_elbow", f"{side}_elbow", None, (0, 0, -L["upperarm_length"]), (0, -1, 0),
             "elbow", L["forearm_length"]),
            (f"{side}_y_hip", f"{side}_y_hip", f"body_{i}", (0, r * L["waist_length"] / 2, 0),
             (0, 0, -1), "y_hip", None),
            (f"{side}_p_hip", f"{side}_p_hip", None, (0, 0, 0), (r, 0, 0), "p_hip", None),
            (f"{side}_hip", f"{side}_r_hip", None, (0, 0, 0), (0, -1, 0), "r_hip", L["tight_length"]),
            (f"{side}_knee", f"{side}_knee", None, (0, 0, -L["tight_length"]), (0, -1, 0), "knee",
             L["tibia_length"]),
        ]
        prev = None
        for link, joint, par, xyz, axis, lim, length in chain:
            par = par or prev
            s += [_link(f"{link}_{i}", length),
                  _joint(f"{joint}_{i}", "revolute", par, f"{link}_{i}", xyz, axis, LIMITS[lim])]
            prev = f"{link}_{i}"
            if link.endswith("elbow"):
                s += [_link(f"{side}_wrist_{i}"), _joint(f"{side}_wrist_{i}", "fixed", prev,
                                                        f"{side}_wrist_{i}", (0, 0, -length))]
            if link.endswith("knee"):
                s += [_link(f"{side}_ankle_{i}"), _joint(f"{side}_ankle_{i}", "fixed", prev,
                                                        f"{side}_ankle_{i}", (0, 0, -length))]
    s.append("</robot>\n")
    return "".join(s)


# --------------------------------------------------------------------------- 2D
def skeleton2d(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """REP-155 ``Skeleton2D`` points from COCO-17 keypoints.

    Args:
        keypoints (np.ndarray): (17, 3) ``[u_px, v_px, confidence]``.
        width, height: image size, px.

    Returns:
        np.ndarray: (18, 3) ``[x, y, c]`` in :data:`SKELETON2D_NAMES` order, x = u / W and
        y = v / H clipped to [0, 1]; the neck is the shoulders' midpoint with the lower of
        their confidences.
    """
    kp = np.asarray(keypoints, np.float64).reshape(17, 3)
    idx = np.array(SKELETON2D_FROM_COCO)
    out = kp[np.where(idx < 0, 0, idx)].copy()
    sh = [COCO_JOINT_NAMES.index("left_shoulder"), COCO_JOINT_NAMES.index("right_shoulder")]
    neck = SKELETON2D_NAMES.index("neck")
    out[neck, :2] = kp[sh, :2].mean(0)
    out[neck, 2] = kp[sh, 2].min()
    out[:, 0] /= float(width)
    out[:, 1] /= float(height)
    return np.clip(out, 0.0, 1.0)


def normalized_roi(bbox_xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """(4,) ``[xmin, ymin, xmax, ymax]`` of a pixel box, normalised by the image size, in [0, 1]."""
    b = np.asarray(bbox_xyxy, np.float64).reshape(4) / np.array([width, height, width, height], float)
    return np.clip(b, 0.0, 1.0)
