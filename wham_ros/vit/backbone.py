"""ViT-H backbone of ViTPose (also HMR2.0's image encoder).

Defaults are ViTPose-H 256x192 (``ViTPose_huge_coco_256x192.py``): patch 16 with padding 2,
embed 1280, depth 32, 16 heads of 80, MLP 5120 with exact (erf) GELU, qkv bias, pre-norm
LayerNorm eps 1e-6, a final LayerNorm, and no cls token. Smaller sizes are for tests and
tiny ONNX models; they keep the same parameter names.

State-dict names (relative to the module): ``pos_embed`` (1, 1 + Hp*Wp, C),
``patch_embed.proj.{weight,bias}``, ``blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,
mlp.fc2}.{weight,bias}``, ``last_norm.{weight,bias}``.
"""
from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    """Backbone hyper-parameters; the defaults are ViT-H as used by ViTPose-H and HMR2.0.

    Attributes:
        img_size: (height, width) of the input in pixels.
        patch_size: side of a square patch in pixels (also the conv stride).
        patch_padding: zero padding of the patch-embedding convolution (ViTPose: 2).
        embed_dim: token width C.
        depth: number of transformer blocks.
        num_heads: attention heads (head width = embed_dim // num_heads).
        mlp_ratio: MLP hidden width / embed_dim.
        norm_eps: LayerNorm epsilon.
    """

    img_size: Tuple[int, int] = (256, 192)
    patch_size: int = 16
    patch_padding: int = 2
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: int = 4
    norm_eps: float = 1e-6

    @property
    def grid(self) -> Tuple[int, int]:
        """Token grid (Hp, Wp) = (16, 12) for the defaults."""
        h, w = self.img_size
        k, p = self.patch_size, self.patch_padding
        return ((h + 2 * p - k) // k + 1, (w + 2 * p - k) // k + 1)


class PatchEmbed(nn.Module):
    """Conv2d(3, C, k=patch, s=patch, padding) → tokens in row-major grid order."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.embed_dim, kernel_size=cfg.patch_size,
                              stride=cfg.patch_size, padding=cfg.patch_padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → (B, Hp*Wp, C)."""
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention ``softmax((q * d^-0.5) k^T) v``; qkv rows q|k|v, head-major."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) → (B, N, C)."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each B x h x N x d
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # B x h x N x N
        out = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class Mlp(nn.Module):
    """fc1 → exact GELU → fc2."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) → (B, N, C)."""
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn = Attention(dim, cfg.num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.mlp = Mlp(dim, dim * cfg.mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) → (B, N, C)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """ViTPose-style plain ViT: image (B, 3, H, W) → feature map (B, C, Hp, Wp).

    The position embedding has one extra leading slot (a cls position that ViTPose adds to
    every token): ``x = tokens + pos_embed[:, 1:] + pos_embed[:, :1]``.
    """

    def __init__(self, cfg: ViTConfig = ViTConfig()):
        super().__init__()
        if cfg.embed_dim % cfg.num_heads:
            raise ValueError(f"embed_dim {cfg.embed_dim} is not divisible by "
                             f"num_heads {cfg.num_heads}")
        self.cfg = cfg
        hp, wp = cfg.grid
        self.patch_embed = PatchEmbed(cfg)
        self.pos_embed = nn.Parameter(torch.zeros(1, hp * wp + 1, cfg.embed_dim))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.last_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode an image.

        Args:
            x (torch.Tensor): (B, 3, H, W) normalised RGB, (H, W) = cfg.img_size.

        Returns:
            torch.Tensor: (B, C, Hp, Wp) feature map, token t at cell (t // Wp, t % Wp).
        """
        hp, wp = self.cfg.grid
        x = self.patch_embed(x)  # B x Hp*Wp x C
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for blk in self.blocks:
            x = blk(x)
        x = self.last_norm(x)
        return x.transpose(1, 2).reshape(x.shape[0], -1, hp, wp)
