"""Forecast metrics: MSE and MAE from torchmetrics, and MASE (torchmetrics has none) as a torchmetrics Metric."""

from __future__ import annotations

import torch
import torchmetrics as tm

from tsexplain.forecast.baselines import naive_scale


class MeanAbsoluteScaledError(tm.Metric):
    """MASE: MAE of the forecast over the context's in-sample (seasonal-)naive MAE, averaged over series.

    `season=1` is the naive scale (Hyndman & Koehler 2006); per-series seasons can be passed to `update`.
    Series with a constant context (scale 0) are skipped rather than giving inf.
    """

    higher_is_better = False
    full_state_update = False

    def __init__(self, season: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        if season < 1:
            raise ValueError(f"MASE season={season} must be >= 1.")
        self.season = int(season)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor, context: torch.Tensor,
               season: torch.Tensor | None = None) -> None:
        """`pred`, `target` `[B, C, H]`; `context` `[B, C, T]`."""
        scale = naive_scale(context, self.season if season is None else season)
        err = (pred - target).abs().mean(-1)
        ok = scale > 1e-12
        self.total += (err[ok] / scale[ok]).sum().double()
        self.count += int(ok.sum())

    def compute(self) -> torch.Tensor:
        return (self.total / self.count.clamp_min(1)).float()


def forecast_metrics(prefix: str) -> tm.MetricCollection:
    """mse, mae (torchmetrics) on `[B, C, H]` values, named `<prefix>mse`; mase needs the context: kept apart."""
    return tm.MetricCollection({"mse": tm.MeanSquaredError(), "mae": tm.MeanAbsoluteError()}, prefix=prefix)
