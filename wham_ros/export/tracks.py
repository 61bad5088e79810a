"""Collect WHAM's per-frame SMPL parameters per track and write ``track_<id>.npz`` / ``.bvh``.

``track_<id>.npz`` keys (T = frames of the track, in time order; SI units, rotations as
axis-angle vectors in radians; world = the z-up world frame, camera = the optical frame):

==========================  ==========  ==================================================
key                         shape       meaning
==========================  ==========  ==================================================
``track_id``                ()          tracker id (``body_id`` = ``b<track_id>``)
``stamps_ns``               (T,)        image stamps, int64 nanoseconds
``world_frame_id``          ()          name of the world frame
``camera_frame_id``         ()          name of the camera optical frame
``global_orient_world``     (T, 3)      SMPL root orientation in the world
``global_orient_cam``       (T, 3)      SMPL root orientation in the camera frame
``body_pose``               (T, 69)     SMPL joints 1..23, parent-relative, (23, 3) row-major
``betas``                   (T, 10)     SMPL shape
``trans_world``             (T, 3)      hip centre (mean of the hip joints) in the world, m
``trans_cam``               (T, 3)      hip centre in the camera frame, m
``pelvis_world``            (T, 3)      SMPL pelvis joint in the world, m
``root_velocity_world``     (T, 3)      WHAM's refined root velocity, world, m/s
``heading_rate``            (T,)        yaw rate about world z, rad/s
``contact``                 (T, 4)      foot contact probability (left toe, left heel,
                                        right toe, right heel)
``rest_offsets``            (24, 3)     the person's rest bone vectors (SMPL body axes, m),
                                        from the first frame; the BVH's offsets
==========================  ==========  ==================================================

``trans_*`` is where WHAM puts the body, not smplx's ``transl`` argument: smplx places the
pelvis at ``J_0(betas) + transl``, so ``transl = pelvis_world - J_0(betas)``.

``track_<id>.bvh``: the SMPL skeleton with the person's offsets, the pelvis trajectory in the
world and the joint rotations, resampled to 30 fps (WHAM's step rate) by holding the last
frame over gaps (see :mod:`wham_ros.export.bvh`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from scipy.spatial.transform import Rotation

from wham_ros.body.kinematics import rest_offsets
from wham_ros.export.bvh import write_bvh
from wham_ros.types import CameraFrame, FrameResult, HumanEstimate

LOG = logging.getLogger(__name__)
BVH_FPS = 30.0


def _aa(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle, rad."""
    R = np.asarray(R, np.float64)
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(R.shape[:-2] + (3,))


class TrackExporter:
    """Records every track's estimates frame by frame; :meth:`write` saves them.

    Args:
        out_dir: output directory (created).
        bvh_up: 'z' or 'y', the BVH file's up axis.
    """

    def __init__(self, out_dir, bvh_up: str = "z") -> None:
        from wham_ros.export.bvh import axes

        axes(bvh_up)  # rejects an unknown axis before any work
        self.out_dir, self.bvh_up = Path(out_dir), bvh_up
        self.tracks: Dict[int, List[HumanEstimate]] = {}
        self.stamps: Dict[int, List[int]] = {}
        self.world_frame_id = self.camera_frame_id = ""

    needs_mesh = False

    def add(self, frame: Optional[CameraFrame], result: FrameResult) -> None:
        """Record one frame's humans (``frame``, the image, is not needed); a frame without a
        world pose (``world_frame_id`` empty, no TF for it) is left out."""
        if not result.world_frame_id:
            return
        self.world_frame_id, self.camera_frame_id = result.world_frame_id, result.frame_id
        for h in result.humans:
            self.tracks.setdefault(h.track_id, []).append(h)
            self.stamps.setdefault(h.track_id, []).append(int(result.stamp_ns))

    def arrays(self, track_id: int) -> Dict[str, np.ndarray]:
        """The ``.npz`` content of a track (keys in the module docstring)."""
        hs, stamps = self.tracks[track_id], self.stamps[track_id]
        first = hs[0]
        return {
            "track_id": np.int64(track_id), "stamps_ns": np.asarray(stamps, np.int64),
            "world_frame_id": np.str_(self.world_frame_id),
            "camera_frame_id": np.str_(self.camera_frame_id),
            "global_orient_world": _aa(np.stack([h.global_orient_world for h in hs])),
            "global_orient_cam": _aa(np.stack([h.global_orient_cam for h in hs])),
            "body_pose": _aa(np.stack([h.body_pose for h in hs])).reshape(len(hs), 69),
            "betas": np.stack([np.asarray(h.betas, np.float64) for h in hs]),
            "trans_world": np.stack([h.trans_world for h in hs]),
            "trans_cam": np.stack([h.trans_cam for h in hs]),
            "pelvis_world": np.stack([h.smpl_joints_world[0] for h in hs]),
            "root_velocity_world": np.stack([h.root_velocity_world for h in hs]),
            "heading_rate": np.array([h.heading_rate for h in hs], np.float64),
            "contact": np.stack([np.asarray(h.contact, np.float64) for h in hs]),
            "rest_offsets": rest_offsets(first.smpl_joints_cam, first.global_orient_cam,
                                         first.body_pose),
        }

    def close(self) -> None:
        """Write the files (the runner's end of input)."""
        self.write()

    def write(self) -> List[Path]:
        """Write ``track_<id>.npz`` and ``track_<id>.bvh`` for every track; returns the paths."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for tid in sorted(self.tracks):
            arr = self.arrays(tid)
            npz = self.out_dir / f"track_{tid}.npz"
            np.savez(npz, **arr)
            bvh = self.out_dir / f"track_{tid}.bvh"
            idx = self.frame_grid(arr["stamps_ns"])
            hs = self.tracks[tid]
            with open(bvh, "w") as fh:
                write_bvh(fh, arr["rest_offsets"], arr["pelvis_world"][idx],
                          np.stack([h.global_orient_world for h in hs])[idx],
                          np.stack([h.body_pose for h in hs])[idx], 1.0 / BVH_FPS, self.bvh_up)
            paths += [npz, bvh]
        LOG.info("exported %d track(s) to %s", len(self.tracks), self.out_dir)
        return paths

    @staticmethod
    def frame_grid(stamps_ns: np.ndarray) -> np.ndarray:
        """Index of the recorded frame shown at each 30 fps BVH frame (last one at or before it).

        Args:
            stamps_ns (np.ndarray): (T,) increasing stamps of a track's frames.

        Returns:
            np.ndarray: (F,) indices into the T frames, F = 1 + round(duration * 30).
        """
        t = (np.asarray(stamps_ns, np.int64) - stamps_ns[0]) * 1e-9 * BVH_FPS  # frames
        grid = np.arange(int(round(t[-1])) + 1)
        return np.searchsorted(t, grid + 0.5, side="right") - 1
