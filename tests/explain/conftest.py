"""Tiny modules that conform to the backbone hook API, for explainer tests with known answers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.models.backbones.base import HasAttention, HasGradCamLayer


class LinearModel(nn.Module):
    """`y = [Σ w·x, −Σ w·x]`: every attribution method has a closed form on it."""

    def __init__(self, c: int = 2, t: int = 16, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(c, t, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x * self.w).sum((1, 2))
        return torch.stack([s, -s], 1)


class WindowModel(nn.Module):
    """Reads only channel 0, time [lo, hi): `y = [Σ x², −Σ x²]` over that window."""

    def __init__(self, lo: int = 10, hi: int = 15) -> None:
        super().__init__()
        self.lo, self.hi = lo, hi
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x[:, 0, self.lo : self.hi] ** 2).sum(-1) + 0 * self.dummy
        return torch.stack([s, -s], 1)


class TinyConv(nn.Module, HasGradCamLayer):
    """Strided conv (the Grad-CAM layer) → GAP → linear."""

    def __init__(self, c: int = 2, k: int = 4, n_out: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c, k, 3, stride=2, padding=1)
        self.head = nn.Linear(k, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.conv(x)).mean(-1))

    def gradcam_layer(self, name: str | None = None) -> nn.Module:
        return self.conv


class TinyAttn(nn.Module, HasAttention):
    """Time-patch tokens (+ optional CLS) through `depth` single-/multi-head softmax attention layers."""

    def __init__(self, c: int = 2, t: int = 32, patch: int = 4, dim: int = 8, heads: int = 2, depth: int = 2,
                 n_out: int = 3, cls: bool = False) -> None:
        super().__init__()
        self.patch, self.heads = patch, heads
        self.embed = nn.Linear(c * patch, dim)
        self.pos = nn.Parameter(torch.randn(1, t // patch, dim) * 0.5)
        self.cls = nn.Parameter(torch.randn(1, 1, dim)) if cls else None
        self.qkv = nn.ModuleList(nn.Linear(dim, 3 * dim) for _ in range(depth))
        self.head = nn.Linear(dim, n_out)
        self.num_prefix_tokens = 1 if cls else 0
        self.token_grid = (1, t // patch)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        p = x.reshape(b, c, t // self.patch, self.patch).permute(0, 2, 1, 3).reshape(b, t // self.patch, -1)
        h = self.embed(p) + self.pos
        return h if self.cls is None else torch.cat([self.cls.expand(b, -1, -1), h], 1)

    def forward_with_attention(self, x: torch.Tensor):
        h, attns = self.tokens(x), []
        b, n, d = h.shape
        for qkv in self.qkv:
            q, k, v = qkv(h).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            a = (q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)).softmax(-1)
            h = h + (a @ v).transpose(1, 2).reshape(b, n, d)
            attns.append(a)
        pooled = h[:, 0] if self.cls is not None else h.mean(1)
        return self.head(pooled), attns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_attention(x)[0]


class FixedAttention(nn.Module, HasAttention):
    """Returns a given attention stack `[L][B, H, N, N]` whatever the input (for hand-built rollout cases)."""

    def __init__(self, attns: list[torch.Tensor], grid: tuple[int, int], prefix: int = 0) -> None:
        super().__init__()
        self.attns = attns
        self.token_grid, self.num_prefix_tokens = grid, prefix
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward_with_attention(self, x: torch.Tensor):
        return torch.zeros(len(x), 2) + self.dummy, self.attns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_attention(x)[0]


class TinyDual(nn.Module, HasGradCamLayer, HasAttention):
    """Conv branch + attention branch, joint linear head: the resnet_tf shape in miniature."""

    def __init__(self, c: int = 2, t: int = 32, n_out: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c, 4, 3, padding=1)
        self.attn = TinyAttn(c, t, n_out=4)
        self.head = nn.Linear(8, n_out)
        self.num_prefix_tokens, self.token_grid = self.attn.num_prefix_tokens, self.attn.token_grid

    def forward_with_attention(self, x: torch.Tensor):
        z, attns = self.attn.forward_with_attention(x)
        return self.head(torch.cat([torch.relu(self.conv(x)).mean(-1), z], 1)), attns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_attention(x)[0]

    def gradcam_layer(self, name: str | None = None) -> nn.Module:
        return self.conv


class TinyLSTM(nn.Module):
    """A recurrent model with neither hook mixin."""

    def __init__(self, c: int = 2, n_out: int = 3) -> None:
        super().__init__()
        self.lstm = nn.LSTM(c, 8, batch_first=True)
        self.head = nn.Linear(8, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x.transpose(1, 2))[0][:, -1])


class DictLoader:
    """A datamodule stand-in: `train_dataloader()` yields dict batches with "x" and "y"."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 8) -> None:
        self.ds = [{"x": xi, "y": yi} for xi, yi in zip(x, y, strict=True)]
        self.batch_size = batch_size

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self.ds, batch_size=self.batch_size, shuffle=False)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def interp_linear(a: torch.Tensor, t: int) -> torch.Tensor:
    """Linear upsampling `[B, 1, T'] → [B, 1, T]` written independently of captum."""
    return F.interpolate(a, size=t, mode="linear", align_corners=False)


@pytest.fixture
def tiny():
    """The tiny modules above, as a namespace (test files cannot import this conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        LinearModel=LinearModel, WindowModel=WindowModel, TinyConv=TinyConv, TinyAttn=TinyAttn,
        FixedAttention=FixedAttention, TinyDual=TinyDual, TinyLSTM=TinyLSTM, DictLoader=DictLoader,
        interp_linear=interp_linear,
    )
