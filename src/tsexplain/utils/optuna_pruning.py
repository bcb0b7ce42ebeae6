"""Lightning callback that reports a validation metric to the job's Optuna trial and stops it when pruned.

The tsexplain Optuna sweeper tells each job where its trial lives (storage URL, study, trial number) through
environment variables set by `hydra.job.env_set`; outside such a sweep the callback does nothing. Written here
rather than taken from optuna-integration because that callback needs the `optuna.Trial` object in the process,
which a Hydra launcher cannot pass to its jobs; the trial is found again from the study's storage instead.
"""

from __future__ import annotations

import json
import math
import os

import lightning as L
import optuna
from hydra.utils import instantiate

from hydra_plugins.tsexplain_optuna_sweeper.optuna_sweeper import ENV_PRUNER, ENV_STORAGE, ENV_STUDY, ENV_TRIAL
from tsexplain.models.blackbox import BlackBox


def trial_from_env() -> optuna.Trial | None:
    """The running sweep trial of this job, or None when the job is not an Optuna trial with a storage."""
    url, study_name, number = (os.environ.get(k) for k in (ENV_STORAGE, ENV_STUDY, ENV_TRIAL))
    if not (url and study_name and number):
        return None
    pruner = os.environ.get(ENV_PRUNER)
    study = optuna.load_study(study_name=study_name, storage=url,
                              pruner=instantiate(json.loads(pruner)) if pruner else None)
    trial_id = next((t._trial_id for t in study.get_trials(deepcopy=False) if t.number == int(number)), None)
    if trial_id is None:
        raise RuntimeError(f"Optuna trial {number} of study {study_name!r} is not in {url}; was the storage replaced "
                           "while the sweep ran?")
    return optuna.Trial(study, trial_id)


class OptunaPruning(L.Callback):
    """After each validation, report `monitor` at the epoch and raise `optuna.TrialPruned` if the pruner says so."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self._trial: optuna.Trial | None = None
        self._looked = False

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if not self._looked:
            self._trial, self._looked = trial_from_env(), True
        if self._trial is None:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None and not isinstance(pl_module, BlackBox):
            return  # an explainer's own training (TimeSAE) in the same job: the trial scores the black box
        if value is None:
            raise ValueError(f"OptunaPruning monitors {self.monitor!r}, which the model does not log; logged: "
                             f"{sorted(trainer.callback_metrics)}. Set callbacks.optuna_pruning.monitor to one of "
                             "them.")
        value = float(value)
        if not math.isfinite(value):
            return
        epoch = trainer.current_epoch
        self._trial.report(value, step=epoch)
        if self._trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}: {self.monitor}={value:.4g}")
