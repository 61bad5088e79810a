"""BVH (Biovision hierarchy) of the SMPL skeleton: writer and reader.

Skeleton: the 24 SMPL joints (``wham_ros.body.joint_names``), offsets = the person's rest
bone vectors, metres. The root (``pelvis``) has 6 channels ``Xposition Yposition Zposition
Zrotation Xrotation Yrotation``, every other joint 3 rotation channels in the same order;
a joint's local rotation is ``R = Rz(a) Rx(b) Ry(c)`` (intrinsic, degrees), and a child's
global pose is ``parent global @ [offset] @ R``. Leaf joints end with an ``End Site`` 5 cm
along their bone. ``up`` chooses the axes of the file:

* ``"z"``: the z-up world as is; the rest skeleton stands along +z and faces -y.
* ``"y"``: y-up (``(x, y, z)_world -> (x, z, -y)``); the rest skeleton stands along +y and
  faces +z (SMPL's own rest axes).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import List, Sequence, TextIO

import numpy as np
from scipy.spatial.transform import Rotation

from wham_ros.body.joint_names import SMPL_JOINT_NAMES, SMPL_PARENTS

UP_AXES = ("z", "y")
EULER = "ZXY"  # channel order of every joint's rotation
END_SITE_M = 0.05
# Rest-skeleton axes of the file from SMPL body axes (x left, y up, z forward).
_BODY = {"y": np.eye(3), "z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])}
# File axes from the z-up world.
_WORLD = {"z": np.eye(3), "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])}


def axes(up: str):
    """(M, W): file axes from SMPL body axes and from the z-up world, for ``up`` 'z' or 'y'."""
    if up not in UP_AXES:
        raise ValueError(f"Unknown BVH up axis '{up}'; expected one of {UP_AXES}")
    return _BODY[up], _WORLD[up]


def dfs_order(parents: Sequence[int]) -> List[int]:
    """Joint indices in depth-first order from the root (children in index order)."""
    order, stack = [], [i for i, p in enumerate(parents) if p < 0][::-1]
    while stack:
        j = stack.pop()
        order.append(j)
        stack += [c for c, p in enumerate(parents) if p == j][::-1]
    return order


def write_bvh(fh: TextIO, offsets: np.ndarray, root_position: np.ndarray,
              root_orient: np.ndarray, body_pose: np.ndarray, frame_time: float,
              up: str = "z") -> None:
    """Write a BVH animation of the SMPL skeleton.

    Args:
        fh: text file open for writing.
        offsets (np.ndarray): (24, 3) rest bone vectors, SMPL body axes, m.
        root_position (np.ndarray): (F, 3) pelvis joint in the z-up world, m.
        root_orient (np.ndarray): (F, 3, 3) SMPL root orientation in the z-up world.
        body_pose (np.ndarray): (F, 23, 3, 3) parent-relative rotations of joints 1..23.
        frame_time: seconds per frame.
        up: 'z' or 'y' (see the module docstring).
    """
    M, W = axes(up)
    order = dfs_order(SMPL_PARENTS)
    children = {j: [c for c, p in enumerate(SMPL_PARENTS) if p == j] for j in order}
    off = np.asarray(offsets, np.float64) @ M.T  # 24 x 3, file axes
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        kind = "ROOT" if SMPL_PARENTS[j] < 0 else "JOINT"
        lines.append(f"{pad}{kind} {SMPL_JOINT_NAMES[j]}")
        lines.append(pad + "{")
        o = np.zeros(3) if SMPL_PARENTS[j] < 0 else off[j]
        lines.append(f"{pad}  OFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}")
        rot = "Zrotation Xrotation Yrotation"
        lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {rot}" if kind == "ROOT"
                     else f"{pad}  CHANNELS 3 {rot}")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            d = off[j] / max(np.linalg.norm(off[j]), 1e-9) * END_SITE_M
            lines.extend([f"{pad}  End Site", pad + "  {",
                          f"{pad}    OFFSET {d[0]:.6f} {d[1]:.6f} {d[2]:.6f}", pad + "  }"])
        lines.append(pad + "}")

    emit(order[0], 0)
    F = len(root_position)
    # F x 24 x 3 x 3 local rotations in file axes: root W R M^T, joints M R M^T
    local = np.concatenate([(W @ np.asarray(root_orient, np.float64) @ M.T)[:, None],
                            M @ np.asarray(body_pose, np.float64) @ M.T], axis=1)
    with warnings.catch_warnings():  # gimbal lock: the angles still give the same matrix
        warnings.simplefilter("ignore")
        eul = Rotation.from_matrix(local[:, order].reshape(-1, 3, 3)).as_euler(EULER, degrees=True)
    motion = np.concatenate([np.asarray(root_position, np.float64) @ W.T,
                             eul.reshape(F, -1)], axis=1)  # F x (3 + 72)
    lines += ["MOTION", f"Frames: {F}", f"Frame Time: {frame_time:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in motion]
    fh.write("\n".join(lines) + "\n")


@dataclass
class BvhData:
    """A parsed BVH file.

    Attributes:
        names: joint names in file (depth-first) order.
        parents: parent index into ``names`` (-1 for the root).
        offsets: (J, 3) joint offsets.
        channels: per joint, its channel names.
        frame_time: seconds per frame.
        motion: (F, C) channel values, C = sum of the joints' channel counts.
    """

    names: List[str]
    parents: List[int]
    offsets: np.ndarray
    channels: List[List[str]]
    frame_time: float
    motion: np.ndarray

    def rotations(self) -> np.ndarray:
        """(F, J, 3, 3) local rotations: the product of each joint's rotation channels in order."""
        F, out, col = len(self.motion), [], 0
        for ch in self.channels:
            R = np.broadcast_to(np.eye(3), (F, 3, 3)).copy()
            for name in ch:
                if name.endswith("rotation"):
                    R = R @ Rotation.from_euler(name[0].lower(), self.motion[:, col, None],
                                                degrees=True).as_matrix()
                col += 1
            out.append(R)
        return np.stack(out, axis=1)

    def root_positions(self) -> np.ndarray:
        """(F, 3) the root's X/Y/Z position channels."""
        ch = self.channels[0]
        return self.motion[:, [ch.index(f"{a}position") for a in "XYZ"]]


