"""Learning-rate schedules of the black box, chosen by `model/scheduler=<name>` (Hydra `_partial_` targets).

A schedule is called by `BlackBox.configure_optimizers` once the Trainer is attached, as
`schedule(optimizer, lr=..., epochs=..., total_steps=..., warmup_epochs=...)`, and returns Lightning's
`lr_scheduler` dict (or None for a constant rate). Every schedule ends at `trainer.max_epochs`, whether or not early
stopping ends training first.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch


class Schedule(Protocol):
    """What `model.scheduler` must be: a callable building the scheduler for one fit."""

    def __call__(self, optimizer: torch.optim.Optimizer, *, lr: float, epochs: int, total_steps: int,
                 warmup_epochs: float = 0.0) -> dict[str, Any] | None: ...


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """lr multiplier at optimiser step `step`: linear warm-up (1/w, 2/w, …, 1) over `warmup_steps`, then cosine
    from 1 to 0 at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    rest = max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup_steps) / rest)))


def constant(optimizer: torch.optim.Optimizer, *, lr: float, epochs: int, total_steps: int,
             warmup_epochs: float = 0.0) -> None:
    """No schedule: the optimiser's rate throughout."""
    return None


def cosine(optimizer: torch.optim.Optimizer, *, lr: float, epochs: int, total_steps: int,
           warmup_epochs: float = 0.0) -> dict[str, Any]:
    """Cosine annealing to 0 at `epochs`, per epoch; with `warmup_epochs > 0` per step, after a linear warm-up."""
    if not warmup_epochs:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        return {"scheduler": sched, "interval": "epoch"}
    w = max(1, round(warmup_epochs * total_steps / epochs))
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, w, total_steps))
    return {"scheduler": sched, "interval": "step"}


def one_cycle(optimizer: torch.optim.Optimizer, *, lr: float, epochs: int, total_steps: int,
              warmup_epochs: float = 0.0, pct_start: float = 0.3) -> dict[str, Any]:
    """torch's OneCycleLR peaking at `lr` after `warmup_epochs` (else after `pct_start` of training), per step.
    Its total steps are fixed when it is built: a resumed run must keep `trainer.max_epochs` (BlackBox checks)."""
    pct = min(0.99, warmup_epochs / epochs) if warmup_epochs else pct_start
    sched = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, pct_start=pct)
    return {"scheduler": sched, "interval": "step"}
