"""A third-person view of the world: ground grid, each person's mesh (or skeleton) and trail,
and the camera.

A virtual pinhole camera looks at the people from behind-left and above (a fixed direction
in the z-up world), its target following the people's mean position smoothly. The ground is
the plane ``z = lowest foot contact point seen so far`` (0 before any).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import cv2
import numpy as np

from wham_ros.render.raster import NEAR_M, draw_mesh, draw_skeleton, project, track_color
from wham_ros.types import FrameResult

EYE_OFFSET_M = np.array([-4.0, -3.0, 3.0])  # eye relative to the target, world frame
TRAIL_LEN = 300  # positions kept per track
BACKGROUND = (32, 32, 40)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 3) rotation camera-optical <- world for a camera at ``eye`` looking at ``target`` (z up)."""
    fwd = target - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    return np.stack([right, down, fwd])  # rows: optical x, y, z in world


class WorldView:
    """Renders successive frames of the world view (keeps trails and the ground height).

    Args:
        width, height: picture size, px.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.K = np.array([[width, 0.0, width / 2], [0.0, width, height / 2], [0.0, 0.0, 1.0]])
        self.trails: Dict[int, List[np.ndarray]] = {}
        self.target: Optional[np.ndarray] = None
        self.ground_z: Optional[float] = None

    def _to_view(self, points_world: np.ndarray) -> np.ndarray:
        return (np.asarray(points_world, np.float64) - self.eye) @ self.R.T

    def render(self, result: FrameResult, faces: Optional[np.ndarray] = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB picture of the world at this frame."""
        for h in result.humans:
            trail = self.trails.setdefault(h.track_id, [])
            trail.append(np.asarray(h.trans_world, np.float64))
            del trail[:-TRAIL_LEN]
            feet_z = float(np.min(np.asarray(h.feet_world)[:, 2]))
            self.ground_z = feet_z if self.ground_z is None else min(self.ground_z, feet_z)
        if result.humans:
            mean = np.mean([h.trans_world for h in result.humans], axis=0)
            self.target = mean if self.target is None else 0.9 * self.target + 0.1 * mean
        target = np.zeros(3) if self.target is None else self.target
        self.eye = target + EYE_OFFSET_M
        self.R = look_at(self.eye, target)
        img = np.full((self.height, self.width, 3), BACKGROUND, np.uint8)
        self._grid(img, target)
        if result.T_world_camera is not None:
            self._camera(img, np.asarray(result.T_world_camera, np.float64))
        for tid, trail in self.trails.items():
            self._polyline(img, np.array(trail), track_color(tid), 1)
        for h in sorted(result.humans, key=lambda h: -float(self._to_view(h.trans_world[None])[0, 2])):
            # body posed with the world root: v_w = R_w R_c^T (v_c - t_c) + t_w
            to_w = np.asarray(h.global_orient_world) @ np.asarray(h.global_orient_cam).T
            color = track_color(h.track_id)
            if h.vertices_cam is not None and faces is not None:
                verts = (np.asarray(h.vertices_cam) - h.trans_cam) @ to_w.T + h.trans_world
                draw_mesh(img, self._to_view(verts), faces, self.K, color)
            else:
                joints = (np.asarray(h.coco_joints_cam) - h.trans_cam) @ to_w.T + h.trans_world
                uv, z = project(self._to_view(joints), self.K)
                draw_skeleton(img, uv, color, visible=z > NEAR_M)
        return img

    def _polyline(self, img, points_world: np.ndarray, color, thickness: int) -> None:
        if len(points_world) < 2:
            return
        p = self._to_view(points_world)
        uv, z = project(p, self.K)
        for a, b in zip(range(len(p) - 1), range(1, len(p))):
            if z[a] > NEAR_M and z[b] > NEAR_M:
                cv2.line(img, tuple(int(round(x)) for x in uv[a]), tuple(int(round(x)) for x in uv[b]),
                         tuple(int(c) for c in color), thickness, cv2.LINE_AA)

    def _grid(self, img, target: np.ndarray, half_m: int = 6) -> None:
        z = 0.0 if self.ground_z is None else self.ground_z
        cx, cy = np.round(target[:2])
        for k in range(-half_m, half_m + 1):
            for a, b in (([cx + k, cy - half_m], [cx + k, cy + half_m]),
                         ([cx - half_m, cy + k], [cx + half_m, cy + k])):
                self._polyline(img, np.linspace([*a, z], [*b, z], 24), (90, 90, 100), 1)

    def _camera(self, img, T: np.ndarray, size_m: float = 0.3) -> None:
        """The camera as a small frustum (optical axes: x right, y down, z forward)."""
        corners = np.array([[-1, -0.75, 1], [1, -0.75, 1], [1, 0.75, 1], [-1, 0.75, 1]]) * size_m
        pts = corners @ T[:3, :3].T + T[:3, 3]
        c = T[:3, 3]
        for p in pts:
            self._polyline(img, np.stack([c, p]), (230, 230, 230), 1)
        self._polyline(img, np.vstack([pts, pts[:1]]), (230, 230, 230), 1)
