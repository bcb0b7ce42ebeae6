"""`PatchTransformer2d`: the fusion paper's 2-D Transformer, treating `[C, T]` as a one-channel image.

Tokens. A Conv2d with kernel = stride = (patch_c, patch_t) cuts `[C, T]` into a grid of gh × gw patches,
rows along channels and columns along time, flattened row-major (token r·gw + c covers channels
[r·pc, (r+1)·pc) and time [c·pt, (c+1)·pt)). patch_c is clipped to C (pc = min(patch_c, C)), likewise
patch_t to T. gh = ceil(C / pc), gw = ceil(T / pt): the input is zero-padded at the bottom/right to
gh·pc × gw·pt so the grid covers every input point (padding only ever lives in the last row/column).
With CLS (`use_cls`, default), token 0 is CLS and `num_prefix_tokens = 1`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.models.backbones.base import HasAttention, check_seq_len
from tsexplain.models.backbones.layers import Encoder, check_input, sincos_2d


class PatchTransformer2d(nn.Module, HasAttention):
    """ViT-style encoder over 2-D (channel × time) patches; CLS or mean readout, linear head.

    `n_outputs=0` builds the trunk only (forward returns pooled features), as used by `ResNetTransformer`.
    """

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        n_outputs: int,
        dim: int = 32,
        depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        patch_c: int = 1,
        patch_t: int = 5,
        use_cls: bool = True,
        pos_embed: str = "learned",
        readout: str = "cls",
        dropout: float = 0.1,
        attn_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if pos_embed not in ("learned", "sincos"):
            raise ValueError(f"pos_embed={pos_embed!r} is unknown; use 'learned' or 'sincos'.")
        if readout not in ("cls", "mean"):
            raise ValueError(f"readout={readout!r} is unknown; use 'cls' or 'mean'.")
        if readout == "cls" and not use_cls:
            raise ValueError("readout='cls' needs use_cls=True; set use_cls=True or readout='mean'.")
        if patch_c < 1 or patch_t < 1:
            raise ValueError(f"patch sizes must be ≥ 1, got patch_c={patch_c}, patch_t={patch_t}.")
        check_seq_len("PatchTransformer2d", seq_len, 2, "a time attribution over one step says nothing; shorter "
                      "series clip patch_t to T")
        self.in_channels, self.seq_len, self.readout = in_channels, seq_len, readout
        self.patch = (min(patch_c, in_channels), min(patch_t, seq_len))
        gh, gw = math.ceil(in_channels / self.patch[0]), math.ceil(seq_len / self.patch[1])
        self.pad = (gw * self.patch[1] - seq_len, gh * self.patch[0] - in_channels)  # (time, channel)
        self.token_grid = (gh, gw)
        self.num_prefix_tokens = 1 if use_cls else 0
        self.feature_dim = dim

        self.patch_embed = nn.Conv2d(1, dim, kernel_size=self.patch, stride=self.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if use_cls else None
        if pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.randn(1, gh * gw, dim) * 0.02)
        else:
            self.register_buffer("pos_embed", sincos_2d(gh, gw, dim)[None], persistent=False)
        self.pos_drop = nn.Dropout(dropout)
        self.encoder = Encoder(dim, depth, num_heads, int(dim * mlp_ratio), dropout, attn_dropout)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_outputs) if n_outputs > 0 else nn.Identity()
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Embedded tokens `[B, prefix + gh·gw, dim]` (patches row-major: channel rows, time columns)."""
        check_input(x, self.in_channels, self.seq_len, model="PatchTransformer2d")
        x = F.pad(x, (0, self.pad[0], 0, self.pad[1]))[:, None]  # [B, 1, gh·pc, gw·pt]
        t = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        if self.cls_token is not None:
            t = torch.cat([self.cls_token.expand(len(t), -1, -1), t], dim=1)
        return self.pos_drop(t)

    def features_with_attention(self, x: torch.Tensor, return_attn: bool = False
                                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Pooled features `[B, dim]` and (when asked) the per-layer attention `[B, H, N, N]`."""
        t, attns = self.encoder(self.tokens(x), return_attn)
        t = self.norm(t)
        feat = t[:, 0] if self.readout == "cls" else t[:, self.num_prefix_tokens:].mean(1)
        return feat, attns

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_with_attention(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feat, attns = self.features_with_attention(x, return_attn=True)
        return self.head(feat), attns
