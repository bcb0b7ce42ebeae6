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


def make_trainer(cfg: DictConfig, loggers: list[Logger], callbacks_cfg: DictConfig | None = None,
                 **overrides: Any) -> L.Trainer:
    """A Trainer from `cfg.trainer` with the run's loggers and fresh callbacks (never shared between fits)."""
    trainer_cfg = cfg.trainer
    if overrides:  # Trainer kwargs the config group need not list (open_dict: the group is a struct)
        trainer_cfg = cfg.trainer.copy()
        with open_dict(trainer_cfg):
            trainer_cfg = OmegaConf.merge(trainer_cfg, overrides)
    callbacks = instantiate_group(cfg.get("callbacks") if callbacks_cfg is None else callbacks_cfg)
    return instantiate(trainer_cfg, logger=loggers or False, callbacks=callbacks)


def explainer_callbacks(cfg: DictConfig, subdir: str, monitor: str | None = "val/loss",
                        mode: str = "min") -> DictConfig:
    """The run's callbacks re-pointed at `subdir` and the explainer's own loss, for explainers that learn.

    `monitor=None` (no validation data): keep the last checkpoint only, and no early stopping."""
    cb = OmegaConf.create(OmegaConf.to_container(cfg.get("callbacks") or {}, resolve=True))
    with open_dict(cb):
        if cb.get("model_checkpoint"):
            cb.model_checkpoint.dirpath = f"{cfg.paths.output_dir}/{subdir}"
            cb.model_checkpoint.monitor = monitor
            cb.model_checkpoint.mode = mode
        if cb.get("early_stopping"):
            if monitor is None:
                cb.early_stopping = None
            else:
                cb.early_stopping.monitor = monitor
                cb.early_stopping.mode = mode
    return cb
