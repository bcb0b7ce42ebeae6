"""`DLinear` (Zeng et al. 2023) as a classifier/regressor, following thuml/Time-Series-Library's head.

x = trend + seasonal with trend = moving average (edge-replicated, odd kernel), then seasonal and trend each
go through a Linear(T → T) over time (shared across channels, or one per channel with `individual=True`),
initialised to 1/T as published; their sum `[B, C, T]` is flattened into a Linear(C·T → n_outputs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.models.backbones.base import check_seq_len
from tsexplain.models.backbones.layers import check_input


def moving_average(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Edge-replicated moving average over the last axis of `[B, C, T]`; same length out."""
    half = (kernel_size - 1) // 2
    return F.avg_pool1d(F.pad(x, (half, half), mode="replicate"), kernel_size, stride=1)


class DLinear(nn.Module):
    """Series decomposition + two linear maps over time + flattened linear head."""

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        n_outputs: int,
        moving_avg: int = 25,
        individual: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_seq_len("DLinear", seq_len, 2, "a time attribution over one step says nothing")
        if moving_avg < 1 or moving_avg % 2 == 0:
            raise ValueError(f"moving_avg={moving_avg} must be odd and ≥ 1 so the trend keeps length T; e.g. 25.")
        self.in_channels, self.seq_len, self.kernel, self.individual = in_channels, seq_len, moving_avg, individual
        n = in_channels if individual else 1
        self.seasonal = nn.Parameter(torch.full((n, seq_len, seq_len), 1.0 / seq_len))  # [n, T_out, T_in]
        self.trend = nn.Parameter(torch.full((n, seq_len, seq_len), 1.0 / seq_len))
        bound = seq_len ** -0.5  # nn.Linear's default bias init
        self.seasonal_bias = nn.Parameter(torch.empty(n, seq_len).uniform_(-bound, bound))
        self.trend_bias = nn.Parameter(torch.empty(n, seq_len).uniform_(-bound, bound))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_channels * seq_len, n_outputs))

    def decompose(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(seasonal, trend), each `[B, C, T]`."""
        trend = moving_average(x, self.kernel)
        return x - trend, trend

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Seasonal + trend after their time-wise linear maps, `[B, C, T]`."""
        check_input(x, self.in_channels, self.seq_len, model="DLinear")
        s, t = self.decompose(x)
        # Batched per-channel Linear(T→T): with individual=False the single weight broadcasts over channels.
        return (torch.einsum("bct,cot->bco", s, self.seasonal.expand(self.in_channels, -1, -1)) + self.seasonal_bias
                + torch.einsum("bct,cot->bco", t, self.trend.expand(self.in_channels, -1, -1)) + self.trend_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x).flatten(1))
