"""TimeSAE encoder/decoder backbones (paper App. B.5) and their ablation swaps (App. B.10).

Encoder: temporal stack on `[B, C, T]` → flatten → FC blocks (Linear + BatchNorm + LeakyReLU(0.01) [+ SE])
→ Linear → BatchNorm → pre-activations `[B, d]`. Decoder mirrors it: `[B, d]` → FC blocks → `[B, h, T]` →
temporal stack → 1×1 conv → `[B, C, T]`.

Temporal stacks: `TCN*` use dilated residual 1-D conv blocks (Bai et al. 2018) with *same* (non-causal)
padding by default — the explainer sees the whole series at once, so a symmetric receptive field fits;
`causal=True` switches to left padding. `CNN*` are plain (undilated, non-residual) convs; `MLP*` have no
temporal stack. `*SE*` add Squeeze-and-Excitation to temporal and FC blocks.

Every encoder class has the same signature and names its mirrored decoder in `decoder_cls`, so the Hydra
override `explainer.module.encoder._target_=...MLPEncoder` swaps both halves.
"""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation (Hu et al. 2018) for `[B, H]` vectors or `[B, H, T]` maps (squeeze over T).

    `causal=True` squeezes with the running mean over steps ≤ t, so a causal stack stays causal.
    """

    def __init__(self, channels: int, reduction: int = 4, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, h):
        if h.ndim == 3 and self.causal:
            steps = torch.arange(1, h.shape[-1] + 1, device=h.device, dtype=h.dtype)
            running = (h.cumsum(-1) / steps).transpose(1, 2)  # [B, T, H]
            return h * self.gate(running).transpose(1, 2)
        if h.ndim == 3:
            return h * self.gate(h.mean(-1)).unsqueeze(-1)
        return h * self.gate(h)


class LatentNorm(nn.Module):
    """BatchNorm of the pre-activations without a shift, times a learnable per-latent scale (init 1/√d).

    Scale 1/√d: the latents feed unit-norm atoms and the inputs are scaled to E‖x‖² = 1; at BatchNorm's weight 1
    every active latent added ≈ ‖x‖ of error at initialisation and the quickest descent was to switch latents
    off for good (83–99 % dead). No shift: with a learnable bias the encoder could move every pre-activation
    below zero or θ on noise-dominated data, where no code helps at first (LowVar: L0 1.4–1.7 for a target of
    8, JumpReLU and TopK alike); centred per latent, each keeps a positive tail for the sparsity to select.
    """

    def __init__(self, d_latent: int, scale: float | None = None) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(d_latent, affine=False)
        self.weight = nn.Parameter(torch.full((d_latent,), scale if scale is not None else d_latent**-0.5))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(h) * self.weight


class FCBlock(nn.Module):
    """Linear + BatchNorm + LeakyReLU(0.01) (+ SE) + dropout."""

    def __init__(self, d_in: int, d_out: int, se: bool, dropout: float) -> None:
        super().__init__()
        layers = [nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.LeakyReLU(0.01)]
        if se:
            layers.append(SqueezeExcite(d_out))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*layers)

    def forward(self, h):
        return self.net(h)


class TemporalBlock(nn.Module):
    """Conv1d(k, dilation) → BN → LeakyReLU, twice, (+ SE), with a residual 1×1 projection when `residual`."""

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, dilation: int, causal: bool, residual: bool, se: bool
    ) -> None:
        super().__init__()
        total = (kernel_size - 1) * dilation
        # causal: all padding on the left; same: split (extra on the right for even kernels)
        self.pad = (total, 0) if causal else (total // 2, total - total // 2)
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, dilation=dilation)
        self.bn1, self.bn2 = nn.BatchNorm1d(c_out), nn.BatchNorm1d(c_out)
        self.act = nn.LeakyReLU(0.01)
        self.se = SqueezeExcite(c_out, causal=causal) if se else nn.Identity()
        self.residual = residual
        self.proj = nn.Conv1d(c_in, c_out, 1) if (residual and c_in != c_out) else nn.Identity()

    def forward(self, x):
        h = self.act(self.bn1(self.conv1(nn.functional.pad(x, self.pad))))
        h = self.se(self.bn2(self.conv2(nn.functional.pad(h, self.pad))))
        return self.act(h + self.proj(x)) if self.residual else self.act(h)


def temporal_stack(
    c_in: int, channels: int, levels: int, kernel_size: int, causal: bool, dilated: bool, residual: bool, se: bool
) -> nn.Sequential:
    return nn.Sequential(*[
        TemporalBlock(c_in if i == 0 else channels, channels, kernel_size, 2**i if dilated else 1,
                      causal, residual, se)
        for i in range(levels)
    ])


class _Encoder(nn.Module):
    """Shared encoder skeleton; subclasses set the temporal-stack flags."""

    temporal: bool = True
    dilated: bool = True
    residual: bool = True
    se: bool = True
    decoder_cls: type[_Decoder]

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        d_latent: int,
        hidden: int = 128,
        n_blocks: int = 2,
        tcn_channels: int = 16,
        levels: int = 3,
        kernel_size: int = 3,
        causal: bool = False,
        dropout: float = 0.0,
        latent_scale: float | None = None,
    ) -> None:
        super().__init__()
        self.config = dict(hidden=hidden, n_blocks=n_blocks, tcn_channels=tcn_channels, levels=levels,
                           kernel_size=kernel_size, causal=causal, dropout=dropout)
        if self.temporal:
            self.stack = temporal_stack(in_channels, tcn_channels, levels, kernel_size, causal,
                                        self.dilated, self.residual, self.se)
            flat = tcn_channels * seq_len
        else:
            self.stack = nn.Identity()
            flat = in_channels * seq_len
        blocks = [FCBlock(flat, hidden, self.se, dropout)]
        blocks += [FCBlock(hidden, hidden, self.se, dropout) for _ in range(n_blocks - 1)]
        self.fc = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Linear(hidden, d_latent), LatentNorm(d_latent, latent_scale))

    def forward(self, x):
        return self.head(self.fc(self.stack(x).flatten(1)))

    def make_decoder(self, out_channels: int, seq_len: int, d_latent: int) -> _Decoder:
        """The mirrored decoder with the same hyper-parameters."""
        return self.decoder_cls(out_channels, seq_len, d_latent, **self.config)


class _Decoder(nn.Module):
    """Mirror of `_Encoder`: `[B, d]` → `[B, C, T]`."""

    temporal: bool = True
    dilated: bool = True
    residual: bool = True
    se: bool = True

    def __init__(
        self,
        out_channels: int,
        seq_len: int,
        d_latent: int,
        hidden: int = 128,
        n_blocks: int = 2,
        tcn_channels: int = 16,
        levels: int = 3,
        kernel_size: int = 3,
        causal: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.out_channels, self.seq_len, self.tcn_channels = out_channels, seq_len, tcn_channels
        blocks = [FCBlock(d_latent, hidden, self.se, dropout)]
        blocks += [FCBlock(hidden, hidden, self.se, dropout) for _ in range(n_blocks - 1)]
        self.fc = nn.Sequential(*blocks)
        if self.temporal:
            self.expand = nn.Linear(hidden, tcn_channels * seq_len)
            self.stack = temporal_stack(tcn_channels, tcn_channels, levels, kernel_size, causal,
                                        self.dilated, self.residual, self.se)
            self.out = nn.Conv1d(tcn_channels, out_channels, 1)
        else:
            self.expand = nn.Linear(hidden, out_channels * seq_len)

    def forward(self, c):
        h = self.expand(self.fc(c))
        if not self.temporal:
            return h.view(-1, self.out_channels, self.seq_len)
        return self.out(self.stack(h.view(-1, self.tcn_channels, self.seq_len)))


class TCNSEDecoder(_Decoder):
    """Paper default: dilated residual TCN + SE."""


class TCNDecoder(_Decoder):
    """Ablation 'w/o SE'."""

    se = False


class CNNDecoder(_Decoder):
    """Ablation '1D-CNN': plain convs, no dilation, no residual, no SE."""

    dilated = residual = se = False


class MLPDecoder(_Decoder):
    """Ablation 'MLP skeleton': FC blocks only."""

    temporal = se = False


class TCNSEEncoder(_Encoder):
    """Paper default: dilated residual TCN + SE, FC blocks with SE."""

    decoder_cls = TCNSEDecoder


class TCNEncoder(_Encoder):
    """Ablation 'w/o SE'."""

    se = False
    decoder_cls = TCNDecoder


class CNNEncoder(_Encoder):
    """Ablation '1D-CNN'."""

    dilated = residual = se = False
    decoder_cls = CNNDecoder


class MLPEncoder(_Encoder):
    """Ablation 'MLP skeleton' (tcn_channels, levels, kernel_size, causal are ignored)."""

    temporal = se = False
    decoder_cls = MLPDecoder
