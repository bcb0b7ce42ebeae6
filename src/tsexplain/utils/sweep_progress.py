"""Progress of a sweep: a Hydra callback that says after each job how many jobs are done, how many are left and how
long the rest should take, and `planned_jobs`, how many jobs a sweep's config launches (the report uses it too).

Configured in `conf/hydra/default.yaml` (`hydra.callbacks.sweep_progress`); `TSX_PROGRESS=0` silences it
(`tsexplain.utils.progress`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from tsexplain.utils import progress

PROGRESS_DIR = ".progress"  # inside a sweep folder: plan.json and, per run of the sweep, one marker per ended job
PLAN = "plan.json"
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
log = logging.getLogger("tsexplain.sweep")


def duration(seconds: float) -> str:
    """A duration as people say it: `42 s`, `14 min`, `2 h 38 min`."""
    s = max(0.0, float(seconds))
    if s < 59.5:
        return f"{s:.0f} s"
    minutes = round(s / 60)
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m} min" if m else f"{h} h"


# -- what a sweep plans -----------------------------------------------------------------------------------------
def _sweeper_arguments(config: DictConfig) -> list[str]:
    """The overrides a sweeper sweeps: its `params`, then the command line's, assembled as both sweepers do."""
    params = config.hydra.sweeper.get("params") or {}
    params = OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) else dict(params)
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    return [f"{k}={v}" for k, v in params.items()] + [str(o) for o in task]


def _grid_size(arguments: Sequence[str]) -> int | None:
    """The points of an Optuna GridSampler over these overrides (our sweeper caps n_trials to it); None: no grid."""
    from optuna.distributions import CategoricalDistribution

    from hydra_plugins.tsexplain_optuna_sweeper.optuna_sweeper import search_space

    size = 1
    for d in search_space(arguments)[0].values():
        if isinstance(d, CategoricalDistribution):
            size *= len(d.choices)
        elif getattr(d, "step", None) is not None and not getattr(d, "log", False):
            size *= int(round((d.high - d.low) / d.step)) + 1
        else:
            return None  # continuous: the sweeper refuses it before any trial
    return size


def planned_jobs(config: DictConfig) -> int | None:
    """How many jobs the sweep of `config` (a multirun's config, e.g. its multirun.yaml) launches: for Hydra's basic
    sweeper the jobs of its own parse and split of the swept values; for an Optuna sweeper `n_trials` (capped by a
    grid sampler's size). None when it cannot be told."""
    sweeper = config.hydra.get("sweeper") or {}
    target = str(sweeper.get("_target_", ""))
    try:
        arguments = _sweeper_arguments(config)
        if target.endswith("BasicSweeper"):
            from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
            from hydra.core.override_parser.overrides_parser import OverridesParser

            overrides = OverridesParser.create().parse_overrides(arguments)
            return sum(len(batch) for batch in BasicSweeper.split_arguments(overrides, None))
        if sweeper.get("n_trials") is not None:
            n = int(sweeper.n_trials)
            grid = _grid_size(arguments) if str(sweeper.get("sampler", {}).get("_target_", "")).endswith(
                "GridSampler") else None
            return n if grid is None else min(n, grid)
    except Exception as err:  # noqa: BLE001 - a plan we cannot read only costs the "left" count
        log.debug("could not count the jobs of the sweep: %s", err)
    return None


def _optuna_done_before(config: DictConfig, sweep_dir: Path) -> int:
    """Trials of a resumed study that already count towards n_trials (0 for a new study or another sweeper)."""
    sweeper = config.hydra.sweeper
    if "tsexplain_optuna_sweeper" not in str(sweeper.get("_target_", "")):
        return 0
    storage = sweeper.get("storage")
    if storage in (None, "null", "memory"):
        return 0
    if str(storage) == "auto":
        db = sweep_dir / "optuna.db"
        if not db.is_file():
            return 0
        storage = f"sqlite:///{db.resolve()}"
    import optuna

    from hydra_plugins.tsexplain_optuna_sweeper.optuna_sweeper import OptunaSweeper

    try:
        study = optuna.load_study(study_name=sweeper.get("study_name") or "tsexplain", storage=str(storage))
    except KeyError:  # no such study yet
        return 0
    return OptunaSweeper._finished(study)


