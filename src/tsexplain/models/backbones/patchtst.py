"""`PatchTST` (Nie et al. 2023) classifier, adapted from thuml/Time-Series-Library to `[B, C, T]` input.

Channel-independent: every channel is cut into patches of `patch_len` with `stride` after replicating the last
value `stride` times at the end (as TSLib), giving n_patches = (T + stride − patch_len) // stride + 1
(T=50 → 6, T=37 → 4 with 16/8). For short series patch_len is clipped to T and stride to ≤ patch_len.
Patches → Linear(patch_len → d_model) + learned positions → shared encoder → flatten all channels → Linear.
Deviation: pre-norm LayerNorm blocks instead of TSLib's post-norm BatchNorm (no batch-dependent outputs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.models.backbones.base import HasAttention, check_seq_len
from tsexplain.models.backbones.layers import Encoder, check_input


class PatchTST(nn.Module, HasAttention):
    """PatchTST; `forward_with_attention` returns `[B, H, C·P, C·P]` block-diagonal maps over the row-major
    (channel, patch) grid (`token_grid = (C, n_patches)`): channels never attend to each other."""

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        n_outputs: int,
        patch_len: int = 16,
        stride: int = 8,
        d_model: int = 32,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_seq_len("PatchTST", seq_len, 2, "a time attribution over one step says nothing; shorter series clip "
                      "patch_len to T")
        self.in_channels, self.seq_len = in_channels, seq_len
        self.patch_len = min(patch_len, seq_len)
        self.stride = max(1, min(stride, self.patch_len))
        self.n_patches = (seq_len + self.stride - self.patch_len) // self.stride + 1
        self.token_grid = (in_channels, self.n_patches)
        self.num_prefix_tokens = 0
        self.embed = nn.Linear(self.patch_len, d_model)
        self.pos = nn.Parameter(torch.randn(1, self.n_patches, d_model) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.encoder = Encoder(d_model, n_layers, n_heads, d_ff, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Sequential(nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(in_channels * self.n_patches * d_model, n_outputs))

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, C, P, patch_len]` patches of the end-padded series."""
        check_input(x, self.in_channels, self.seq_len, model="PatchTST")
        return F.pad(x, (0, self.stride), mode="replicate").unfold(-1, self.patch_len, self.stride)

    def _run(self, x: torch.Tensor, return_attn: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c = x.shape[:2]
        tok = self.drop(self.embed(self.patches(x)) + self.pos[:, None])  # [B, C, P, d]
        if not return_attn:  # channel-independent: each channel is its own sequence
            tok, attns = self.encoder(tok.reshape(b * c, self.n_patches, -1))
        else:
            # The same computation over all C·P tokens with cross-channel attention masked out, so the
            # returned [B, H, C·P, C·P] weights are the ones the output is computed from (rollout needs that).
            ch = torch.arange(c, device=x.device).repeat_interleave(self.n_patches)
            tok, attns = self.encoder(tok.reshape(b, c * self.n_patches, -1), True, ch[:, None] == ch[None])
        return self.head(self.norm(tok).reshape(b, -1)), attns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, return_attn=False)[0]

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self._run(x, return_attn=True)
