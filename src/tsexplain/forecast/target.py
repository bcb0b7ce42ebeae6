"""`ExplainedTarget`: a forecaster seen as a `[B, 1]` model, so the gradient/perturbation explainers work on it."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

TargetKind = Literal["mean", "step"]


class ExplainedTarget(nn.Module):
    """`forecaster(x) [B, C, H]` → `[B, 1]`: the mean of the horizon, or one step, of one channel (or all).

    `task = "regression"` makes `Explainer.predict_target` explain output 0, the only one.
    """

    task = "regression"

    def __init__(self, forecaster: nn.Module, target: TargetKind = "mean", step: int | None = None,
                 channel: int | None = None, horizon: int | None = None) -> None:
        super().__init__()
        if target not in ("mean", "step"):
            raise ValueError(f"explained target={target!r} is unknown; use 'mean' (mean of the horizon) or 'step'.")
        horizon = horizon or getattr(forecaster, "horizon", None) or getattr(
            getattr(forecaster, "backbone", None), "horizon", None)
        if target == "step":
            if step is None:
                raise ValueError("target='step' needs step= (0-based index into the horizon).")
            if horizon is not None and not -horizon <= int(step) < horizon:
                raise ValueError(f"step={step} is outside the horizon: valid steps are 0..{horizon - 1} "
                                 f"(or -{horizon}..-1 from the end).")
        self.forecaster, self.target, self.step, self.channel = forecaster, target, step, channel
        self.backbone = getattr(forecaster, "backbone", forecaster)  # explainers needing internals look here

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.forecaster(x)  # [B, C, H]
        if out.dim() != 3:
            raise ValueError(f"the forecaster returned shape {tuple(out.shape)}; expected [B, C, H].")
        if self.channel is not None:
            if not -out.shape[1] <= self.channel < out.shape[1]:
                raise ValueError(f"channel={self.channel} does not exist: the forecast has {out.shape[1]} channel(s).")
            out = out[:, self.channel:self.channel + 1] if self.channel >= 0 else out[:, [self.channel]]
        if self.target == "step":
            if not -out.shape[2] <= self.step < out.shape[2]:
                raise ValueError(f"step={self.step} is outside the horizon of {out.shape[2]} steps.")
            return out[:, :, self.step].mean(1, keepdim=True)
        return out.mean(dim=(1, 2))[:, None]
