"""Humans with a box mesh around every COCO joint, so a joint's pixel is the person's colour."""
import numpy as np

from fake_pipeline import make_human

# A cube: 8 corners, 12 outward counter-clockwise triangles.
_CUBE_V = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
_CUBE_F = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                    [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])


def _outward(faces, verts):
    """Flip triangles whose normal points to the cube centre."""
    f = faces.copy()
    tri = verts[f]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = np.einsum("fi,fi->f", n, tri.mean(1)) < 0
    f[inward] = f[inward][:, ::-1]
    return f


CUBE_F = _outward(_CUBE_F, _CUBE_V)
FACES = np.concatenate([CUBE_F + 8 * j for j in range(17)])  # 17 cubes


def box_human(track_id, trans_cam, t=0.0, half_m=0.04):
    """A fake human at ``trans_cam`` with cubes of half side ``half_m`` around its 17 COCO joints."""
    h = make_human(track_id, 1, t, with_vertices=False)
    shift = np.asarray(trans_cam, float) - h.trans_cam
    h.trans_cam = h.trans_cam + shift
    h.coco_joints_cam = h.coco_joints_cam + shift
    h.smpl_joints_cam = h.smpl_joints_cam + shift
    h.vertices_cam = (h.coco_joints_cam[:, None] + half_m * _CUBE_V[None]).reshape(-1, 3)
    return h
