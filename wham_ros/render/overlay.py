"""The camera image with each person drawn over it: mesh (shaded, track colour) or skeleton,
body id and foot contact.

Mesh when the estimate carries ``vertices_cam`` and the SMPL faces are known, else the
COCO-17 skeleton of ``coco_joints_cam`` projected with the frame's intrinsics. People are
drawn far to near. Contact: a filled dot at a foot in contact, a ring otherwise, and the
label ``<body id> L R`` with the feet in contact in capitals (``b3 L r``).
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from wham_ros.body.joint_names import COCO_JOINT_NAMES
from wham_ros.frontend.wham_inputs import default_intrinsics
from wham_ros.geometry.contacts import CONTACT_POINT_NAMES
from wham_ros.render.raster import NEAR_M, draw_mesh, draw_skeleton, project, track_color
from wham_ros.types import FrameResult, HumanEstimate

MODES = ("mesh", "skeleton")
_ANKLES = {"left": COCO_JOINT_NAMES.index("left_ankle"), "right": COCO_JOINT_NAMES.index("right_ankle")}
_FEET = {side: [i for i, n in enumerate(CONTACT_POINT_NAMES) if n.startswith(side)]
         for side in ("left", "right")}


def intrinsics(result: FrameResult, width: int, height: int) -> np.ndarray:
    """(3, 3) intrinsics of a result (WHAM's default f = image diagonal when it has none)."""
    if result.K is not None:
        return np.asarray(result.K, np.float64)
    return default_intrinsics(width, height).astype(np.float64)


def feet_in_contact(h: HumanEstimate, threshold: float) -> dict:
    """{'left': bool, 'right': bool}: max contact score of the foot's points >= threshold."""
    c = np.asarray(h.contact, np.float64)
    return {side: bool(c[idx].max() >= threshold) for side, idx in _FEET.items()}


def render_overlay(image: np.ndarray, result: FrameResult, faces: Optional[np.ndarray] = None,
                   contact_threshold: float = 0.5, mode: str = "mesh") -> np.ndarray:
    """The overlay picture of one frame.

    Args:
        image: (H, W, 3) uint8 RGB camera image (not modified).
        result: the frame's humans (camera-frame joints, optional vertices).
        faces: (F, 3) SMPL triangles (None: skeletons only).
        contact_threshold: contact score at or above which a foot is drawn in contact.
        mode: 'mesh' or 'skeleton'.

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown overlay mode '{mode}'; expected one of {MODES}")
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    H, W = out.shape[:2]
    K = intrinsics(result, W, H)
    for h in sorted(result.humans, key=lambda h: -float(h.trans_cam[2])):
        if float(h.trans_cam[2]) <= NEAR_M:
            continue
        color = track_color(h.track_id)
        joints = np.asarray(h.coco_joints_cam, np.float64)
        uv, z = project(joints, K)
        if mode == "mesh" and h.vertices_cam is not None and faces is not None:
            draw_mesh(out, h.vertices_cam, faces, K, color)
        else:
            draw_skeleton(out, uv, color, visible=z > NEAR_M)
        contact = feet_in_contact(h, contact_threshold)
        for side, j in _ANKLES.items():
            if z[j] > NEAR_M:
                centre = tuple(int(round(x)) for x in uv[j])
                cv2.circle(out, centre, 6, (255, 255, 255), -1 if contact[side] else 2, cv2.LINE_AA)
        label = f"b{h.track_id} {'L' if contact['left'] else 'l'} {'R' if contact['right'] else 'r'}"
        top = joints[:, 1].argmin()  # highest joint (y down)
        if z[top] > NEAR_M:
            org = (int(uv[top, 0]) - 20, int(uv[top, 1]) - 12)
            cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return out
