"""Build Lightning callbacks, loggers and trainers from their config groups."""

from __future__ import annotations

from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf, open_dict


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every entry with a `_target_` of a callbacks/logger group; `null` entries are skipped."""
    if not cfg:
        return []
    return [instantiate(c) for c in cfg.values() if isinstance(c, DictConfig) and "_target_" in c]


class Trainers:
    """Every Trainer of a run, from the `trainer` and `callbacks` groups and the run's loggers: the black box's, a
    single-device one for validating it, and (called as a `TrainerFactory`) one per explainer that learns, with its
    own checkpoints folder and monitor. Each gets fresh callbacks (never shared between fits)."""

    def __init__(self, trainer: DictConfig, callbacks: DictConfig | None, loggers: list[Logger], output_dir: str,
                 subdir: str = "explainer_checkpoints") -> None:
        self.trainer_cfg, self.callbacks_cfg, self.loggers = trainer, callbacks, loggers
        self.output_dir, self.subdir = output_dir, subdir

    def build(self, callbacks_cfg: DictConfig | None = None, loggers: list[Logger] | None = None,
              **overrides: Any) -> L.Trainer:
        """A Trainer from the trainer config with `overrides` (Trainer kwargs the group need not list)."""
        trainer_cfg = self.trainer_cfg
        if overrides:
            trainer_cfg = self.trainer_cfg.copy()
            with open_dict(trainer_cfg):  # the group is a struct
                trainer_cfg = OmegaConf.merge(trainer_cfg, overrides)
        callbacks = instantiate_group(self.callbacks_cfg if callbacks_cfg is None else callbacks_cfg)
        lgs = self.loggers if loggers is None else loggers
        return instantiate(trainer_cfg, logger=lgs or False, callbacks=callbacks)

    def blackbox(self) -> L.Trainer:
        return self.build()

    def validator(self, trainer: L.Trainer) -> L.Trainer:
        """The Trainer that validates the trained black box: `trainer` itself, except under a spawn strategy, whose
        worker processes would start once more for it (one device suffices)."""
        if "spawn" not in str(self.trainer_cfg.get("strategy", "")):
            return trainer
        return self.build(OmegaConf.create({}), [], devices=1, num_nodes=1, strategy="auto",
                          enable_progress_bar=False)

    def __call__(self, *, max_epochs: int, monitor: str | None = "val/loss", mode: str = "min",
                 patience: int | None = None) -> L.Trainer:
        """A TrainerFactory for explainers that learn (explain.base.TrainerFactory)."""
        return self.build(explainer_callbacks(self.callbacks_cfg, f"{self.output_dir}/{self.subdir}", monitor, mode,
                                              patience), max_epochs=max_epochs)


def explainer_callbacks(callbacks: DictConfig | None, dirpath: str, monitor: str | None = "val/loss",
                        mode: str = "min", patience: int | None = None) -> DictConfig:
    """The run's callbacks re-pointed at `dirpath` and the explainer's own loss, for explainers that learn.

    Early stopping is the explainer's (`patience`), never the black box's: the run's `callbacks.early_stopping` is
    sized for the black box (patience 5 for resnet_tf, 20–60 for the transformer recipes), and inheriting it cut
    TimeX's reference schedule (100 epochs on LowVar) at epoch 18. `patience=None`: the full budget, the best epoch
    on `monitor` kept by the checkpoint. `monitor=None` (no validation data): the last checkpoint, no early stopping."""
    cb = OmegaConf.create(OmegaConf.to_container(callbacks, resolve=True) if callbacks else {})
    with open_dict(cb):
        if cb.get("model_checkpoint"):
            cb.model_checkpoint.dirpath = dirpath
            cb.model_checkpoint.monitor = monitor
            cb.model_checkpoint.mode = mode
        if monitor is None or patience is None:
            cb.early_stopping = None
        else:
            cb.early_stopping = {"_target_": "lightning.pytorch.callbacks.EarlyStopping", "monitor": monitor,
                                 "mode": mode, "patience": int(patience)}
    return cb


def log_hyperparameters(loggers: list[Logger], config: dict[str, Any], blackbox: L.LightningModule) -> None:
    """Send the run's composed config and the black box's parameter counts to every logger (as the
    lightning-hydra-template does), so a logged run says what it was."""
    n = sum(p.numel() for p in blackbox.parameters())
    trainable = sum(p.numel() for p in blackbox.parameters() if p.requires_grad)
    params = {**config, "model/params/total": n, "model/params/trainable": trainable}
    for lg in loggers:
        lg.log_hyperparams(params)
