# ruff: noqa: UP045
"""Structured config of the sweeper, registered as `hydra/sweeper=optuna` (the schema hydra-optuna-sweeper used)."""

# No `from __future__ import annotations`: Hydra loads plugin modules outside sys.modules, where dataclasses
# cannot resolve string annotations; and OmegaConf needs Optional[...] rather than `X | None`.
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class TPESamplerConfig:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None
    n_startup_trials: int = 10
    multivariate: bool = False


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.tsexplain_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    sampler: Any = field(default_factory=TPESamplerConfig)
    # "minimize" | "maximize", or a list of them for a multi-objective study
    direction: Any = "minimize"
    # "auto": sqlite file optuna.db in the sweep folder (survives a kill; the study resumes when the same sweep
    # folder is used again); null: in memory (nothing survives); any SQLAlchemy URL: a shared study.
    storage: Any = "auto"
    study_name: Optional[str] = None
    n_trials: int = 20
    n_jobs: int = 2
    # Share of failed trials in one batch above which the sweep stops with the trials' errors (1.0: never).
    max_failure_rate: float = 0.0
    # Optuna pruner (e.g. {_target_: optuna.pruners.MedianPruner}); pruning needs the trial's storage to be a
    # database (storage auto or a URL) and the OptunaPruning callback in the job.
    pruner: Any = None
    params: Optional[dict[str, str]] = None
    custom_search_space: Optional[str] = None


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf,
                             provider="tsexplain_optuna_sweeper")
