"""Per-track WHAM state in fixed slots of one packed tensor, stepped in place.

Layout: every track owns a row (slot) of ``state`` (S + 1, D): its LSTM states and
autoregressive values side by side (:class:`StateLayout`). A step gathers the active rows,
runs :meth:`WHAMNetwork.step` on views of them and writes the new rows back in place
(``index_copy_``): one gather, one concatenation and one scatter of state per step. Row S is a
scratch slot that padded batch entries read and write.

The eager step defers the write-back: the new state of the slots it stepped is kept as the
network returned it (:class:`WHAMState`, "live") and is the next step's state when that step
advances the same slots in the same order (the common case: the same people in consecutive
frames), so such a step neither gathers nor scatters. Any other step, and every change of
the slots (:meth:`SlotEngine.write`, ``alloc``, ``release``), first writes the live rows back
(:meth:`SlotEngine.flush`); the values are the same bits either way (packing is a copy).

Two ways to run the same step function (:meth:`SlotEngine._slot_step`):

* eager: the B active slots exactly (any B);
* static ("graph-shaped"): the slot indices and inputs are copied into fixed buffers of the
  next bucket size N >= B (powers of two up to the capacity), entries B..N-1 point at the
  scratch slot; the outputs are rows 0..B-1. This is what a CUDA graph replays: with
  ``cuda_graph`` the static step of each (N, full_mesh) is captured once
  (:meth:`SlotEngine._capture`) and replayed; the step has no host synchronisation.

Inputs are packed per track into one row as well (:data:`INPUT_FIELDS`), so a step uploads
one (B, 1098) tensor (plus (B, 1078) mirrored inputs with flip-eval); the outputs come back
packed the same way (:func:`pack_outputs`): one (B, W) tensor, one device -> host copy.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from wham_ros.wham.network import WHAMState

# Per-track input row: field name -> width; ``mask`` is stored as 0/1.
INPUT_FIELDS = (("x", 37), ("mask", 17), ("features", 1024), ("cam_angvel", 6),
                ("cam_intrinsics", 9), ("bbox", 3), ("res", 2))
FLIPPED_FIELDS = INPUT_FIELDS[:3]


def _offsets(fields) -> Dict[str, Tuple[int, int]]:
    out, o = {}, 0
    for name, w in fields:
        out[name] = (o, o + w)
        o += w
    return out


INPUT_SLICES = _offsets(INPUT_FIELDS)
INPUT_SPLIT = [w for _, w in INPUT_FIELDS]
INPUT_WIDTH = sum(INPUT_SPLIT)  # 1098
FLIPPED_WIDTH = sum(w for _, w in FLIPPED_FIELDS)  # 1078


# Packed outputs: name -> (first column, end column, per-track shape).
OutputLayout = Dict[str, Tuple[int, int, Tuple[int, ...]]]


def output_layout(out: Dict[str, torch.Tensor]) -> OutputLayout:
    """Columns of :func:`pack_outputs` for outputs ``out`` (each (N, ...)), in their order."""
    layout, o = {}, 0
    for name, v in out.items():
        shape = tuple(v.shape[1:])
        n = math.prod(shape)
        layout[name] = (o, o + n, shape)
        o += n
    return layout


def pack_outputs(out: Dict[str, torch.Tensor]) -> torch.Tensor:
    """Outputs (each (N, ...), one dtype) side by side in one (N, W) tensor (one kernel)."""
    return torch.cat([v if v.dim() == 2 else v.flatten(1) for v in out.values()], dim=1)


def split_inputs(inp: torch.Tensor):
    """Views of a packed (B, 1098) input: ``(x, mask, features, cam_angvel)`` and
    ``(cam_intrinsics (B, 3, 3), bbox, res)``; mask as bool."""
    x, mask, features, cam_angvel, K, bbox, res = inp.split(INPUT_SPLIT, dim=1)  # one op
    return (x, mask > 0.5, features, cam_angvel), (K.reshape(-1, 3, 3), bbox, res)


class StateLayout:
    """Columns of a packed per-track state row.

    LSTM states: ``{name}_h``/``{name}_c`` of width L * H (layer-major); then ``prev_kp`` (51),
    ``prev_root6`` (6), ``prev_root`` (9, row-major 3x3), ``prev_pose`` (144),
    ``prev_root_ref`` (9), ``trans_unref`` (3), ``trans_world`` (3), ``prev_feet_world`` (12),
    ``prev_feet_reset`` (12), ``residual`` (1, 0/1) and ``frame`` (1, frames processed; only
    ``frame == 0`` is read, so its float precision does not matter).

    Args:
        net: the (step) network; its regressors give L and H.
    """

    LSTMS = ("enc", "traj", "dec", "ref")
    TAIL = (("prev_kp", 51, ()), ("prev_root6", 6, ()), ("prev_root", 9, (3, 3)),
            ("prev_pose", 144, ()), ("prev_root_ref", 9, (3, 3)), ("trans_unref", 3, ()),
            ("trans_world", 3, ()), ("prev_feet_world", 12, (4, 3)),
            ("prev_feet_reset", 12, (4, 3)))

    def __init__(self, net):
        regs = {"enc": net.motion_encoder.regressor, "traj": net.trajectory_decoder.regressor,
                "dec": net.motion_decoder.regressor, "ref": net.trajectory_refiner.refiner}
        self.lstm = {k: (r.num_layers, r.hidden_size) for k, r in regs.items()}
        # Column widths of the row's pieces, in order (one split gives all of them)
        self.split_sizes = [self.lstm[k][1] for k in self.LSTMS for _ in range(2 * self.lstm[k][0])]
        self.split_sizes += [w for _, w, _ in self.TAIL] + [1, 1]  # + residual, frame
        self.width = sum(self.split_sizes)

    def unpack(self, rows: torch.Tensor) -> WHAMState:
        """(B, D) rows -> a :class:`WHAMState` of views (LSTM states as lists of L (B, H))."""
        B = rows.shape[0]
        pieces = iter(rows.split(self.split_sizes, dim=1))
        out = {}
        for k in self.LSTMS:
            L = self.lstm[k][0]
            h = [next(pieces) for _ in range(L)]
            out[k] = (h, [next(pieces) for _ in range(L)])
        for name, _, shape in self.TAIL:
            v = next(pieces)
            out[name] = v.reshape((B,) + shape) if shape else v
        residual, frame = next(pieces), next(pieces)
        return WHAMState(**out, residual=residual[:, 0] > 0.5, frame=frame[:, 0])

    def pack(self, state: WHAMState) -> torch.Tensor:
        """A :class:`WHAMState` (LSTM states (L, B, H) or lists of (B, H)) -> (B, D) rows."""
        parts: List[torch.Tensor] = []
        for k in self.LSTMS:
            h, c = getattr(state, k)
            parts.extend(h)
            parts.extend(c)
        for name, _, shape in self.TAIL:
            v = getattr(state, name)
            parts.append(v.flatten(1) if shape else v)
        dt = state.prev_kp.dtype
        parts.append(state.residual.to(dt)[:, None])
        parts.append(state.frame.to(dt)[:, None])
        return torch.cat(parts, dim=1)


def bucket_size(n: int) -> int:
    """Smallest power of two >= n (n >= 1)."""
    return 1 << (n - 1).bit_length()


class SlotEngine:
    """Packed slot state and the batched step of the active slots.

    Args:
        net: the step network (:func:`wham_ros.wham.step_weights.step_network`).
        flip_eval: keep a second packed state for the mirrored pass.
        static: run the graph-shaped step (fixed buffers, bucketed batch, padding).
        cuda_graph: capture and replay the static step per (bucket, full_mesh); needs a CUDA
            network.
        capacity: initial slot count (grows by doubling; captured graphs are then redone).

    Raises:
        ValueError: ``cuda_graph`` on a non-CUDA network, or with ``flip_eval`` (the flip merge
            projects rotations with an SVD, which synchronises).
    """

    def __init__(self, net, flip_eval: bool = False, static: bool = False,
                 cuda_graph: bool = False, capacity: int = 4):
        if cuda_graph and net.device.type != "cuda":
            raise ValueError(f"cuda_graph needs the WHAM network on a CUDA device, not {net.device}")
        if cuda_graph and flip_eval:
            raise ValueError("cuda_graph does not support flip_eval (its rotation merge uses an "
                             "SVD, which synchronises with the host); use one or the other")
        self.net, self.flip_eval = net, flip_eval
        self.static, self.cuda_graph = static or cuda_graph, cuda_graph
        self.layout = StateLayout(net)
        self._pad_row = self._neutral_row()
        self.capacity = 0
        self.state = self.flipped = None
        self._free: List[int] = []
        # Eager step's deferred write-back: (slots, index (B,), new state, new flipped state)
        self._live: Optional[Tuple[Tuple[int, ...], torch.Tensor, WHAMState,
                                   Optional[WHAMState]]] = None
        self._grow(bucket_size(max(1, capacity)))

    # ----------------------------------------------------------------- slots
    @torch.no_grad()
    def _neutral_row(self) -> torch.Tensor:
        """A valid state row (identity rotations, zero keypoints) for the scratch slot."""
        dev, dt = self.net.device, self.net.dtype
        eye6 = torch.tensor([1.0, 0, 0, 0, 1, 0], device=dev, dtype=dt)
        st = self.net.init_state(torch.zeros(1, 88, device=dev, dtype=dt),
                                 eye6.repeat(1, 24, 1), eye6[None], torch.ones(1, dtype=torch.bool))
        return self.layout.pack(st)[0]

    def flush(self) -> None:
        """Write the live state of the last eager step back into its slots (no-op if none)."""
        if self._live is None:
            return
        _, idx, new, fnew = self._live
        self._live = None
        self._write_back(idx, new, fnew)

    def _write_back(self, idx: torch.Tensor, new: WHAMState, fnew: Optional[WHAMState]) -> None:
        """Pack states (and mirrored states) into the rows of the slots ``idx`` (N,)."""
        self.state.index_copy_(0, idx, self.layout.pack(new))
        if fnew is not None:
            self.flipped.index_copy_(0, idx, self.layout.pack(fnew))

    def _grow(self, capacity: int) -> None:
        self.flush()
        old = self.capacity

        def grown(cur):
            new = self._pad_row.repeat(capacity + 1, 1)  # (S + 1) x D, row S = scratch
            if cur is not None:
                new[:old] = cur[:old]
            return new
        self.state = grown(self.state)
        self.flipped = grown(self.flipped) if self.flip_eval else None
        self._free.extend(range(old, capacity))
        self.capacity = capacity
        self._static: Dict[int, tuple] = {}
        self._graphs: Dict[Tuple[int, bool], tuple] = {}
        self.layouts: Dict[bool, OutputLayout] = {}  # full_mesh -> layout of the packed outputs

    def alloc(self) -> int:
        """A free slot (the lowest), growing the buffers when full."""
        self.flush()
        if not self._free:
            self._grow(2 * self.capacity)
        self._free.sort()
        return self._free.pop(0)

    def release(self, slot: int) -> None:
        """Return a slot to the free list."""
        self.flush()
        self._free.append(slot)

    def write(self, slot: int, state: WHAMState, flipped: Optional[WHAMState] = None) -> None:
        """Set a slot's state (batch of one)."""
        self.flush()
        self.state[slot] = self.layout.pack(state)[0]
        if flipped is not None:
            self.flipped[slot] = self.layout.pack(flipped)[0]

    # ------------------------------------------------------------------ step
    def _gather(self, idx: torch.Tensor) -> Tuple[WHAMState, Optional[WHAMState]]:
        """The states (and mirrored states) of the slots ``idx`` (N,), as views of copies."""
        fst = self.layout.unpack(self.flipped.index_select(0, idx)) if self.flip_eval else None
        return self.layout.unpack(self.state.index_select(0, idx)), fst

    def _slot_step(self, idx: torch.Tensor, inp: torch.Tensor, finp: Optional[torch.Tensor],
                   full_mesh: bool, live: Optional[tuple] = None,
                   first_frames: bool = True) -> torch.Tensor:
        """Step the slots ``idx`` (N,) with inputs (N, 1098) (and mirrored (N, 1078)); returns
        the (N, W) packed outputs (:attr:`layouts`).

        Without ``live`` the slots' rows are gathered and their new state is written back in
        place (the graph-shaped step); with ``live`` = ``(slots, state, flipped state)`` of
        these slots, that state is stepped and the new one kept live (:meth:`flush`).
        ``first_frames`` False: no slot is on its track's first frame (see
        :meth:`WHAMNetwork.step`).
        """
        motion, body = split_inputs(inp)
        slots, st, fst = (None,) + self._gather(idx) if live is None else live
        fnew = None
        if self.flip_eval:
            g = lambda n: finp[:, slice(*INPUT_SLICES[n])]  # noqa: E731
            fmotion = (g("x"), g("mask") > 0.5, g("features"), motion[3])  # no mirrored angvel
            out, new, fnew = self.net.step_flip_eval(st, fst, motion, fmotion, *body,
                                                     full_mesh, first_frames)
        else:
            out, new = self.net.step(st, *motion, *body, full_mesh, first_frames)
        if live is None:
            self._write_back(idx, new, fnew)
        else:
            self._live = (slots, idx, new, fnew)
        if full_mesh not in self.layouts:
            self.layouts[full_mesh] = output_layout(out)
        return pack_outputs(out)

    def step(self, slots: Sequence[int], inp: torch.Tensor, finp: Optional[torch.Tensor] = None,
             full_mesh: bool = False) -> Tuple[torch.Tensor, OutputLayout]:
        """Advance ``slots`` by one frame.

        Args:
            slots: B distinct slot indices.
            inp (torch.Tensor): (B, 1098) packed inputs (:data:`INPUT_FIELDS`), network dtype.
            finp (torch.Tensor): (B, 1078) packed mirrored inputs (flip-eval only).
            full_mesh: also output ``verts_cam``.

        Returns:
            (the outputs of :meth:`WHAMNetwork.step` packed, (B, W) (own memory); their
            layout: name -> (first column, end column, per-track shape)).
        """
        B = len(slots)
        if not self.static:
            slots = tuple(slots)
            hit = self._live is not None and self._live[0] == slots
            if hit:  # these rows were stepped last time: none is on its first frame
                _, idx, st, fst = self._live
            else:
                self.flush()
                idx = torch.tensor(slots, dtype=torch.int64).to(self.state.device)
                st, fst = self._gather(idx)
            return (self._slot_step(idx, inp, finp, full_mesh, (slots, st, fst), not hit),
                    self.layouts[full_mesh])
        n = bucket_size(B)
        idx_buf, inp_buf, finp_buf = self._buffers(n)
        idx_buf[:B].copy_(torch.tensor(slots, dtype=torch.int64), non_blocking=True)
        idx_buf[B:].fill_(self.capacity)
        # Padding entries repeat the first track's inputs on the scratch slot: finite values.
        inp_buf[:B].copy_(inp, non_blocking=True)
        inp_buf[B:].copy_(inp_buf[:1].expand(n - B, -1))
        if finp is not None:
            finp_buf[:B].copy_(finp, non_blocking=True)
            finp_buf[B:].copy_(finp_buf[:1].expand(n - B, -1))
        if not self.cuda_graph:
            return (self._slot_step(idx_buf, inp_buf, finp_buf, full_mesh)[:B],
                    self.layouts[full_mesh])
        graph, out = self._graphs.get((n, full_mesh)) or self._capture(n, full_mesh)
        with torch.cuda.device(self.net.device):
            graph.replay()
        return out[:B].clone(), self.layouts[full_mesh]  # the graph's output buffer is reused

    def _buffers(self, n: int):
        if n not in self._static:
            dev, dt = self.net.device, self.net.dtype
            finp = torch.zeros(n, FLIPPED_WIDTH, device=dev, dtype=dt) if self.flip_eval else None
            self._static[n] = (torch.full((n,), self.capacity, dtype=torch.int64, device=dev),
                               torch.zeros(n, INPUT_WIDTH, device=dev, dtype=dt), finp)
        return self._static[n]

    def _capture(self, n: int, full_mesh: bool):
        """Capture the static step of bucket ``n`` as a CUDA graph (warm-up on a side stream
        with every entry on the scratch slot, so no track's state moves).

        Everything happens on the network's device (``cuda:1`` too): under
        ``torch.cuda.device``, with side and capture streams created on that device.
        ``torch.cuda.graph``'s default capture stream is created once per process on the
        device current at the time; kernels of another device would then run uncaptured and
        the graph would replay nothing.
        """
        dev = self.net.device
        idx_buf, inp_buf, finp_buf = self._buffers(n)
        saved = idx_buf.clone()
        idx_buf.fill_(self.capacity)
        with torch.cuda.device(dev):
            side = torch.cuda.Stream(device=dev)
            side.wait_stream(torch.cuda.current_stream(dev))
            with torch.cuda.stream(side):
                for _ in range(2):
                    self._slot_step(idx_buf, inp_buf, finp_buf, full_mesh)
            torch.cuda.current_stream(dev).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=torch.cuda.Stream(device=dev)):
                out = self._slot_step(idx_buf, inp_buf, finp_buf, full_mesh)
        idx_buf.copy_(saved)
        self._graphs[(n, full_mesh)] = (graph, out)
        return graph, out
