"""Streaming WHAM: per-track recurrent state in fixed slots, one batched step per frame.

Tracks start and end independently; each owns a slot (row) of one packed state tensor
(free-list), and all tracks present in a frame advance in one batched step that updates their
rows in place (:mod:`wham_ros.wham.slots`). Feeding a track's frames one at a time gives the
outputs of the batch forward over its whole sequence (float64: ~1e-15 relative on the
parity fixture).

The integrator residual flag (WHAM adds the integrator's residual only if every image
feature of the whole sequence is non-zero) is fixed when the track starts: by default from
the first frame's features (real HMR2.0 tokens are never exactly zero), or given explicitly.

API (engine options)::

    eng = StreamingWHAM(net, flip_eval=False, precision="fp32", cuda_graph=False)
    eng.start_track(tid, init_kp, init_smpl, init_root)   # see start_track
    outs = eng.step({tid: WHAMFrame(...)}, full_mesh=False)  # tid -> name -> tensor
    with eng.network_time() as t:    # opt-in: time inside WHAM's LSTM + linear layers
        eng.step(...)
    t.ms                             # (network_time(time.thread_time): CPU time)

* ``precision``: ``fp32`` (default, exact), ``fp16`` or ``int8`` weights
  (:mod:`wham_ros.wham.step_weights`; speed and error in doc/benchmarks.md).
* ``cuda_graph``: with a CUDA network, each batch-size bucket's step is captured once as a
  CUDA graph and replayed; ``static_buffers`` runs the same graph-shaped step without capture
  (any device; what the CPU tests compare with the eager step). The first step of each
  bucket (1, 2, 4, 8, … tracks) and mesh setting captures its graph (slow, once).
* ``network_time`` times Python-side calls: on CUDA it measures launches, and nothing while
  a captured graph replays.
"""
import collections.abc
import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Dict, Hashable, Iterator, Mapping, Optional, Sequence

import numpy as np
import torch

from wham_ros.wham.network import WHAMNetwork, WHAMState
from wham_ros.wham.slots import (FLIPPED_FIELDS, FLIPPED_WIDTH, INPUT_FIELDS, INPUT_WIDTH,
                                 OutputLayout, SlotEngine)
from wham_ros.wham.step_weights import step_network

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


class NetworkTime:
    """Result of :meth:`StreamingWHAM.network_time`: ``seconds`` and ``ms`` inside WHAM's
    LSTM and linear layers."""

    def __init__(self):
        self.seconds = 0.0

    @property
    def ms(self) -> float:
        return self.seconds * 1e3


def _host(a) -> np.ndarray:
    return a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)


def pack_rows(frames: Sequence, fields, width: int, dtype: np.dtype, what: str) -> np.ndarray:
    """Per-track input rows (B, width): each frame's fields flattened side by side.

    Raises:
        ValueError: a frame whose fields do not have the expected sizes.
    """
    out = np.empty((len(frames), width), dtype=dtype)
    for b, (tid, fr) in enumerate(frames):
        o = 0
        for name, w in fields:
            a = _host(getattr(fr, name)).reshape(-1)
            if a.size != w:
                raise ValueError(f"{what} of track {tid}: '{name}' has {a.size} values, "
                                 f"expected {w}")
            out[b, o:o + w] = a
            o += w
    return out


class TrackOutputs(collections.abc.Mapping):
    """One track's outputs of :meth:`StreamingWHAM.step`: output name -> tensor, each a view
    of the track's row of the step's packed outputs (all tracks' outputs side by side in one
    (B, W) tensor, so :func:`outputs_to_host` copies them to the host at once).

    Attributes:
        packed (torch.Tensor): (B, W) the step's packed outputs (shared by its tracks).
        row: this track's row.
        layout: name -> (first column, end column, shape).
    """

    __slots__ = ("packed", "row", "layout")

    def __init__(self, packed: torch.Tensor, row: int, layout: OutputLayout):
        self.packed, self.row, self.layout = packed, row, layout

    def __getitem__(self, name: str) -> torch.Tensor:
        a, e, shape = self.layout[name]
        return self.packed[self.row, a:e].view(shape)

    def __iter__(self):
        return iter(self.layout)

    def __len__(self) -> int:
        return len(self.layout)


