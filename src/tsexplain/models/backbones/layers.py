"""Shared backbone parts: input checks and a self-attention encoder that can return its attention weights."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def check_input(x: torch.Tensor, in_channels: int, seq_len: int | None = None, model: str = "backbone") -> None:
    """Raise a ValueError naming expected vs got unless `x` is `[B, in_channels, T]` (and T == seq_len if given)."""
    if x.dim() != 3:
        raise ValueError(
            f"{model} expects x of shape [B, C, T] (rank 3) but got rank {x.dim()} with shape {tuple(x.shape)}; "
            "add a batch or channel axis (e.g. x[:, None, :] for a univariate batch)."
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{model} was built for in_channels={in_channels} but got x with {x.shape[1]} channels "
            f"(shape {tuple(x.shape)}); pass [B, C, T] with C={in_channels}, not [B, T, C]."
        )
    if seq_len is not None and x.shape[2] != seq_len:
        raise ValueError(
            f"{model} was built for seq_len={seq_len} (its parameters depend on T) but got T={x.shape[2]}; "
            f"crop/pad the input to T={seq_len} or build the model with seq_len={x.shape[2]}."
        )


def attn_dropout(a: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout (zero with probability p, scale the rest by 1/(1−p)), like F.dropout, with the keep-mask
    drawn by `uniform_` (F.dropout's `bernoulli_` is ~3x slower on CPU)."""
    if p == 0.0:
        return a
    if p >= 1.0:
        return torch.zeros_like(a)
    return a * torch.empty_like(a).uniform_().ge_(p).mul_(1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """nn.Dropout that draws its CPU mask with `attn_dropout` (same distribution, ~3x cheaper); F.dropout elsewhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.device.type == "cpu" and not self.inplace:
            return attn_dropout(x, self.p)
        return super().forward(x)


class Attention(nn.Module):
    """Multi-head self-attention over `[B, N, d]` with a fused path and an explicit path returning the weights.

    Written here (not nn.MultiheadAttention / timm) because explainers need the exact softmax weights used in
    the forward pass, pre-dropout and kept in the autograd graph, while ordinary calls keep fused SDPA.
    Parameter layout matches nn.MultiheadAttention: `qkv` = in_proj (q, k, v stacked), `proj` = out_proj.
    """

    def __init__(self, dim: int, num_heads: int = 1, attn_dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"Attention dim={dim} is not divisible by num_heads={num_heads}; pick heads dividing dim.")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_dropout = attn_dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, return_attn: bool = False, attn_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`attn_mask`: optional bool `[N, N]`, True where a query may attend to a key (SDPA convention)."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        p = self.attn_dropout if self.training else 0.0
        # SDPA on CPU with dropout runs its unfused math path and draws the mask with bernoulli_, ~4x slower
        # than uniform_ + compare (most of a TimeX-transformer training step at T=200): use our own path there.
        if not return_attn and (p == 0.0 or x.device.type != "cpu"):
            out, attn = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p), None
        else:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
            if attn_mask is not None:
                scores = scores.masked_fill(~attn_mask, float("-inf"))
            attn = scores.softmax(dim=-1)  # [B, H, N, N]
            out = attn_dropout(attn, p) @ v
            attn = attn if return_attn else None
        return self.proj(out.transpose(1, 2).reshape(b, n, d)), attn


class EncoderBlock(nn.Module):
    """Pre-norm Transformer block: `x + attn(LN(x))`, then `x + MLP(LN(x))`."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, dropout: float = 0.0, attn_dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, attn_dropout)
        self.drop = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor, return_attn: bool = False, attn_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, attn = self.attn(self.norm1(x), return_attn, attn_mask)
        x = x + self.drop(a)
        return x + self.mlp(self.norm2(x)), attn


class Encoder(nn.Module):
    """A stack of `EncoderBlock`s; returns the tokens and, on request, the per-layer attention weights."""

    def __init__(self, dim: int, depth: int, num_heads: int, mlp_dim: int, dropout: float = 0.0,
                 attn_dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            EncoderBlock(dim, num_heads, mlp_dim, dropout, attn_dropout) for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, return_attn: bool = False, attn_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        attns = []
        for blk in self.blocks:
            x, a = blk(x, return_attn, attn_mask)
            if return_attn:
                attns.append(a)
        return x, attns


def sincos_1d(n: int, dim: int) -> torch.Tensor:
    """Fixed sin-cos position table `[n, dim]` (MAE convention: sin half then cos half, ω = 1/10000^(2i/dim))."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    ang = torch.arange(n, dtype=torch.float64)[:, None] * omega[None]
    return torch.cat([ang.sin(), ang.cos()], dim=1).float()


def sincos_2d(gh: int, gw: int, dim: int) -> torch.Tensor:
    """2-D sin-cos table `[gh·gw, dim]`, row-major; first half encodes the row, second half the column (MAE)."""
    if dim % 4:
        raise ValueError(f"2-D sin-cos position embedding needs dim divisible by 4, got dim={dim}.")
    rows = sincos_1d(gh, dim // 2)[:, None, :].expand(gh, gw, dim // 2)
    cols = sincos_1d(gw, dim // 2)[None, :, :].expand(gh, gw, dim // 2)
    return torch.cat([rows, cols], dim=-1).reshape(gh * gw, dim)
