"""HMR2.0 image encoder as used by WHAM: ViT-H + SMPL transformer-decoder head.

WHAM uses HMR2.0 for two things per crop: the 1024-d image token ("features", every frame)
and the initial SMPL pose/shape (first frame of a track). Both come out of one forward pass.

State-dict names are HMR2.0's (``hmr2a.ckpt``): ``backbone.*`` (see
:mod:`wham_ros.vit.backbone`) and ``smpl_head.*``:
``transformer.{to_token_embedding,pos_embedding}``,
``transformer.transformer.layers.{i}.{0: self-attn, 1: cross-attn, 2: feed-forward}.{norm,fn}``,
``decpose``, ``decshape``, ``deccam`` and the mean-parameter buffers ``init_body_pose``
(1, 144), ``init_betas`` (1, 10), ``init_cam`` (1, 3) — 503 entries in total.

Rotation convention: the head's 6D vectors are the first two **columns** of R (HMR2.0), not
WHAM's rows; outputs are rotation matrices acting on column vectors, camera frame for the root.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Union

import torch
from torch import nn

from wham_ros.geometry.rotations import rotation_6d_to_matrix
from wham_ros.vit.backbone import ViT, ViTConfig
from wham_ros.vit.checkpoint import StateDictLike, build_loaded

#: Network input (height, width); the backbone sees the central 256×192 columns.
INPUT_HW = (256, 256)
NUM_SMPL_JOINTS = 24  # root + 23 body joints
NUM_BETAS = 10
#: Output names of :meth:`HMR2Encoder.forward`, also the ONNX output names and order.
OUTPUT_NAMES = ("features", "global_orient", "body_pose", "betas", "cam")
#: ONNX input name (``wham-ros export hmr2``): (B, 3, 256, 256) float32.
ONNX_INPUT = "norm_img"


@dataclass(frozen=True)
class DecoderConfig:
    """SMPL head sizes; defaults are HMR2.0's (token 1024, 6 layers, 8 heads of 64)."""

    dim: int = 1024
    depth: int = 6
    heads: int = 8
    dim_head: int = 64
    mlp_dim: int = 1024
    norm_eps: float = 1e-5


def rotation_6d_columns_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """HMR2.0 6D (first two COLUMNS of R) → rotation matrix.

    Args:
        d6 (torch.Tensor): (..., 6) = [a1 (3), a2 (3)], the Gram-Schmidt inputs for columns 1, 2.

    Returns:
        torch.Tensor: (..., 3, 3) with columns ``b1, b2, b1 x b2``.
    """
    return rotation_6d_to_matrix(d6).transpose(-1, -2)  # rows form, transposed


class PreNorm(nn.Module):
    """``fn(LayerNorm(x), ...)``; the residual is added by the caller."""

    def __init__(self, dim: int, fn: nn.Module, eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """(B, N, D) → (B, N, D)."""
        return self.fn(self.norm(x), **kwargs)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
            scale: float) -> torch.Tensor:
    """``softmax((q k^T) * scale) v`` per head; q (B, N, h*d), k/v (B, M, h*d) → (B, N, h*d)."""
    b, n, _ = q.shape
    q, k, v = (t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2) for t in (q, k, v))
    attn = ((q @ k.transpose(-1, -2)) * scale).softmax(dim=-1)  # B x h x N x M
    return (attn @ v).transpose(1, 2).reshape(b, n, -1)


class SelfAttention(nn.Module):
    """``to_qkv`` (3 h d, D) without bias, chunked q|k|v; ``to_out.0`` Linear(h d, D)."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        inner = cfg.heads * cfg.dim_head
        self.heads, self.scale = cfg.heads, cfg.dim_head ** -0.5
        self.to_qkv = nn.Linear(cfg.dim, 3 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, cfg.dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) → (B, N, D)."""
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        return self.to_out(_attend(q, k, v, self.heads, self.scale))


