"""RViz markers for humans: skeleton lines, foot-contact spheres, SMPL mesh (TRIANGLE_LIST).

All markers are in the world frame (``FrameResult.world_frame_id``, z up), so RViz shows
them with that frame as its fixed frame without any camera TF. Each array starts with a
DELETEALL marker, so people who left the view disappear. Marker ids are track ids;
colours are a stable function of the track id.
"""
from __future__ import annotations

import colorsys
from typing import List, Optional, Tuple

import numpy as np

from wham_ros.body.joint_names import SMPL_PARENTS
from wham_ros.ros.conversions import contact_probability, header
from wham_ros.types import FrameResult, HumanEstimate

MARKER = "visualization_msgs/msg/Marker"
MARKER_ARRAY = "visualization_msgs/msg/MarkerArray"
LINE_LIST = 5
SPHERE_LIST = 7
TRIANGLE_LIST = 11
ADD = 0
DELETEALL = 3

# (child, parent) joint index pairs of the 23 bones of the SMPL kinematic tree.
SMPL_BONES = np.array([(j, p) for j, p in enumerate(SMPL_PARENTS) if p >= 0], dtype=np.int64)

SKELETON_LINE_WIDTH_M = 0.03
CONTACT_SPHERE_DIAMETER_M = 0.08
CONTACT_OFF_RGBA = (0.6, 0.6, 0.6, 0.6)
CONTACT_ON_RGBA = (0.1, 0.9, 0.2, 1.0)


def track_colour(track_id: int) -> Tuple[float, float, float]:
    """Stable, well separated RGB in [0, 1] for a track id (golden-ratio hue steps)."""
    hue = (int(track_id) * 0.618033988749895) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.75, 0.95)


def _colour(f, rgb, alpha: float = 1.0):
    r, g, b = (float(c) for c in rgb[:3])
    return f.new("std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=float(alpha))


def _delete_all(f, hdr, ns: str):
    return f.new(MARKER, header=hdr, ns=ns, id=0, action=DELETEALL)


def _marker(f, hdr, ns: str, marker_id: int, marker_type: int, scale: float, rgba, points,
            colors=None):
    identity = f.new("geometry_msgs/msg/Pose",
                     orientation=f.new("geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=0.0, w=1.0))
    return f.new(MARKER, header=hdr, ns=ns, id=int(marker_id), type=marker_type, action=ADD,
                 pose=identity,
                 scale=f.new("geometry_msgs/msg/Vector3", x=scale, y=scale, z=scale),
                 color=_colour(f, rgba[:3], rgba[3] if len(rgba) > 3 else 1.0),
                 points=points, colors=colors if colors is not None else [])


def skeleton_markers(f, result: FrameResult, contact_threshold: float = 0.5):
    """``MarkerArray``: per human a LINE_LIST skeleton and a SPHERE_LIST of its 4 contacts.

    Namespaces ``skeleton`` and ``contacts``; contact spheres are green at or above
    ``contact_threshold`` and grey below.
    """
    hdr = header(f, result.stamp_ns, result.world_frame_id)
    markers = [_delete_all(f, hdr, "")]
    for h in sorted(result.humans, key=lambda h: h.track_id):
        joints = np.asarray(h.smpl_joints_world, dtype=np.float64)  # 24 x 3
        segments = joints[SMPL_BONES].reshape(-1, 3)  # 23 bones x 2 ends -> 46 x 3
        markers.append(_marker(f, hdr, "skeleton", h.track_id, LINE_LIST, SKELETON_LINE_WIDTH_M,
                               track_colour(h.track_id), f.points(segments)))
        on = contact_probability(h.contact) >= contact_threshold
        colors = [_colour(f, CONTACT_ON_RGBA, CONTACT_ON_RGBA[3]) if c
                  else _colour(f, CONTACT_OFF_RGBA, CONTACT_OFF_RGBA[3]) for c in on]
        markers.append(_marker(f, hdr, "contacts", h.track_id, SPHERE_LIST,
                               CONTACT_SPHERE_DIAMETER_M, (1.0, 1.0, 1.0, 1.0),
                               f.points(h.feet_world), colors))
    return f.new(MARKER_ARRAY, markers=markers)


def camera_to_world(h: HumanEstimate) -> Tuple[np.ndarray, np.ndarray]:
    """Rigid camera -> world transform implied by one estimate.

    The same body is given in both frames, so ``R_wc = R_world R_cam^T`` and
    ``t_wc = trans_world - R_wc trans_cam`` (x_world = R_wc x_cam + t_wc).

    Returns:
        (R_wc (3, 3), t_wc (3,)).
    """
    r_wc = np.asarray(h.global_orient_world) @ np.asarray(h.global_orient_cam).T
    t_wc = np.asarray(h.trans_world) - r_wc @ np.asarray(h.trans_cam)
    return r_wc, t_wc


def mesh_vertices_world(h: HumanEstimate) -> np.ndarray:
    """(V, 3) float64 vertices of one body in the world frame (from ``vertices_cam``)."""
    r_wc, t_wc = camera_to_world(h)
    return np.asarray(h.vertices_cam, dtype=np.float64) @ r_wc.T + t_wc  # V x 3


def mesh_triangles_world(h: HumanEstimate, faces: np.ndarray) -> np.ndarray:
    """TRIANGLE_LIST corner positions of one body in the world frame.

    Args:
        h: estimate with ``vertices_cam`` (V, 3).
        faces: (F, 3) vertex indices.

    Returns:
        (F * 3, 3) float64, three corners per triangle in face order.
    """
    corner_index = np.asarray(faces, dtype=np.intp).reshape(-1)  # 3F
    return np.take(mesh_vertices_world(h), corner_index, axis=0)  # 3F x 3


def mesh_markers(f, result: FrameResult, faces: Optional[np.ndarray], alpha: float = 0.8):
    """``MarkerArray`` with one TRIANGLE_LIST per human that has vertices (namespace ``mesh``)."""
    hdr = header(f, result.stamp_ns, result.world_frame_id)
    markers: List = [_delete_all(f, hdr, "")]
    if faces is not None:
        corner_index = np.asarray(faces, dtype=np.intp).reshape(-1)  # 3F, triangle corners
        for h in sorted(result.humans, key=lambda h: h.track_id):
            if h.vertices_cam is None:
                continue
            corners = f.gather_points(mesh_vertices_world(h), corner_index)  # 3F points
            markers.append(_marker(f, hdr, "mesh", h.track_id, TRIANGLE_LIST, 1.0,
                                   (*track_colour(h.track_id), alpha), corners))
    return f.new(MARKER_ARRAY, markers=markers)

