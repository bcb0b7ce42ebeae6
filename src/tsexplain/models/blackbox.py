"""`BlackBox`: one LightningModule for multiclass, multilabel and regression heads around a plain backbone."""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics as tm
from torch import nn

from tsexplain.data.meta import DataMeta


def poly1_cross_entropy(logits: torch.Tensor, y: torch.Tensor, epsilon: float = 1.0) -> torch.Tensor:
    """Poly-1 loss (Leng et al. 2022), CE + ε(1 − p_true), as used by TimeX's black boxes."""
    ce = F.cross_entropy(logits, y)
    pt = logits.softmax(-1).gather(1, y[:, None]).squeeze(1)
    return ce + epsilon * (1 - pt).mean()


def task_metrics(meta: DataMeta, prefix: str) -> tm.MetricCollection:
    """torchmetrics for the task; one collection per split (never shared across splits)."""
    if meta.task == "multiclass":
        k = meta.n_outputs
        metrics = {
            "acc": tm.Accuracy(task="multiclass", num_classes=k),
            "f1": tm.F1Score(task="multiclass", num_classes=k, average="macro"),
            "auroc": tm.AUROC(task="multiclass", num_classes=k),
        }
    elif meta.task == "multilabel":
        k = meta.n_outputs
        metrics = {
            "acc": tm.Accuracy(task="multilabel", num_labels=k),
            "f1": tm.F1Score(task="multilabel", num_labels=k, average="macro"),
            "auroc": tm.AUROC(task="multilabel", num_labels=k, average="macro"),
        }
    else:
        metrics = {
            "mse": tm.MeanSquaredError(),
            "mae": tm.MeanAbsoluteError(),
            "rmse": tm.MeanSquaredError(squared=False),
            "r2": tm.R2Score(multioutput="uniform_average"),
        }
    return tm.MetricCollection(metrics, prefix=f"{prefix}/")


SCHEDULERS = (None, "none", "cosine", "onecycle")


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """lr multiplier at optimiser step `step`: linear warm-up (1/w, 2/w, …, 1) over `warmup_steps`, then cosine
    from 1 to 0 at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    rest = max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup_steps) / rest)))


# Shortest series any backbone is built for: the models pad or clip shorter inputs silently, so T=1 would "run".
MIN_SEQ_LEN = 2


class BlackBox(L.LightningModule):
    """The model being explained: `blackbox(x [B, C, T]) -> outputs [B, n_outputs]` (logits or values).

    `backbone` is a callable (a Hydra `_partial_` of a backbone class) taking
    `(in_channels, seq_len, n_outputs)`; the built `nn.Module` stays reachable as `self.backbone` for
    explainers that need internals.
    """

    def __init__(
        self,
        backbone: Callable[..., nn.Module],
        meta: DataMeta,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        loss: str = "ce",
        scheduler: str | None = "cosine",
        warmup_epochs: float = 0.0,
        ckpt_path: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if loss not in ("ce", "poly1", "bce", "mse"):
            raise ValueError(f"model.loss={loss!r} is unknown; use one of ce, poly1, bce, mse.")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"model.scheduler={scheduler!r} is unknown; use cosine, onecycle or null.")
        if warmup_epochs < 0:
            raise ValueError(f"model.warmup_epochs={warmup_epochs} must be >= 0.")
        if meta.seq_len < MIN_SEQ_LEN:
            raise ValueError(f"the series have T={meta.seq_len} time step(s); every model here needs at least "
                             f"{MIN_SEQ_LEN} (with one step there is no time axis to learn from or to explain, and "
                             "the scores would be meaningless). Give longer series, or put the features on the "
                             "channel axis as (N, C, T) with T >= 2.")
        self.save_hyperparameters(ignore=["backbone", "meta"])
        self.meta = meta
        self.task = meta.task
        self.backbone = backbone(in_channels=meta.n_channels, seq_len=meta.seq_len, n_outputs=meta.n_outputs)
        if meta.task == "multilabel" and loss in ("ce", "poly1"):
            loss = "bce"
        if meta.task == "regression":
            loss = "mse"
        self.loss_name = loss
        self.train_metrics = task_metrics(meta, "train")
        self.val_metrics = task_metrics(meta, "val")
        self.test_metrics = task_metrics(meta, "test")

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.backbone.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "ce":
            return F.cross_entropy(out, y)
        if self.loss_name == "poly1":
            return poly1_cross_entropy(out, y)
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(out, y.float())
        return F.mse_loss(out, y.float().reshape(out.shape))

    def _metric_inputs(self, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.task == "multiclass":
            return out.softmax(-1), y
        if self.task == "multilabel":
            return out.sigmoid(), y.long()
        return (out.squeeze(-1), y.float().squeeze(-1)) if out.shape[-1] == 1 else (out, y.float())

    def _step(self, batch: dict, metrics: tm.MetricCollection, stage: str) -> torch.Tensor:
        out = self(batch["x"])
        loss = self.loss(out, batch["y"])
        metrics.update(*self._metric_inputs(out.detach(), batch["y"]))
        self.log(f"{stage}/loss", loss, prog_bar=stage != "test", on_epoch=True, on_step=False,
                 batch_size=len(out), sync_dist=stage != "train")
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, self.train_metrics, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, self.val_metrics, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, self.test_metrics, "test")

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self(batch["x"])

    def _log_epoch(self, metrics: tm.MetricCollection) -> None:
        self.log_dict(metrics.compute(), prog_bar=True, sync_dist=True)
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        self._log_epoch(self.train_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch(self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_epoch(self.test_metrics)

    def configure_optimizers(self):
        """AdamW; `scheduler=cosine` anneals per epoch to 0 at `max_epochs` (with `warmup_epochs > 0`: per step,
        linear warm-up then cosine); `onecycle` is torch's OneCycleLR peaking at `lr` after `warmup_epochs`
        (default 30 % of training). Schedules end at `trainer.max_epochs`, whether or not early stopping ends
        training first."""
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.scheduler in (None, "none") or self._trainer is None or not self.trainer.max_epochs:
            return opt
        epochs = max(1, self.trainer.max_epochs)
        warmup = hp.get("warmup_epochs", 0.0) or 0.0
        if hp.scheduler == "cosine" and not warmup:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
        total = max(1, int(self.trainer.estimated_stepping_batches))
        if hp.scheduler == "onecycle":
            pct = min(0.99, warmup / epochs) if warmup else 0.3
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=hp.lr, total_steps=total, pct_start=pct)
        else:
            w = max(1, round(warmup * total / epochs))
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine(step, w, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