def read_bvh(path) -> BvhData:
    """Parse a BVH file (HIERARCHY with ROOT/JOINT/End Site, MOTION).

    Raises:
        ValueError: a malformed file (the message says where).
    """
    tokens = open(path).read().split()
    names, parents, offsets, channels = [], [], [], []
    stack: List[int] = []
    i = 0
    in_end_site = False
    try:
        if tokens[0] != "HIERARCHY":
            raise ValueError("BVH must start with HIERARCHY")
        i = 1
        while tokens[i] != "MOTION":
            t = tokens[i]
            if t in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                i += 2
            elif t == "End":  # End Site { OFFSET x y z }
                in_end_site = True
                i += 2
            elif t == "{":
                if not in_end_site:
                    stack.append(len(names) - 1)
                i += 1
            elif t == "}":
                if in_end_site:
                    in_end_site = False
                else:
                    stack.pop()
                i += 1
            elif t == "OFFSET":
                if not in_end_site:
                    offsets.append([float(v) for v in tokens[i + 1:i + 4]])
                i += 4
            elif t == "CHANNELS":
                n = int(tokens[i + 1])
                channels.append(tokens[i + 2:i + 2 + n])
                i += 2 + n
            else:
                raise ValueError(f"unexpected token '{t}' in HIERARCHY")
        if tokens[i + 1] != "Frames:" or tokens[i + 3:i + 5] != ["Frame", "Time:"]:
            raise ValueError("MOTION must give 'Frames:' and 'Frame Time:'")
        n_frames, frame_time = int(tokens[i + 2]), float(tokens[i + 5])
        values = np.array([float(v) for v in tokens[i + 6:]])
    except (IndexError, ValueError) as exc:
        raise ValueError(f"malformed BVH '{path}': {exc}") from exc
    n_ch = sum(len(c) for c in channels)
    if values.size != n_frames * n_ch:
        raise ValueError(f"malformed BVH '{path}': {values.size} motion values for "
                         f"{n_frames} frames x {n_ch} channels")
    return BvhData(names, parents, np.array(offsets), channels, frame_time,
                   values.reshape(n_frames, n_ch))