def outputs_to_host(outs: Mapping[Hashable, Mapping[str, torch.Tensor]]
                    ) -> Dict[Hashable, Dict[str, np.ndarray]]:
    """Every track's outputs (:meth:`StreamingWHAM.step`) to the host in one copy.

    The outputs of one step are already packed on their device: one copy, then numpy views.
    Other mappings are concatenated on their device (one kernel) and copied once; on a GPU a
    copy per output and track (~26 per person) would each wait for the device.

    Returns:
        track id -> output name -> float64 array of the tensor's shape (views of one array
        per call: the outputs of a track do not overlap).
    """
    values = list(outs.values())
    if values and all(isinstance(o, TrackOutputs) and o.packed is values[0].packed
                      for o in values):
        host = values[0].packed.cpu().numpy().astype(np.float64)  # B x W
        B = host.shape[0]
        per_name = [(name, host[:, a:e].reshape((B,) + shape))  # views, B x ...
                    for name, (a, e, shape) in values[0].layout.items()]
        return {tid: {name: v[o.row] for name, v in per_name} for tid, o in outs.items()}
    items = [(tid, name, value) for tid, out in outs.items() for name, value in out.items()]
    if not items:
        return {tid: {} for tid in outs}
    flat = torch.cat([value.reshape(-1) for _, _, value in items]).cpu().numpy()
    result: Dict[Hashable, Dict[str, np.ndarray]] = {tid: {} for tid in outs}
    start = 0
    for tid, name, value in items:
        n = value.numel()
        result[tid][name] = flat[start:start + n].astype(np.float64).reshape(tuple(value.shape))
        start += n
    return result