# -- the callback -----------------------------------------------------------------------------------------------
class SweepProgress(Callback):
    """After each job of a multirun, one log line such as
    `[sweep benchmark_synthetic] 12/144 jobs done (1 failed), 132 left, elapsed 14 min, ≈ 2 h 38 min left`.

    `on_multirun_start` runs in the sweep's process and records the plan (also in `<sweep>/.progress/plan.json`).
    Hydra hands this object to every job — the same object for the basic launcher, a pickled copy in each joblib
    worker or submitit job — so `on_job_end`, which runs where the job runs, counts the jobs ended from the marker
    files each job leaves in `<sweep>/.progress/<this run>/`, never from its own memory. Errors of its own never
    fail a job (logged at debug level).
    """

    def __init__(self) -> None:
        self.sweep_dir: str | None = None
        self.token = ""
        self.name = "sweep"
        self.total: int | None = None
        self.done_before = 0
        self.start = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            sweep_dir = Path(str(config.hydra.sweep.dir))
            self.start = time.time()
            self.name = str(config.get("task_name", "sweep"))
            self.token = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            self.total = planned_jobs(config)
            self.done_before = _optuna_done_before(config, sweep_dir)
            (sweep_dir / PROGRESS_DIR / self.token).mkdir(parents=True, exist_ok=True)
            plan = {"sweep": self.name, "jobs": self.total, "sweeper": str(config.hydra.sweeper.get("_target_")),
                    "launcher": str(config.hydra.launcher.get("_target_")), "started": self.start}
            tmp = sweep_dir / PROGRESS_DIR / f".{PLAN}.tmp"
            tmp.write_text(json.dumps(plan, indent=1) + "\n")
            os.replace(tmp, sweep_dir / PROGRESS_DIR / PLAN)
            self.sweep_dir = str(sweep_dir)
        except Exception as err:  # noqa: BLE001 - progress must never stop a sweep
            log.debug("sweep progress is off: %s", err)
            self.sweep_dir = None

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.sweep_dir is not None:
            progress.set_parallel_job(str(config.hydra.launcher.get("_target_", BASIC_LAUNCHER)) != BASIC_LAUNCHER)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if self.sweep_dir is None:
            return
        try:
            line = self._record(config, job_return)
            if progress.mode() != "off":
                log.info(line)
        except Exception as err:  # noqa: BLE001
            log.debug("sweep progress: %s", err)

    def _record(self, config: DictConfig, job_return: JobReturn) -> str:
        """Leave this job's marker and return the progress line counting every marker of this run."""
        status = "ok"
        if job_return.status != JobStatus.COMPLETED:
            status = "pruned" if type(job_return._return_value).__name__ == "TrialPruned" else "failed"
        folder = Path(self.sweep_dir) / PROGRESS_DIR / self.token
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{config.hydra.job.get('num', os.getpid())}.{status}").touch()
        ended = [p.suffix[1:] for p in folder.iterdir()]
        return self.line(len(ended), ended.count("failed"), ended.count("pruned"), time.time() - self.start)

    def line(self, done_now: int, failed: int, pruned: int, elapsed: float) -> str:
        """The line for `done_now` jobs ended in this run of the sweep, `failed` and `pruned` of them."""
        done = self.done_before + done_now
        issues = [f"{n} {what}" for n, what in ((failed, "failed"), (pruned, "pruned")) if n]
        issues += [f"{self.done_before} before this run"] if self.done_before else []
        extra = f" ({', '.join(issues)})" if issues else ""
        if self.total is None:
            return f"[sweep {self.name}] {done} jobs done{extra}, elapsed {duration(elapsed)}"
        left = max(0, self.total - done)
        eta = f", ≈ {duration(elapsed / done_now * left)} left" if left and done_now else ""
        return (f"[sweep {self.name}] {done}/{self.total} jobs done{extra}, {left} left, "
                f"elapsed {duration(elapsed)}{eta}")
