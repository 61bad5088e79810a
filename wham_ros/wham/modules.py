"""WHAM's five sub-networks as one-frame-at-a-time modules.

Attribute names equal those of the official checkpoint (``motion_encoder.regressor.rnn
.weight_ih_l0`` …), so ``load_state_dict(strict=True)`` of the published weights works.
Every ``step`` advances B independent sequences by one frame; LSTM state is a pair
``(h, c)`` of (L, B, H) tensors (PyTorch gate order i, f, g, o). Dropout layers of the
reference are inactive at inference and therefore absent.
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

HC = Tuple[torch.Tensor, torch.Tensor]


class Regressor(nn.Module):
    """LSTM over ``[input, *autoregressive inits]`` followed by linear heads ``declayer{i}``."""

    def __init__(self, in_dim: int, hid_dim: int, out_dims: List[int], init_dim: int,
                 n_layers: int):
        super().__init__()
        self.rnn = nn.LSTM(in_dim + init_dim, hid_dim, n_layers, batch_first=True)
        self.n_outs = len(out_dims)
        for i, d in enumerate(out_dims):
            setattr(self, f"declayer{i}", nn.Linear(hid_dim, d))

    @property
    def num_layers(self) -> int:
        return self.rnn.num_layers

    @property
    def hidden_size(self) -> int:
        return self.rnn.hidden_size

    def zero_state(self, batch: int, ref: torch.Tensor) -> HC:
        """Zero (h, c), each (L, B, H), on ``ref``'s device and dtype."""
        z = ref.new_zeros(self.rnn.num_layers, batch, self.rnn.hidden_size)
        return z, z.clone()

    def step(self, parts: List[torch.Tensor], hc: HC):
        """One frame.

        The LSTM cell is evaluated directly with its parameters (``nn.LSTM`` only holds them):
        for a single time step oneDNN's fused RNN costs ~2 ms per layer on CPU, the two
        matrix products ~0.1 ms.

        Args:
            parts: tensors (B, D_i) concatenated into the LSTM input (B, in_dim + init_dim).
            hc: LSTM state.

        Returns:
            (heads: list of (B, out_dim_i), hidden (B, H), new state).
        """
        x = torch.cat(parts, dim=-1)
        h0, c0 = hc
        hs, cs = [], []
        for layer in range(self.rnn.num_layers):
            h, c = lstm_cell(x, h0[layer], c0[layer],
                             getattr(self.rnn, f"weight_ih_l{layer}"),
                             getattr(self.rnn, f"weight_hh_l{layer}"),
                             getattr(self.rnn, f"bias_ih_l{layer}"),
                             getattr(self.rnn, f"bias_hh_l{layer}"))
            hs.append(h)
            cs.append(c)
            x = h
        heads = [getattr(self, f"declayer{i}")(x) for i in range(self.n_outs)]
        return heads, x, (torch.stack(hs), torch.stack(cs))


def lstm_cell(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_ih: torch.Tensor,
              w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> HC:
    """One LSTM layer, one time step (PyTorch's definition, gate order i, f, g, o).

    Args:
        x (torch.Tensor): (B, D) input; h, c (torch.Tensor): (B, H) previous state;
        w_ih (4H, D), w_hh (4H, H), b_ih, b_hh (4H,).

    Returns:
        (h', c'), each (B, H).
    """
    return lstm_update(F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh), c)  # B x 4H gates


def lstm_update(gates: torch.Tensor, c: torch.Tensor) -> HC:
    """LSTM state update from the pre-activation gates (order i, f, g, o).

    Args:
        gates (torch.Tensor): (B, 4H); c (torch.Tensor): (B, H) previous cell state.

    Returns:
        (h', c'), each (B, H).
    """
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class NeuralInitialization(nn.Module):
    """MLP mapping an initial observation to the initial LSTM (h, c) of every layer."""

    def __init__(self, in_dim: int, hid_dim: int, n_layers: int):
        super().__init__()
        self.n_layers = n_layers
        self.linear1 = nn.Linear(in_dim, hid_dim)
        self.linear2 = nn.Linear(hid_dim, hid_dim * n_layers)
        self.linear3 = nn.Linear(hid_dim * n_layers, hid_dim * 2 * n_layers)

    def forward(self, x: torch.Tensor) -> HC:
        """Args: x (B, in_dim). Returns: (h, c), each (L, B, H)."""
        out = self.linear3(torch.relu(self.linear2(torch.relu(self.linear1(x)))))
        # B x (2 L H) -> 2 x L x B x H  (first half h, second half c; layer-major)
        out = out.view(x.shape[0], 2, self.n_layers, -1).permute(1, 2, 0, 3).contiguous()
        return out[0], out[1]


class MotionEncoder(nn.Module):
    """2D keypoints (37) -> motion context (512) and root-centred 3D COCO joints (51)."""

    def __init__(self, in_dim=37, d_embed=512, n_layers=3, n_joints=17):
        super().__init__()
        self.embed_layer = nn.Linear(in_dim, d_embed)
        self.neural_init = NeuralInitialization(n_joints * 3 + in_dim, d_embed, n_layers)
        self.regressor = Regressor(d_embed, d_embed, [n_joints * 3], n_joints * 3, n_layers)


class TrajectoryDecoder(nn.Module):
    """Motion context + previous world root (6D) + camera angular velocity (6) -> root
    velocity (3) and world root orientation (6D)."""

    def __init__(self, d_embed=563, n_layers=3):
        super().__init__()
        self.regressor = Regressor(d_embed, d_embed, [3, 6], 12, n_layers)


class Integrator(nn.Module):
    """Fuses image features into the motion context (optionally residual)."""

    def __init__(self, in_channel=1587, out_channel=563, hid_channel=1024):
        super().__init__()
        self.layer1 = nn.Linear(in_channel, hid_channel)
        self.layer2 = nn.Linear(hid_channel, hid_channel)
        self.layer3 = nn.Linear(hid_channel, out_channel)

    def forward(self, context: torch.Tensor, features: torch.Tensor,
                residual: torch.Tensor) -> torch.Tensor:
        """Args: context (B, 563), features (B, 1024), residual (B,) bool. Returns (B, 563)."""
        out = self.layer3(torch.relu(self.layer2(torch.relu(
            self.layer1(torch.cat((context, features), dim=-1))))))
        return torch.where(residual[:, None], out + context, out)


class MotionDecoder(nn.Module):
    """Integrated context + previous pose -> SMPL pose (24x6D), betas (10), weak-perspective
    camera (3) and foot contact (4)."""

    def __init__(self, d_embed=563, n_layers=3, n_main_joints=20):
        super().__init__()
        self.neural_init = NeuralInitialization(n_main_joints * 6, d_embed, n_layers)
        self.regressor = Regressor(d_embed, d_embed, [24 * 6, 10, 3, 4], 24 * 6, n_layers)


class TrajectoryRefiner(nn.Module):
    """Context + contact-weighted foot velocities + root/velocity -> their corrections."""

    def __init__(self, d_embed=563, d_hidden=512, n_layers=2):
        super().__init__()
        self.refiner = Regressor(d_embed + 12, d_hidden, [6, 3], 9, n_layers)