class CrossAttention(nn.Module):
    """Queries from the token (``to_q``), keys|values from the image (``to_kv``), no biases."""

    def __init__(self, cfg: DecoderConfig, context_dim: int):
        super().__init__()
        inner = cfg.heads * cfg.dim_head
        self.heads, self.scale = cfg.heads, cfg.dim_head ** -0.5
        self.to_kv = nn.Linear(context_dim, 2 * inner, bias=False)
        self.to_q = nn.Linear(cfg.dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, cfg.dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x (B, N, D), context (B, M, Dc) → (B, N, D)."""
        k, v = self.to_kv(context).chunk(2, dim=-1)
        return self.to_out(_attend(self.to_q(x), k, v, self.heads, self.scale))


class FeedForward(nn.Module):
    """``net.0`` Linear → exact GELU → ``net.3`` Linear (indices 2 and 4 were dropout)."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cfg.dim, cfg.mlp_dim), nn.GELU(), nn.Identity(),
                                 nn.Linear(cfg.mlp_dim, cfg.dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) → (B, N, D)."""
        return self.net(x)


class CrossAttnStack(nn.Module):
    """``layers.{i}`` = PreNorm [self-attn, cross-attn, feed-forward], each with a residual."""

    def __init__(self, cfg: DecoderConfig, context_dim: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([PreNorm(cfg.dim, SelfAttention(cfg), cfg.norm_eps),
                           PreNorm(cfg.dim, CrossAttention(cfg, context_dim), cfg.norm_eps),
                           PreNorm(cfg.dim, FeedForward(cfg), cfg.norm_eps)])
            for _ in range(cfg.depth))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x (B, N, D), context (B, M, Dc) → (B, N, D)."""
        for self_attn, cross_attn, ff in self.layers:
            x = self_attn(x) + x
            x = cross_attn(x, context=context) + x
            x = ff(x) + x
        return x


class TokenDecoder(nn.Module):
    """One query token, ``to_token_embedding(0) + pos_embedding``, decoded against the image."""

    def __init__(self, cfg: DecoderConfig, context_dim: int):
        super().__init__()
        self.to_token_embedding = nn.Linear(1, cfg.dim)
        self.pos_embedding = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.transformer = CrossAttnStack(cfg, context_dim)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """Image tokens (B, M, Dc) → decoded token (B, D)."""
        zero = context.new_zeros(context.shape[0], 1, 1)  # HMR2.0's all-zero input token
        x = self.to_token_embedding(zero) + self.pos_embedding
        return self.transformer(x, context=context)[:, 0]


class SMPLHead(nn.Module):
    """Token decoder + linear read-outs added to the mean SMPL parameters (buffers)."""

    def __init__(self, cfg: DecoderConfig, context_dim: int):
        super().__init__()
        self.transformer = TokenDecoder(cfg, context_dim)
        self.decpose = nn.Linear(cfg.dim, 6 * NUM_SMPL_JOINTS)
        self.decshape = nn.Linear(cfg.dim, NUM_BETAS)
        self.deccam = nn.Linear(cfg.dim, 3)
        self.register_buffer("init_body_pose", torch.zeros(1, 6 * NUM_SMPL_JOINTS))
        self.register_buffer("init_betas", torch.zeros(1, NUM_BETAS))
        self.register_buffer("init_cam", torch.zeros(1, 3))

    def forward(self, context: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Image tokens (B, M, Dc) → token, 6D pose (B, 144), betas (B, 10), cam (B, 3)."""
        token = self.transformer(context)  # B x D
        return {"features": token,
                "pose_6d": self.decpose(token) + self.init_body_pose,
                "betas": self.decshape(token) + self.init_betas,
                "cam": self.deccam(token) + self.init_cam}


class HMR2Encoder(nn.Module):
    """HMR2.0 as WHAM's feature extractor: normalised 256×256 crop → token + initial SMPL.

    Args:
        backbone_cfg: ViT sizes (default ViT-H on 256×192).
        decoder_cfg: SMPL head sizes (default HMR2.0).
    """

    def __init__(self, backbone_cfg: ViTConfig = ViTConfig(),
                 decoder_cfg: DecoderConfig = DecoderConfig()):
        super().__init__()
        self.decoder_cfg = decoder_cfg
        self.backbone = ViT(backbone_cfg)
        self.smpl_head = SMPLHead(decoder_cfg, backbone_cfg.embed_dim)
        self._margin = (INPUT_HW[1] - backbone_cfg.img_size[1]) // 2

    def forward(self, norm_img: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Encode crops.

        Args:
            norm_img (torch.Tensor): (B, 3, 256, 256) ImageNet-normalised RGB
                (:func:`wham_ros.frontend.crops.hmr2_crops`).

        Returns:
            dict: ``features`` (B, 1024) image token (WHAM's per-frame input),
            ``global_orient`` (B, 1, 3, 3) root rotation (camera frame), ``body_pose``
            (B, 23, 3, 3) parent-relative joint rotations, ``betas`` (B, 10),
            ``cam`` (B, 3) weak-perspective [s, tx, ty] (unused by WHAM).
        """
        x = norm_img[:, :, :, self._margin:norm_img.shape[-1] - self._margin]  # B x 3 x 256 x 192
        feats = self.backbone(x)  # B x C x 16 x 12
        out = self.smpl_head(feats.flatten(2).transpose(1, 2))  # context B x 192 x C, row-major
        rotmats = rotation_6d_columns_to_matrix(out["pose_6d"].reshape(-1, NUM_SMPL_JOINTS, 6))
        return {"features": out["features"], "global_orient": rotmats[:, :1],
                "body_pose": rotmats[:, 1:], "betas": out["betas"], "cam": out["cam"]}


def load_hmr2(checkpoint: StateDictLike, device: Union[str, torch.device] = "cpu",
              dtype: torch.dtype = torch.float32,
              backbone_cfg: Optional[ViTConfig] = None,
              decoder_cfg: Optional[DecoderConfig] = None) -> HMR2Encoder:
    """Build the HMR2.0 encoder and load ``hmr2a.ckpt`` (or a state dict of its 503 entries).

    Lightning's ``state_dict`` is used; ``discriminator.*``, ``smpl.*`` and ``initialized``
    are dropped silently, other foreign entries with a warning; ``backbone.*`` and
    ``smpl_head.*`` must match exactly.

    Args:
        checkpoint: path or state dict.
        device: where the model lives.
        dtype: floating-point dtype of the weights.
        backbone_cfg: non-default backbone sizes (tests, tiny models); default ViT-H.
        decoder_cfg: non-default head sizes; default HMR2.0.

    Returns:
        HMR2Encoder in eval mode.

    Raises:
        CheckpointError: missing/corrupt/truncated file, wrong or missing names, wrong shapes.
    """
    return build_loaded(lambda: HMR2Encoder(backbone_cfg or ViTConfig(),
                                            decoder_cfg or DecoderConfig()),
                        checkpoint, device, dtype, "HMR2",
                        quiet_prefixes=("discriminator.", "smpl.", "initialized"))
