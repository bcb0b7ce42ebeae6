"""`BlackBox`: one LightningModule for multiclass, multilabel and regression heads around a plain backbone."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics as tm
from torch import nn

from tsexplain.data.meta import DataMeta
from tsexplain.data.real.metrics import build_metrics
from tsexplain.models.schedules import Schedule, cosine
from tsexplain.models.schedules import warmup_cosine as warmup_cosine  # re-exported: tests and callers use it
from tsexplain.tasks import Loss, task_for


def poly1(logits: torch.Tensor, y: torch.Tensor, epsilon: float = 1.0) -> torch.Tensor:
    """Poly-1 loss (Leng et al. 2022), CE + ε(1 − p_true), as used by TimeX's black boxes."""
    ce = F.cross_entropy(logits, y)
    pt = logits.softmax(-1).gather(1, y[:, None]).squeeze(1)
    return ce + epsilon * (1 - pt).mean()


poly1_cross_entropy = poly1


def _name(fn: Callable) -> str:
    """A loss's name for logs: the function behind a partial."""
    fn = getattr(fn, "func", fn)
    return getattr(fn, "__name__", type(fn).__name__)


def _object(value, option: str, choices: str):
    """A config object, refusing the names the former string switches took (`model.scheduler=onecycle`)."""
    if isinstance(value, str):
        raise ValueError(f"model.{option}={value!r} is a name; it is an object chosen by its config group now: "
                         f"model/{option}={choices} (conf/model/{option}/), e.g. `python run.py model/{option}="
                         f"{choices.split('|')[0]}`.")
    return value


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
        optimizer: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
        scheduler: Schedule | None = cosine,
        loss: Loss | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        warmup_epochs: float = 0.0,
        ckpt_path: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.optimizer_factory = _object(optimizer, "optimizer", "adamw|sgd")
        self.schedule = _object(scheduler, "scheduler", "cosine|onecycle|constant")
        loss = _object(loss, "loss", "ce|poly1")
        if warmup_epochs < 0:
            raise ValueError(f"model.warmup_epochs={warmup_epochs} must be >= 0.")
        if meta.seq_len < MIN_SEQ_LEN:
            raise ValueError(f"the series have T={meta.seq_len} time step(s); every model here needs at least "
                             f"{MIN_SEQ_LEN} (with one step there is no time axis to learn from or to explain, and "
                             "the scores would be meaningless). Give longer series, or put the features on the "
                             "channel axis as (N, C, T) with T >= 2.")
        # The partials stay out of the checkpoint (SAFE_GLOBALS: no functools.partial); the run config has them.
        self.save_hyperparameters(ignore=["backbone", "meta", "optimizer", "scheduler", "loss"])
        self.meta = meta
        self.task = task_for(meta)
        self.backbone = backbone(in_channels=meta.n_channels, seq_len=meta.seq_len, n_outputs=meta.n_outputs)
        self.loss_fn = self.task.loss(loss)
        self.loss_name = _name(self.loss_fn)
        self.train_metrics = self.task.metrics("train")
        # the dataset's own measures (PTB-XL macro AUROC, the CinC 2017 challenge F1) on the held-out splits
        self.val_metrics = self._with_dataset_metrics(self.task.metrics("val"))
        self.test_metrics = self._with_dataset_metrics(self.task.metrics("test"))
        self._resumed_schedule: dict | None = None

    def _with_dataset_metrics(self, metrics: tm.MetricCollection) -> tm.MetricCollection:
        extra = build_metrics(self.meta)
        if extra:
            metrics.add_metrics(extra)
        return metrics

    #: where the weights came from when the model loaded them itself while being built (never, here); see
    #: `ForecastModule.weights_from`
    weights_from: str | None = None

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.backbone.parameters())

    def explained_model(self) -> nn.Module:
        """What the explainers explain: the black box itself (a forecaster explains one scalar of its forecast)."""
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(out, y)

    def _step(self, batch: dict, metrics: tm.MetricCollection, stage: str) -> torch.Tensor:
        out = self(batch["x"])
        loss = self.loss(out, batch["y"])
        metrics.update(*self.task.metric_inputs(out.detach(), batch["y"]))
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

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Resuming (`resume_from`): keep the checkpoint's scheduler state to check it against this fit."""
        schedulers = checkpoint.get("lr_schedulers") or []
        self._resumed_schedule = schedulers[0] if schedulers else None

    def configure_optimizers(self):
        """`model.optimizer` over all parameters with `lr` and `weight_decay`, and `model.scheduler` (a
        `schedules.Schedule`) over `trainer.max_epochs`."""
        hp = self.hparams
        opt = self.optimizer_factory(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        if self.schedule is None or self._trainer is None or not self.trainer.max_epochs:
            return opt
        epochs = max(1, self.trainer.max_epochs)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        sched = self.schedule(opt, lr=hp.lr, epochs=epochs, total_steps=total,
                              warmup_epochs=hp.get("warmup_epochs", 0.0) or 0.0)
        if sched is None:
            return opt
        self._check_resumable(sched["scheduler"], total)
        return {"optimizer": opt, "lr_scheduler": sched}

    def _check_resumable(self, scheduler, total: int) -> None:
        """A OneCycle schedule cannot be stretched: resuming it with another `trainer.max_epochs` would step past
        its end (torch raises mid-training). Refuse before the first step, saying what to do."""
        saved = self._resumed_schedule or {}
        if not isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) or "total_steps" not in saved:
            return
        if int(saved["total_steps"]) != total:
            raise ValueError(
                f"resume_from: the checkpoint's OneCycle schedule spans {saved['total_steps']} steps, but this run "
                f"has {total} (trainer.max_epochs={self.trainer.max_epochs}); OneCycle fixes its length when it "
                "starts, so it cannot continue to another max_epochs. Fix: resume with the first run's "
                "trainer.max_epochs, or train afresh with the new one (drop resume_from), or use "
                "model/scheduler=cosine, which restarts its annealing from the checkpoint's epoch.")
