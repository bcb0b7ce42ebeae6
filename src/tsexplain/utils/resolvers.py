"""OmegaConf resolvers the configs use; registered once, before Hydra composes."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf


def _wandb_offline() -> bool:
    """W&B runs offline unless the user asked otherwise through WANDB_MODE."""
    return os.environ.get("WANDB_MODE", "offline").lower() not in ("online", "run")


def wandb_group(task_name: str, mode: object = None, sweep_dir: str | None = None) -> str:
    """The W&B group of a run: `<task_name>/<multirun folder name>` for a job of a multirun (the folder's name is
    its launch time and pid, so two launches of one sweep are told apart), `<task_name>` for a single run."""
    if str(mode).endswith("MULTIRUN") and sweep_dir:
        return f"{task_name}/{Path(str(sweep_dir)).name}"
    return str(task_name)


def register_resolvers() -> None:
    """Register `tsx_pid` (unique run-folder suffix), `tsx_wandb_offline` and `tsx_wandb_group`; safe to call
    repeatedly."""
    if not OmegaConf.has_resolver("tsx_pid"):
        OmegaConf.register_new_resolver("tsx_pid", lambda: str(os.getpid()), use_cache=True)
    if not OmegaConf.has_resolver("tsx_wandb_offline"):
        OmegaConf.register_new_resolver("tsx_wandb_offline", _wandb_offline)
    if not OmegaConf.has_resolver("tsx_wandb_group"):
        OmegaConf.register_new_resolver("tsx_wandb_group", wandb_group)
