"""WHAM's weights prepared for the streaming step: fused products, a chosen precision.

:func:`step_network` returns a view of a :class:`~wham_ros.wham.network.WHAMNetwork` whose
step runs the same code (``motion_step``/``body_step``) with

* each LSTM layer as one product ``[x, h] @ [W_ih | W_hh]^T + (b_ih + b_hh)`` and each
  regressor's output heads as one product (``FusedRegressor``), and
* every linear layer (LSTM products, heads, embedding, integrator, initialisers) stored in
  one of :data:`PRECISIONS`:

  - ``fp32``: the network's own dtype; the same function up to float rounding (exact
    within the parity fixture's tolerances).
  - ``fp16``: half-precision weights, float32 accumulation and outputs (CPU: FBGEMM's
    ``quantized::linear_dynamic_fp16``, float32 activations; CUDA: a half GEMM with float32
    accumulation and a float32 result, ``torch.mm(..., out_dtype=float32)``, whose operands
    (the activations too) are rounded to half; the float32 bias is added after).
  - ``int8``: per-output-channel symmetric int8 weights, activations quantised per call
    (``quantized::linear_dynamic``, CPU only).

Only the weights change; the recurrent state, the SMPL body and every geometric step stay in
the network's dtype. Errors of each mode are stated in doc/benchmarks.md (WHAM core).

The converted network shares the original's parameters where it can (``fp32`` linear layers,
the body model); the fused LSTM/head matrices and low-precision packs are new tensors.
"""
import copy
import time
import warnings
from typing import Callable, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from wham_ros.wham.modules import HC, Regressor, lstm_update

PRECISIONS = ("fp32", "fp16", "int8")


class NetworkClock:
    """Opt-in accumulator of the time spent inside the LSTM and linear layers.

    Off (``active`` False) it costs one attribute test per layer call. Times are read with
    ``timer`` (host wall-clock by default) around the calls: meaningful on CPU; on CUDA they
    measure launches only.
    """

    def __init__(self):
        self.active = False
        self.seconds = 0.0
        self.timer: Callable[[], float] = time.perf_counter

    def run(self, fn: Callable, *args):
        if not self.active:
            return fn(*args)
        t0 = self.timer()
        out = fn(*args)
        self.seconds += self.timer() - t0
        return out


def linear_kernel(weight: torch.Tensor, bias: torch.Tensor, precision: str) -> Callable:
    """``x -> x W^T + b`` with ``W`` stored in ``precision``.

    Args:
        weight (torch.Tensor): (out, in); bias (torch.Tensor): (out,).
        precision: one of :data:`PRECISIONS`.

    Returns:
        callable mapping (B, in) to (B, out) in the input's dtype.

    Raises:
        ValueError: unknown precision, or one its device/dtype does not support.
    """
    if precision == "fp32":
        return lambda x: F.linear(x, weight, bias)
    if weight.dtype != torch.float32:
        raise ValueError(f"precision '{precision}' needs a float32 network, got {weight.dtype}")
    if precision == "fp16" and weight.is_cuda:
        w16t = weight.half().t()  # in x out (a transposed view: cuBLAS takes it as is)
        return lambda x: half_gemm_fp32(x, w16t, bias)
    if weight.device.type != "cpu":
        raise ValueError(f"precision '{precision}' has no kernel on {weight.device}; "
                         f"use fp32 or fp16 there")
    with warnings.catch_warnings():  # torch marks its quantized tensor API deprecated
        warnings.simplefilter("ignore")
        if precision == "fp16":
            packed = torch.ops.quantized.linear_prepack_fp16(weight.contiguous(), bias)
            return lambda x: torch.ops.quantized.linear_dynamic_fp16(x, packed)
        if precision == "int8":
            scale = (weight.abs().amax(dim=1).double() / 127.0).clamp_min(1e-12)
            zero = torch.zeros(weight.shape[0], dtype=torch.int64)
            q = torch.quantize_per_channel(weight, scale, zero, 0, torch.qint8)
            packed = torch.ops.quantized.linear_prepack(q, bias)
            # reduce_range: 7-bit activations, as x86 FBGEMM needs to avoid overflow
            return lambda x: torch.ops.quantized.linear_dynamic(x, packed, True)
    raise ValueError(f"Unknown WHAM precision '{precision}'; expected one of {PRECISIONS}")