class StreamingWHAM:
    """Runs WHAM incrementally for any number of tracks.

    Args:
        network: a loaded :class:`WHAMNetwork` (eval mode; not modified).
        flip_eval: WHAM demo's FLIP_EVAL: every track also runs on the mirrored input and
            pose, shape and contacts are merged before the body and trajectory (about twice
            the cost of the recurrent part; needs the mirrored inputs on every step).
        precision: weights of the step: ``fp32`` (exact), ``fp16`` or ``int8``.
        cuda_graph: capture the step per batch-size bucket as a CUDA graph (CUDA network).
        static_buffers: run the graph-shaped step (fixed buffers, padded buckets) without
            capturing it.

    Raises:
        ValueError: an unknown precision, one the device does not support, or
            ``cuda_graph`` without a CUDA network or with ``flip_eval``.
    """

    def __init__(self, network: WHAMNetwork, flip_eval: bool = False, precision: str = "fp32",
                 cuda_graph: bool = False, static_buffers: bool = False):
        self.net = network.eval()
        self.flip_eval, self.precision = flip_eval, precision
        self.step_net = step_network(self.net, precision)
        self.slots = SlotEngine(self.step_net, flip_eval, static=static_buffers,
                                cuda_graph=cuda_graph)
        self._slot: Dict[Hashable, int] = {}
        self._age: Dict[Hashable, int] = {}

    @property
    def track_ids(self):
        return list(self._slot)

    def __contains__(self, track_id) -> bool:
        return track_id in self._slot

    def slots_of(self) -> Dict[Hashable, int]:
        """Track id -> its slot (row of the packed state)."""
        return dict(self._slot)

    @contextlib.contextmanager
    def network_time(self, timer: Callable[[], float] = time.perf_counter
                     ) -> Iterator[NetworkTime]:
        """Time spent inside WHAM's LSTM and linear layers during the ``with`` block, read
        with ``timer`` around each call (host wall-clock by default; ``time.thread_time`` for
        CPU time). Off outside the block (no cost)."""
        clock, result = self.step_net.clock, NetworkTime()
        start, clock.active, clock.timer = clock.seconds, True, timer
        try:
            yield result
        finally:
            clock.active = False
            result.seconds = clock.seconds - start

    def _t(self, a, dtype=None) -> torch.Tensor:
        if not torch.is_tensor(a):
            a = np.array(a)  # a copy: inputs may be read-only views (e.g. decoded messages)
        return torch.as_tensor(a).to(device=self.net.device, dtype=dtype or self.net.dtype)

    def _init(self, init_kp, init_smpl, init_root, residual, first_features) -> WHAMState:
        if residual is None:
            residual = True if first_features is None else bool(
                (self._t(first_features) != 0).all())
        return self.step_net.init_state(
            self._t(init_kp).reshape(1, -1), self._t(init_smpl).reshape(1, 24, 6),
            self._t(init_root).reshape(1, 6), torch.tensor([residual]))

    @torch.no_grad()
    def start_track(self, track_id: Hashable, init_kp: ArrayLike, init_smpl: ArrayLike,
                    init_root: ArrayLike, residual: Optional[bool] = None,
                    first_features: Optional[ArrayLike] = None,
                    flipped_init: Optional[tuple] = None) -> None:
        """Start (or restart) a track in a free slot (its own slot when restarted).

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
        flipped = None
        if self.flip_eval:
            if flipped_init is None:
                raise ValueError(f"track {track_id}: flip_eval needs the mirrored initial state")
            fkp, fsmpl, froot, ffeat = flipped_init
            flipped = self._init(fkp, fsmpl, froot, residual, ffeat)
        state = self._init(init_kp, init_smpl, init_root, residual, first_features)
        slot = self._slot.get(track_id)
        if slot is None:
            slot = self._slot[track_id] = self.slots.alloc()
        self.slots.write(slot, state, flipped)
        self._age[track_id] = 0

    def end_track(self, track_id: Hashable) -> None:
        """Forget a track and free its slot (no error if unknown)."""
        slot = self._slot.pop(track_id, None)
        if slot is not None:
            self.slots.release(slot)
            del self._age[track_id]

    def reset(self) -> None:
        """Forget all tracks."""
        for tid in list(self._slot):
            self.end_track(tid)

    def age(self, track_id: Hashable) -> int:
        """Frames processed for a track."""
        return self._age[track_id]

    @torch.no_grad()
    def step(self, frames: Mapping[Hashable, WHAMFrame], full_mesh: bool = False,
             flipped: Optional[Mapping[Hashable, FlippedFrame]] = None
             ) -> Dict[Hashable, TrackOutputs]:
        """Advance the given tracks by one frame, batched.

        Args:
            frames: track id -> its inputs for this frame (tracks must have been started).
            full_mesh: also compute ``verts_cam`` (6890, 3).
            flipped: with ``flip_eval``: track id -> mirrored inputs (same ids as ``frames``).

        Returns:
            track id -> outputs of :meth:`WHAMNetwork.step` without the batch axis
            (:class:`TrackOutputs`, a mapping name -> tensor; world quantities y-down, in the
            track's own WHAM world frame).

        Raises:
            KeyError: a track that was not started, or (flip_eval) without mirrored inputs.
            ValueError: inputs of the wrong size.
        """
        ids = list(frames)
        if not ids:
            return {}
        unknown = [i for i in ids if i not in self._slot]
        if unknown:
            raise KeyError(f"WHAM step for tracks that were never started: {unknown}")
        dev, dt = self.net.device, self.net.dtype
        np_dt = np.float64 if dt == torch.float64 else np.float32
        to_dev = lambda a: torch.from_numpy(a).to(dev, dt)  # noqa: E731
        inp = to_dev(pack_rows([(i, frames[i]) for i in ids], INPUT_FIELDS, INPUT_WIDTH, np_dt,
                               "WHAMFrame"))
        finp = None
        if self.flip_eval:
            missing = [i for i in ids if flipped is None or i not in flipped]
            if missing:
                raise KeyError(f"flip_eval step without mirrored inputs for tracks {missing}")
            finp = to_dev(pack_rows([(i, flipped[i]) for i in ids], FLIPPED_FIELDS,
                                    FLIPPED_WIDTH, np_dt, "FlippedFrame"))
        packed, layout = self.slots.step([self._slot[i] for i in ids], inp, finp, full_mesh)
        result = {}
        for b, tid in enumerate(ids):
            self._age[tid] += 1
            result[tid] = TrackOutputs(packed, b, layout)
        return result
