"""Streaming WHAM: per-track recurrent state, one batched step per camera frame.

Tracks start and end independently; all tracks present in a frame advance in one batched
:meth:`WHAMNetwork.step`. Feeding a track's frames one at a time gives the outputs of the
batch forward over its whole sequence (float64: ~1e-15 relative on the parity fixture).

The integrator residual flag (WHAM adds the integrator's residual only if every image
feature of the whole sequence is non-zero) is fixed when the track starts: by default from
the first frame's features (real HMR2.0 tokens are never exactly zero), or given explicitly.
"""
from dataclasses import dataclass
from typing import Dict, Hashable, Mapping, Optional

import numpy as np
import torch

from wham_ros.wham.network import WHAMNetwork, WHAMState

ArrayLike = object  # numpy array or torch tensor


@dataclass
class WHAMFrame:
    """One track's inputs for one frame (numpy or torch; converted to the network dtype).

    Attributes:
        x: (37,) normalised keypoints.
        mask: (17,) bool, True = keypoint confidence < 0.3.
        features: (1024,) image feature.
        cam_angvel: (6,) camera angular velocity in WHAM's 6D form (x fps).
        cam_intrinsics: (3, 3) pixels.
        bbox: (3,) ``[cx, cy, s]``.
        res: (2,) ``[W, H]``.
    """

    x: ArrayLike
    mask: ArrayLike
    features: ArrayLike
    cam_angvel: ArrayLike
    cam_intrinsics: ArrayLike
    bbox: ArrayLike
    res: ArrayLike


class StreamingWHAM:
    """Runs WHAM incrementally for any number of tracks.

    Args:
        network: a loaded :class:`WHAMNetwork` (eval mode).
    """

    def __init__(self, network: WHAMNetwork):
        self.net = network.eval()
        self._states: Dict[Hashable, WHAMState] = {}

    @property
    def track_ids(self):
        return list(self._states)

    def __contains__(self, track_id) -> bool:
        return track_id in self._states

    def _t(self, a, dtype=None) -> torch.Tensor:
        if not torch.is_tensor(a):
            a = np.array(a)  # a copy: inputs may be read-only views (e.g. decoded messages)
        return torch.as_tensor(a).to(device=self.net.device, dtype=dtype or self.net.dtype)

    @torch.no_grad()
    def start_track(self, track_id: Hashable, init_kp: ArrayLike, init_smpl: ArrayLike,
                    init_root: ArrayLike, residual: Optional[bool] = None,
                    first_features: Optional[ArrayLike] = None) -> None:
        """Start (or restart) a track.

        Args:
            track_id: any hashable id.
            init_kp: (88,), init_smpl: (24, 6), init_root: (6,) — see ``track_init``.
            residual: integrator residual flag; if None, taken from ``first_features``
                (True when all are non-zero), else True.
            first_features: (1024,) features of the first frame.
        """
        if residual is None:
            residual = True if first_features is None else bool(
                (self._t(first_features) != 0).all())
        self._states[track_id] = self.net.init_state(
            self._t(init_kp).reshape(1, -1), self._t(init_smpl).reshape(1, 24, 6),
            self._t(init_root).reshape(1, 6), torch.tensor([residual]))

    def end_track(self, track_id: Hashable) -> None:
        """Forget a track (no error if unknown)."""
        self._states.pop(track_id, None)

    def reset(self) -> None:
        """Forget all tracks."""
        self._states.clear()

    def age(self, track_id: Hashable) -> int:
        """Frames processed for a track."""
        return int(self._states[track_id].frame[0])

    @torch.no_grad()
    def step(self, frames: Mapping[Hashable, WHAMFrame], full_mesh: bool = False
             ) -> Dict[Hashable, Dict[str, torch.Tensor]]:
        """Advance the given tracks by one frame, batched.

        Args:
            frames: track id -> its inputs for this frame (tracks must have been started).
            full_mesh: also compute ``verts_cam`` (6890, 3).

        Returns:
            track id -> outputs of :meth:`WHAMNetwork.step` without the batch axis
            (world quantities y-down, in the track's own WHAM world frame).

        Raises:
            KeyError: a track that was not started.
        """
        ids = list(frames)
        if not ids:
            return {}
        unknown = [i for i in ids if i not in self._states]
        if unknown:
            raise KeyError(f"WHAM step for tracks that were never started: {unknown}")
        state = WHAMState.cat([self._states[i] for i in ids])
        f = [frames[i] for i in ids]
        stack = lambda name, dt=None: torch.stack(  # noqa: E731
            [self._t(getattr(fr, name), dt).reshape(-1) for fr in f])
        out, new = self.net.step(
            state, stack("x"), stack("mask", torch.bool), stack("features"),
            stack("cam_angvel"), stack("cam_intrinsics").reshape(-1, 3, 3), stack("bbox"),
            stack("res"), full_mesh=full_mesh)
        result = {}
        for b, tid in enumerate(ids):
            self._states[tid] = new.select(b)
            result[tid] = {k: v[b] for k, v in out.items()}
        return result
