"""`Explainer`: the one interface every attribution method in tsexplain implements."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Protocol

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn

from tsexplain.utils import progress
from tsexplain.utils.tensors import default_target


class TrainerFactory(Protocol):
    """How an explainer that learns gets its Trainer: the run's trainer settings, loggers and callbacks, with
    checkpoints on `monitor` (None: no validation data, keep the last checkpoint) and early stopping on it after
    `patience` epochs without improvement (None: none, the explainer's whole budget)."""

    def __call__(self, *, max_epochs: int, monitor: str | None = "val/loss", mode: str = "min",
                 patience: int | None = None) -> L.Trainer: ...


def default_trainer(*, max_epochs: int, monitor: str | None = None, mode: str = "min",
                    checkpoint_dir: str | None = None, patience: int | None = None, **trainer_kwargs) -> L.Trainer:
    """The `TrainerFactory` of an explainer fitted outside a run (the pipeline passes its own): one CPU device, no
    logger or progress bar; with `checkpoint_dir`, a checkpoint of the best epoch on `monitor` and of the last."""
    callbacks = [] if checkpoint_dir is None else [
        ModelCheckpoint(dirpath=checkpoint_dir, monitor=monitor, mode=mode, save_last=True)]
    if monitor is not None and patience is not None:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=int(patience)))
    return L.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False, callbacks=callbacks,
                     enable_checkpointing=checkpoint_dir is not None, enable_progress_bar=False,
                     enable_model_summary=False, **trainer_kwargs)


def patience_of(patience: int | None) -> int | None:
    """A learned explainer's `early_stopping_patience`, checked: None (train the whole budget) or an int ≥ 1."""
    if patience is None:
        return None
    if isinstance(patience, bool) or int(patience) != patience or int(patience) < 1:
        raise ValueError(f"explainer.early_stopping_patience={patience!r} must be null (train the explainer's whole "
                         "budget, keep its best epoch) or an integer >= 1 (epochs without improvement of its "
                         "validation loss).")
    return int(patience)


class Explainer:
    """Base class: `fit(blackbox, datamodule)` then `attribute(x, target) -> [B, C, T]` (≥ 0).

    A black box is only *called* (`blackbox(x) -> outputs`), except by explainers that set
    `requires` to a backbone mixin (`HasGradCamLayer`, `HasAttention`); `fit` then checks the backbone
    and fails at start with the list of models that support the method.
    """

    #: Backbone mixin classes this explainer needs (empty = model-agnostic).
    requires: tuple[type, ...] = ()
    #: Model config names that provide what `requires` asks for, for the error message.
    supported_models: tuple[str, ...] = ()
    name: str = "explainer"
    #: Whether `maps(x, target)` returns component maps (fusion's Grad-CAM and rollout, TimeSAE's other readings),
    #: each scored and saved beside the headline map.
    has_maps: bool = False
    #: The checkpoint of what the explainer learned (None for post-hoc explainers): reuse it with explainer.ckpt_path.
    best_ckpt_path: str | None = None

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self.blackbox: nn.Module | None = None

    def _learning_trainer(self, trainer_factory: TrainerFactory | None, *, max_epochs: int, monitor: str | None,
                          mode: str, patience: int | None, **default_kwargs) -> L.Trainer:
        """The Trainer of an explainer that learns: the run's (`trainer_factory`), else `default_trainer` with its
        checkpoints in a temporary folder; early stopping after `patience` epochs (None: the whole budget)."""
        if trainer_factory is not None:
            return trainer_factory(max_epochs=max_epochs, monitor=monitor, mode=mode, patience=patience)
        self._tmpdir = tempfile.mkdtemp(prefix=f"{self.name}_")
        return default_trainer(max_epochs=max_epochs, monitor=monitor, mode=mode, checkpoint_dir=self._tmpdir,
                               patience=patience, **default_kwargs)

    # -- lifecycle -----------------------------------------------------------------------------
    def fit(self, blackbox: nn.Module, datamodule=None, trainer_factory: TrainerFactory | None = None):
        """Bind the black box (and learn, for explainers that learn). Returns self."""
        self.check_compatible(blackbox)
        self.blackbox = blackbox.eval()
        return self

    def rebind(self, blackbox: nn.Module) -> Explainer:
        """A copy of this (fitted) explainer bound to another black box, without fitting again — how the
        model-randomisation sanity check re-explains with a re-initialised model. The default is a shallow copy
        with `blackbox` swapped in (what the explainer learned in `fit`, e.g. GradientSHAP's baselines, is kept);
        explainers holding other explainers or learned modules bound to the black box override it. `self` is
        left untouched."""
        self.check_compatible(blackbox)
        if self.blackbox is None:
            raise RuntimeError(f"{type(self).__name__}.rebind called before fit(blackbox, ...).")
        clone = copy.copy(self)
        clone.blackbox = blackbox.eval()
        return clone

    def check_compatible(self, blackbox: nn.Module) -> None:
        backbone = getattr(blackbox, "backbone", blackbox)
        for need in self.requires:
            if not isinstance(backbone, need):
                raise ValueError(
                    f"explainer={self.name} needs a black box with {need.__name__} "
                    f"({need.__doc__.strip().splitlines()[0]}); {type(backbone).__name__} has none. "
                    f"Use one of: model={'|'.join(self.supported_models)}."
                )

    # -- attribution ---------------------------------------------------------------------------
    def attribute(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Non-negative importance `[B, C, T]` for `x [B, C, T]`, batched by `self.batch_size`."""
        if self.blackbox is None:
            raise RuntimeError(f"{type(self).__name__}.attribute called before fit(blackbox, ...).")
        if x.ndim != 3:
            raise ValueError(f"attribute expects x of shape [B, C, T]; got {tuple(x.shape)}.")
        if target is None:
            target = self.predict_target(x)
        target = torch.as_tensor(target, device=x.device).long().reshape(-1)
        if target.numel() == 1 and x.shape[0] > 1:
            target = target.expand(x.shape[0])
        out = []
        batches = range(0, x.shape[0], self.batch_size)
        for i in progress.track(batches, f"{type(self).__name__} attribution", unit="batch"):
            out.append(self._attribute(x[i : i + self.batch_size], target[i : i + self.batch_size]).detach())
        sal = torch.cat(out).reshape(x.shape)
        return torch.nan_to_num(sal.clamp_min(0), nan=0.0)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """One batch; subclasses implement this."""
        raise NotImplementedError

    def maps(self, x: torch.Tensor, target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Component maps `{name: [B, C, T]}` (only when `has_maps`)."""
        return {}

    # -- method-specific report (optional) -----------------------------------------------------------
    def explanation_metrics(self, x: torch.Tensor, target: torch.Tensor, meta) -> dict[str, float]:
        """Scores only this method can give (TimeSAE: F_x, ε_cf, L0, …), written as `explain/<key>`."""
        return {}

    def figures(self, x: torch.Tensor, target: torch.Tensor, meta, fig_dir: Path) -> list[Path]:
        """Figures only this method can draw (TimeSAE: concepts over training, a counterfactual)."""
        return []

    def predict_target(self, x: torch.Tensor) -> torch.Tensor:
        """The class to explain when none is given: the black box's task decides (the prediction; output 0 for
        regression)."""
        return default_target(self.blackbox, x, self.batch_size)
