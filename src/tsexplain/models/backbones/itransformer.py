"""`ITransformer` (Liu et al. 2024) classifier, adapted from thuml/Time-Series-Library to `[B, C, T]` input.

Variates are tokens: each channel's whole series is embedded by a shared Linear(T → d_model), a Transformer
encoder mixes the C tokens, and the flattened `[C·d_model]` goes through a Linear head (TSLib's classifier).
TSLib's time-feature tokens (x_mark) are not used. Deviation: pre-norm blocks instead of TSLib's post-norm.
"""

from __future__ import annotations

import torch
from torch import nn

from tsexplain.models.backbones.base import HasAttention, check_seq_len
from tsexplain.models.backbones.layers import Encoder, check_input


class ITransformer(nn.Module, HasAttention):
    """iTransformer; attention is `[B, H, C, C]` between variates (`token_grid = (C, 1)`)."""

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        n_outputs: int,
        d_model: int = 32,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_seq_len("ITransformer", seq_len, 2, "a time attribution over one step says nothing")
        self.in_channels, self.seq_len = in_channels, seq_len
        self.token_grid = (in_channels, 1)
        self.num_prefix_tokens = 0
        self.embed = nn.Sequential(nn.Linear(seq_len, d_model), nn.Dropout(dropout))
        self.encoder = Encoder(d_model, n_layers, n_heads, d_ff, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Sequential(nn.GELU(), nn.Dropout(dropout), nn.Linear(in_channels * d_model, n_outputs))

    def _run(self, x: torch.Tensor, return_attn: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        check_input(x, self.in_channels, self.seq_len, model="ITransformer")
        tok, attns = self.encoder(self.embed(x), return_attn)
        return self.head(self.norm(tok).flatten(1)), attns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, return_attn=False)[0]

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self._run(x, return_attn=True)
