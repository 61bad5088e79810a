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


@dataclass
class FlippedFrame:
    """The mirrored view of a track's frame (flip-eval): keypoints mirrored (``x -> W - x``,
    left/right swapped) and normalised with the mirrored box, features of the mirrored crop.

    Attributes:
        x: (37,), mask: (17,) bool, features: (1024,).
    """

    x: ArrayLike
    mask: ArrayLike
    features: ArrayLike


class StreamingWHAM:
    """Runs WHAM incrementally for any number of tracks.

    Args:
        network: a loaded :class:`WHAMNetwork` (eval mode).
        flip_eval: WHAM demo's FLIP_EVAL: every track also runs on the mirrored input and
            pose, shape and contacts are merged before the body and trajectory (about twice
            the cost of the recurrent part; needs the mirrored inputs on every step).
    """

    def __init__(self, network: WHAMNetwork, flip_eval: bool = False):
        self.net = network.eval()
        self.flip_eval = flip_eval
        self._states: Dict[Hashable, WHAMState] = {}
        self._flipped: Dict[Hashable, WHAMState] = {}

    @property
    def track_ids(self):
        return list(self._states)

    def __contains__(self, track_id) -> bool:
        return track_id in self._states

    def _t(self, a, dtype=None) -> torch.Tensor:
        if not torch.is_tensor(a):
            a = np.array(a)  # a copy: inputs may be read-only views (e.g. decoded messages)
        return torch.as_tensor(a).to(device=self.net.device, dtype=dtype or self.net.dtype)

    def _init(self, init_kp, init_smpl, init_root, residual, first_features) -> WHAMState:
        if residual is None:
            residual = True if first_features is None else bool(
                (self._t(first_features) != 0).all())
        return self.net.init_state(
            self._t(init_kp).reshape(1, -1), self._t(init_smpl).reshape(1, 24, 6),
            self._t(init_root).reshape(1, 6), torch.tensor([residual]))

    @torch.no_grad()
    def start_track(self, track_id: Hashable, init_kp: ArrayLike, init_smpl: ArrayLike,
                    init_root: ArrayLike, residual: Optional[bool] = None,
                    first_features: Optional[ArrayLike] = None,
                    flipped_init: Optional[tuple] = None) -> None:
        """Start (or restart) a track.

        Args:
            track_id: any hashable id.
            init_kp: (88,), init_smpl: (24, 6), init_root: (6,) — see ``track_init``.
            residual: integrator residual flag; if None, taken from ``first_features``
                (True when all are non-zero), else True.
            first_features: (1024,) features of the first frame.
            flipped_init: with ``flip_eval``: ``(init_kp, init_smpl, init_root,
                first_features)`` of the mirrored view.

        Raises:
            ValueError: ``flip_eval`` without ``flipped_init``.
        """
        if self.flip_eval:
            if flipped_init is None:
                raise ValueError(f"track {track_id}: flip_eval needs the mirrored initial state")
            fkp, fsmpl, froot, ffeat = flipped_init
            self._flipped[track_id] = self._init(fkp, fsmpl, froot, residual, ffeat)
        self._states[track_id] = self._init(init_kp, init_smpl, init_root, residual, first_features)

    def end_track(self, track_id: Hashable) -> None:
        """Forget a track (no error if unknown)."""
        self._states.pop(track_id, None)
        self._flipped.pop(track_id, None)

    def reset(self) -> None:
        """Forget all tracks."""
        self._states.clear()
        self._flipped.clear()

    def age(self, track_id: Hashable) -> int:
        """Frames processed for a track."""
        return int(self._states[track_id].frame[0])

    @torch.no_grad()
    def step(self, frames: Mapping[Hashable, WHAMFrame], full_mesh: bool = False,
             flipped: Optional[Mapping[Hashable, FlippedFrame]] = None
             ) -> Dict[Hashable, Dict[str, torch.Tensor]]:
        """Advance the given tracks by one frame, batched.

        Args:
            frames: track id -> its inputs for this frame (tracks must have been started).
            full_mesh: also compute ``verts_cam`` (6890, 3).
            flipped: with ``flip_eval``: track id -> mirrored inputs (same ids as ``frames``).

        Returns:
            track id -> outputs of :meth:`WHAMNetwork.step` without the batch axis
            (world quantities y-down, in the track's own WHAM world frame).

        Raises:
            KeyError: a track that was not started, or (flip_eval) without mirrored inputs.
        """
        ids = list(frames)
        if not ids:
            return {}
        unknown = [i for i in ids if i not in self._states]
        if unknown:
            raise KeyError(f"WHAM step for tracks that were never started: {unknown}")
        state = WHAMState.cat([self._states[i] for i in ids])
        stack = lambda src, name, dt=None: torch.stack(  # noqa: E731
            [self._t(getattr(src[i], name), dt).reshape(-1) for i in ids])
        motion = (stack(frames, "x"), stack(frames, "mask", torch.bool),
                  stack(frames, "features"), stack(frames, "cam_angvel"))
        body = (stack(frames, "cam_intrinsics").reshape(-1, 3, 3), stack(frames, "bbox"),
                stack(frames, "res"))
        if self.flip_eval:
            missing = [i for i in ids if flipped is None or i not in flipped]
            if missing:
                raise KeyError(f"flip_eval step without mirrored inputs for tracks {missing}")
            fmotion = (stack(flipped, "x"), stack(flipped, "mask", torch.bool),
                       stack(flipped, "features"), motion[3])  # the demo mirrors no cam_angvel
            out, new, fnew = self.net.step_flip_eval(
                state, WHAMState.cat([self._flipped[i] for i in ids]), motion, fmotion, *body,
                full_mesh=full_mesh)
            for b, tid in enumerate(ids):
                self._flipped[tid] = fnew.select(b)
        else:
            out, new = self.net.step(state, *motion, *body, full_mesh=full_mesh)
        result = {}
        for b, tid in enumerate(ids):
            self._states[tid] = new.select(b)
            result[tid] = {k: v[b] for k, v in out.items()}
        return result