def half_gemm_fp32(x: torch.Tensor, w16t: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x W^T + b`` with half operands, float32 accumulation and a float32 result (CUDA).

    Not ``F.linear`` in half: that rounds the result to half and lets cuBLAS reduce in half
    (``allow_fp16_reduced_precision_reduction``), so errors would grow with the recurrence.

    Args:
        x (torch.Tensor): (B, in) float32 activations.
        w16t (torch.Tensor): (in, out) half weights (transposed).
        bias (torch.Tensor): (out,) float32.

    Returns:
        torch.Tensor: (B, out) float32.
    """
    return torch.mm(x.half(), w16t, out_dtype=torch.float32) + bias


class PackedLinear(nn.Module):
    """An ``nn.Linear`` replacement holding its weight in one precision (timed by a clock)."""

    def __init__(self, linear: nn.Linear, precision: str, clock: NetworkClock):
        super().__init__()
        self.out_features = linear.out_features
        self._f = linear_kernel(linear.weight.detach(), linear.bias.detach(), precision)
        self._clock = clock

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x (B, in). Returns (B, out)."""
        return self._clock.run(self._f, x)


class FusedRegressor(nn.Module):
    """:class:`~wham_ros.wham.modules.Regressor` with one product per LSTM layer and one
    for all heads.

    Args:
        reg: the regressor whose weights are used.
        precision: one of :data:`PRECISIONS`.
        clock: times each :meth:`step` (LSTM stack + heads) when active.
    """

    def __init__(self, reg: Regressor, precision: str, clock: NetworkClock):
        super().__init__()
        rnn = reg.rnn
        self.num_layers, self.hidden_size = rnn.num_layers, rnn.hidden_size
        self._cells: List[Callable] = []
        for k in range(self.num_layers):
            p = lambda n: getattr(rnn, f"{n}_l{k}").detach()  # noqa: E731
            w = torch.cat((p("weight_ih"), p("weight_hh")), dim=1)  # 4H x (D + H)
            self._cells.append(linear_kernel(w, p("bias_ih") + p("bias_hh"), precision))
        heads = [getattr(reg, f"declayer{i}") for i in range(reg.n_outs)]
        self.out_dims = [h.out_features for h in heads]
        self._heads = linear_kernel(torch.cat([h.weight.detach() for h in heads]),
                                    torch.cat([h.bias.detach() for h in heads]), precision)
        self._clock = clock

    def zero_state(self, batch: int, ref: torch.Tensor) -> HC:
        """Zero (h, c), each (L, B, H), on ``ref``'s device and dtype."""
        z = ref.new_zeros(self.num_layers, batch, self.hidden_size)
        return z, z.clone()

    def step(self, parts: List[torch.Tensor], hc: HC):
        """One frame; same arguments and results as ``Regressor.step`` (the new state as
        lists of L (B, H) tensors)."""
        return self._clock.run(self._step, parts, hc)

    def _step(self, parts, hc):
        x = torch.cat(parts, dim=-1)
        h0, c0 = hc
        hs, cs = [], []
        for k, cell in enumerate(self._cells):
            h, c = lstm_update(cell(torch.cat((x, h0[k]), dim=-1)), c0[k])  # B x 4H -> B x H
            hs.append(h)
            cs.append(c)
            x = h
        return list(self._heads(x).split(self.out_dims, dim=-1)), x, (hs, cs)


def step_network(net: nn.Module, precision: str = "fp32",
                 clock: Optional[NetworkClock] = None) -> nn.Module:
    """A copy of ``net`` for the streaming step (the original is not modified).

    Every :class:`Regressor` becomes a :class:`FusedRegressor` and every ``nn.Linear`` a
    :class:`PackedLinear`; everything else (other modules, parameters, buffers, the body
    model) is shared with ``net``.

    Args:
        net: a :class:`~wham_ros.wham.network.WHAMNetwork` on its final device and dtype.
        precision: one of :data:`PRECISIONS`.
        clock: shared by all converted layers (a new one if None); ``network.clock``.

    Raises:
        ValueError: an unknown precision or one the device/dtype does not support.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown WHAM precision '{precision}'; expected one of {PRECISIONS}")
    clock = clock or NetworkClock()

    def convert(module: nn.Module) -> nn.Module:
        if isinstance(module, Regressor):
            return FusedRegressor(module, precision, clock)
        if isinstance(module, nn.Linear):
            return PackedLinear(module, precision, clock)
        new = copy.copy(module)  # shallow: parameters and buffers stay shared
        new._modules = {k: convert(m) for k, m in module._modules.items()}
        return new

    with torch.no_grad():
        fast = convert(net)
    fast.clock = clock
    return fast
