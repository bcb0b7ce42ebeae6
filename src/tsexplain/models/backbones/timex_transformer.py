"""`TimeXTransformer`: the "vanilla transformer" black box of TimeX (mims-harvard/TimeX, transformer_simple.py).

Faithful to the reference: each time step's features are concatenated with a d_pe=16 sin/cos encoding of its
time t = 1..T (timescales max_len ** linspace(0, 1, d_pe/2), sin half then cos half, encoding first), so
d_model = C + 16; post-norm encoder layers with `nhead` heads (1) and NO residual around self-attention;
ReLU FFN; mean pooling as sum over time / (T + 1); optional L2 normalisation of the pooled embedding
(`norm_embedding`: TimeX's `F.normalize(output, dim=-1)`; its LayerNorm on the encoder is commented out in the
reference); head Linear → ReLU → Linear.
TimeX's unused `MLP_encoder` (Linear(C, C), never called) is left out, so counts are C² + C lower.

Initialisation (`init`): "timex" (default) is TimeX's, i.e. torch's: nn.MultiheadAttention initialises its packed
in-projection with `xavier_uniform_` over the [3d, d] matrix and zeroes the in- and out-projection biases, and
nn.TransformerEncoder deep-copies ONE layer, so every encoder layer starts from the same weights. "linear" is
plain nn.Linear init in every layer (uniform biases, independent layers), which this class used before: on
SeqComb-UV it stayed on the "class 0 only" plateau ~3x longer (README, issue 8).
`local_attention_init` (β ≥ 0, default 0 = off, not in TimeX) adds √β on the time-encoding diagonal of W_q and W_k,
so the initial logits contain β·Σ_f cos((t − s)/τ_f): attention starts peaked on each query's own neighbourhood
instead of uniform (the architecture and parameter count are unchanged).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.models.backbones.base import HasAttention, check_seq_len
from tsexplain.models.backbones.layers import Attention, Dropout, check_input


class TimeXEncoderLayer(nn.Module):
    """Post-norm encoder layer without the residual around self-attention (TimeX's edited layer)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float) -> None:
        super().__init__()
        # nn.MultiheadAttention(dropout=p) in TimeX drops attention weights with the layer's dropout.
        self.self_attn = Attention(d_model, nhead, attn_dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attn: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, attn = self.self_attn(x, return_attn)
        # Deliberately NO residual (TimeX's "KEY EDIT" in txai/models/layers.py): with `x + attn(x)` a token's
        # own value bypasses attention, so masking it out of attention (as TimeX's explainer does) would still
        # leak it to the output. Every token here is a mixture of the tokens attention lets through.
        x = self.norm1(self.dropout1(a))
        x = self.norm2(x + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x))))))
        return x, attn


def time_encoding(seq_len: int, d_pe: int, max_len: int, device=None) -> torch.Tensor:
    """TimeX's PositionalEncodingTF for times 1..seq_len: `[seq_len, d_pe]` = [sin(t/τ), cos(t/τ)]."""
    timescales = torch.tensor(float(max_len), dtype=torch.float64) ** torch.linspace(0, 1, d_pe // 2,
                                                                                    dtype=torch.float64)
    scaled = torch.arange(1, seq_len + 1, dtype=torch.float64)[:, None] / timescales[None]
    return torch.cat([scaled.sin(), scaled.cos()], dim=-1).float().to(device)


class TimeXTransformer(nn.Module, HasAttention):
    """TimeX's transformer classifier on `[B, C, T]`; `forward_with_attention` exposes its `[B, H, T, T]` maps."""

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        n_outputs: int,
        n_layers: int = 1,
        dim_feedforward: int = 16,
        dropout: float = 0.1,
        nhead: int = 1,
        d_pe: int = 16,
        norm_embedding: bool = False,
        max_len: int | None = None,
        init: str = "timex",
        local_attention_init: float = 0.0,
    ) -> None:
        super().__init__()
        check_seq_len("TimeXTransformer", seq_len, 2, "a time attribution over one step says nothing")
        if d_pe % 2:
            raise ValueError(f"d_pe={d_pe} must be even (sin and cos halves).")
        self.in_channels, self.seq_len, self.d_pe = in_channels, seq_len, d_pe
        self.max_len = max_len or seq_len
        d_model = in_channels + d_pe
        self.d_model = d_model
        self.token_grid = (1, seq_len)
        self.num_prefix_tokens = 0
        self.layers = nn.ModuleList(
            TimeXEncoderLayer(d_model, nhead, dim_feedforward, dropout) for _ in range(n_layers)
        )
        self.norm_embedding = bool(norm_embedding)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, n_outputs))
        self.register_buffer("pe", time_encoding(seq_len, d_pe, self.max_len), persistent=False)
        self._init(init, float(local_attention_init))

    @torch.no_grad()
    def _init(self, init: str, beta: float) -> None:
        if init not in ("timex", "linear"):
            raise ValueError(f"init={init!r} is unknown; use 'timex' (TimeX's / torch's) or 'linear'.")
        if beta < 0:
            raise ValueError(f"local_attention_init={beta} must be >= 0 (0 = off).")
        if init == "timex":
            first = self.layers[0]
            nn.init.xavier_uniform_(first.self_attn.qkv.weight)  # nn.MultiheadAttention._reset_parameters
            nn.init.zeros_(first.self_attn.qkv.bias)
            nn.init.zeros_(first.self_attn.proj.bias)
            for layer in self.layers[1:]:  # nn.TransformerEncoder: deep copies of one layer
                layer.load_state_dict(first.state_dict())
        if beta > 0:
            d, idx = self.d_model, torch.arange(self.d_pe)
            for layer in self.layers:
                w = layer.self_attn.qkv.weight  # rows: q (0..d-1), k (d..2d-1), v; inputs: [pe, x]
                w[idx, idx] += beta ** 0.5
                w[d + idx, idx] += beta ** 0.5

    def embed(self, x: torch.Tensor, return_attn: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Pooled embedding `[B, d_model]` and (when asked) per-layer attention `[B, H, T, T]`."""
        check_input(x, self.in_channels, model="TimeXTransformer")
        b, _, t = x.shape
        pe = self.pe if t == self.seq_len else time_encoding(t, self.d_pe, self.max_len, x.device)
        h = torch.cat([pe.to(x.dtype).expand(b, t, self.d_pe), x.transpose(1, 2)], dim=-1)
        attns = []
        for layer in self.layers:
            h, a = layer(h, return_attn)
            if return_attn:
                attns.append(a)
        pooled = h.sum(1) / (t + 1)
        if self.norm_embedding:  # TimeX: the pooled embedding on the unit sphere (no parameters)
            pooled = F.normalize(pooled, dim=-1)
        return pooled, attns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embed(x)[0])

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        z, attns = self.embed(x, return_attn=True)
        return self.mlp(z), attns
