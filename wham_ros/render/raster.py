"""Painter's-algorithm rasterisation of meshes and skeletons with OpenCV (no OpenGL).

Images are (H, W, 3) uint8 **RGB**. Points are in a pinhole camera's optical frame (x right,
y down, z forward, metres) and project with intrinsics ``K`` (3, 3, pixels).
"""
from __future__ import annotations

import colorsys
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from wham_ros.body.joint_names import COCO_JOINT_NAMES

NEAR_M = 0.05  # points closer than this to the camera plane are not drawn
_C = {n: i for i, n in enumerate(COCO_JOINT_NAMES)}
COCO_EDGES = tuple((_C[a], _C[b]) for a, b in (
    ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("nose", "left_eye"),
    ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear")))


def track_color(track_id: int) -> Tuple[int, int, int]:
    """A saturated RGB colour per track id (golden-ratio hues: neighbours differ)."""
    h = (int(track_id) * 0.61803398875) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def project(points: np.ndarray, K: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 3) camera-frame points -> ((N, 2) pixels, (N,) depth z)."""
    p = np.asarray(points, np.float64)
    z = p[:, 2]
    uv = (p @ np.asarray(K, np.float64).T)[:, :2] / np.maximum(z, 1e-9)[:, None]
    return uv, z


def draw_mesh(img: np.ndarray, vertices: np.ndarray, faces: np.ndarray, K: np.ndarray,
              color: Sequence[int], light: Optional[np.ndarray] = None) -> None:
    """Draw a shaded mesh into ``img`` (in place), far triangles first.

    Args:
        img: (H, W, 3) uint8 RGB image.
        vertices (np.ndarray): (V, 3) camera-frame vertices, m.
        faces (np.ndarray): (F, 3) vertex indices, counter-clockwise = outward.
        K (np.ndarray): (3, 3) intrinsics, px.
        color: RGB of the fully lit surface.
        light (np.ndarray): (3,) direction towards the light, camera frame (default: from the
            camera, slightly above).
    """
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    tri = v[f]  # F x 3 x 3
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # F x 3 outward normals
    centre = tri.mean(1)  # F x 3
    front = (np.einsum("fi,fi->f", n, centre) < 0) & (tri[:, :, 2].min(1) > NEAR_M)
    if not front.any():
        return
    tri, n, centre = tri[front], n[front], centre[front]
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    lig = np.array([0.0, -0.5, -1.0]) if light is None else np.asarray(light, np.float64)
    lig = lig / np.linalg.norm(lig)
    shade = 0.35 + 0.65 * np.clip(n @ lig, 0.0, 1.0)  # F, Lambert + ambient
    uv, _ = project(tri.reshape(-1, 3), K)
    pts = np.round(uv * 16).astype(np.int32).reshape(-1, 3, 2)  # 4 fractional bits
    cols = np.clip(np.asarray(color, np.float64)[None] * shade[:, None], 0, 255).astype(np.int32)
    order = np.argsort(-centre[:, 2])  # far to near
    fill = cv2.fillConvexPoly
    for p, c in zip(pts[order], cols[order].tolist()):
        fill(img, p, c, cv2.LINE_8, 4)


def draw_skeleton(img: np.ndarray, uv: np.ndarray, color: Sequence[int], radius: int = 3,
                  visible: Optional[np.ndarray] = None) -> None:
    """Draw COCO-17 bones and joints at (17, 2) pixel positions (in place)."""
    uv = np.asarray(uv, np.float64)
    ok = np.ones(len(uv), bool) if visible is None else np.asarray(visible, bool)
    col = tuple(int(c) for c in color)
    for a, b in COCO_EDGES:
        if ok[a] and ok[b]:
            cv2.line(img, tuple(int(round(x)) for x in uv[a]), tuple(int(round(x)) for x in uv[b]),
                     col, 2, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(img, tuple(int(round(x)) for x in uv[j]), radius, col, -1, cv2.LINE_AA)
