"""`ForecastModule`: the LightningModule for forecasting, wrapping a forecaster backbone `[B, C, T] → [B, C, H]`."""

from __future__ import annotations

import functools
from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.data.meta import DataMeta
from tsexplain.forecast.baselines import seasonal_naive
from tsexplain.forecast.metrics import MeanAbsoluteScaledError, forecast_metrics
from tsexplain.models.backbones.vitime import is_vitime_checkpoint
from tsexplain.tasks import Forecasting


class ForecastModule(L.LightningModule):
    """Trains and scores a forecaster on dict batches `x [B, C, T]`, `y [B, C·H]` (channel-major).

    `backbone` is a callable (Hydra `_partial_`) taking `(in_channels, seq_len, horizon)`; a `ckpt_path` that
    is a public-layout ViTime checkpoint (not a Lightning one) is handed to the backbone to load. The loss is the
    backbone's own `forecast_loss(x, y)` when it has one (ViTime: per-column value-bin cross-entropy), else MSE.
    Metrics per split: mse, mae, mase (naive scale of season `mase_season`), and the same for the
    seasonal-naive forecast (`<split>/naive_*`) so every number has its baseline beside it.
    """

    def __init__(self, backbone: Callable[..., nn.Module], meta: DataMeta, horizon: int | None = None,
                 lr: float = 1e-3, weight_decay: float = 1e-4, mase_season: int = 1,
                 naive_season: int | None = None, ckpt_path: str | None = None, name: str | None = None,
                 explained_target: str = "mean", explained_step: int | None = None,
                 explained_channel: int | None = None) -> None:
        super().__init__()
        if meta.task != "regression":
            raise ValueError(f"forecasting needs a regression datamodule (y = the next values); {meta.name} has "
                             f"task={meta.task!r}. Use dataset=harmonics or an npz with task=regression.")
        horizon = int(horizon) if horizon is not None else meta.n_outputs // max(1, meta.n_channels)
        if horizon < 1 or horizon * meta.n_channels != meta.n_outputs:
            raise ValueError(f"meta.n_outputs={meta.n_outputs} is not n_channels ({meta.n_channels}) × horizon "
                             f"({horizon}); y must hold the next `horizon` values of every channel, channel-major.")
        self.save_hyperparameters(ignore=["backbone", "meta"])
        self.meta, self.horizon = meta, horizon
        # what the explainers explain: the mean of the horizon, or one step (of one channel, or all)
        self.task = Forecasting(meta, horizon, explained_target, explained_step, explained_channel)
        if is_vitime_checkpoint(ckpt_path):  # a released ViTime file: the backbone loads it, not Lightning
            backbone = functools.partial(backbone, ckpt_path=ckpt_path)
            self.weights_from = ckpt_path
        self.backbone = backbone(in_channels=meta.n_channels, seq_len=meta.seq_len, horizon=horizon)
        self.naive_season = naive_season
        self.metrics = nn.ModuleDict({
            f"{s}_{k}": forecast_metrics(f"{s}/naive_") if k == "naive" else self.task.metrics(s)
            for s in ("train", "val", "test") for k in ("model", "naive")})
        self.mase = nn.ModuleDict({f"{s}_{k}": MeanAbsoluteScaledError(mase_season)
                                   for s in ("train", "val", "test") for k in ("model", "naive")})

    #: the checkpoint the model loaded its weights from when built (a released ViTime file), so the run does not
    #: load `model.ckpt_path` a second time as a Lightning checkpoint
    weights_from: str | None = None

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.backbone.parameters())

    def explained_model(self) -> nn.Module:
        """The `[B, 1]` view of this forecaster that explainers explain (`model.explained_target`, `_step`)."""
        return self.task.explained_model(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def targets(self, batch: dict) -> torch.Tensor:
        x = batch["x"]
        return batch["y"].float().reshape(len(x), x.shape[1], self.horizon)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(training loss, forecast `[B, C, H]`)."""
        pred = self(x)
        if hasattr(self.backbone, "forecast_loss"):
            return self.backbone.forecast_loss(x, y), pred
        return F.mse_loss(pred, y), pred

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        x, y = batch["x"], self.targets(batch)
        loss, pred = self.loss(x, y)
        naive = seasonal_naive(x, self.horizon, self.naive_season)
        for kind, p in (("model", pred.detach()), ("naive", naive)):
            self.metrics[f"{stage}_{kind}"].update(p, y)
            self.mase[f"{stage}_{kind}"].update(p, y, x)
        self.log(f"{stage}/loss", loss, prog_bar=stage != "test", on_epoch=True, on_step=False, batch_size=len(x),
                 sync_dist=stage != "train")
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self(batch["x"])

    def _log_epoch(self, stage: str) -> None:
        out = {}
        for kind in ("model", "naive"):
            out.update(self.metrics[f"{stage}_{kind}"].compute())
            out[f"{stage}/{'naive_' if kind == 'naive' else ''}mase"] = self.mase[f"{stage}_{kind}"].compute()
            self.metrics[f"{stage}_{kind}"].reset()
            self.mase[f"{stage}_{kind}"].reset()
        self.log_dict(out, prog_bar=stage != "train", sync_dist=True)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
