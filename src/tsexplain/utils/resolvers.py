"""OmegaConf resolvers the configs use; registered once, before Hydra composes."""

from __future__ import annotations

import os

from omegaconf import OmegaConf


def _wandb_offline() -> bool:
    """W&B runs offline unless the user asked otherwise through WANDB_MODE."""
    return os.environ.get("WANDB_MODE", "offline").lower() not in ("online", "run")


def register_resolvers() -> None:
    """Register `tsx_pid` (unique run-folder suffix) and `tsx_wandb_offline`; safe to call repeatedly."""
    if not OmegaConf.has_resolver("tsx_pid"):
        OmegaConf.register_new_resolver("tsx_pid", lambda: str(os.getpid()), use_cache=True)
    if not OmegaConf.has_resolver("tsx_wandb_offline"):
        OmegaConf.register_new_resolver("tsx_wandb_offline", _wandb_offline)
