"""A Hydra sweeper that runs an Optuna study: ask a batch of trials, launch them as Hydra jobs, tell the results.

A study survives interruption: by default it lives in `optuna.db` in the sweep folder, trial folders are named by
trial number (a resumed or reused study never overwrites a folder), and running the same command again with the
same `hydra.sweep.dir` resumes it: trials that an interruption left behind (marked failed by the interrupted
sweep, or still RUNNING after a kill) are marked failed and asked again with the same parameters, and only the
trials still missing from `n_trials` run.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
from collections.abc import MutableSequence, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

STORAGE_FILE = "optuna.db"
# Environment variables through which a trial's job finds its trial (for pruning), set by hydra.job.env_set.
ENV_STORAGE, ENV_STUDY, ENV_TRIAL = "TSEXPLAIN_OPTUNA_STORAGE", "TSEXPLAIN_OPTUNA_STUDY", "TSEXPLAIN_OPTUNA_TRIAL"
# A study's pruner is not kept in its storage: the job rebuilds it from this JSON config.
ENV_PRUNER = "TSEXPLAIN_OPTUNA_PRUNER"
INTERRUPTED = "interrupted"  # user attribute of a trial an interruption stopped (asked again on resume)
RETRY_OF = "retry_of"


class SweepError(RuntimeError):
    """A study that cannot run or cannot be resumed as configured; the message names the fix."""


def distribution_from_override(override: Override) -> BaseDistribution | str:
    """The Optuna distribution of one `key=choice(...)|range(...)|interval(...)` override, or its fixed value."""
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value = override.value()
    encoded = list(override.sweep_iterator(transformer=Transformer.encode)) if not override.is_interval_sweep() \
        else []
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        return CategoricalDistribution(encoded)
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            # range's stop is exclusive, Optuna's high inclusive: the last value range() yields
            return FloatDistribution(float(value.start), float(encoded[-1]), step=float(value.step))
        return IntDistribution(int(value.start), int(value.stop) - 1, step=int(value.step))
    if override.is_interval_sweep():
        assert isinstance(value, IntervalSweep)
        # Hydra parses interval bounds as floats: an interval is continuous (integers: range(...), as before)
        return FloatDistribution(float(value.start), float(value.end), log="log" in value.tags)
    raise SweepError(f"{override.input_line!r}: the Optuna sweeper takes choice(...), range(...) or "
                     "interval(...) (tag(log, interval(...)) for a log scale) in hydra.sweeper.params.")


def search_space(arguments: Sequence[str]) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """Split overrides into Optuna distributions (swept keys) and fixed values (the rest)."""
    dists: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        value = distribution_from_override(override)
        key = override.get_key_element()
        if isinstance(value, BaseDistribution):
            dists[key] = value
            fixed.pop(key, None)
        else:
            fixed[key] = value
            dists.pop(key, None)
    return dists, fixed


def _quoted(value: str) -> str:
    """A string as a quoted Hydra override value (URLs and paths hold ':' and '/')."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OptunaSweeper(Sweeper):
    """Hydra's `hydra/sweeper=optuna` for Optuna >= 4 (see the package docstring for why it is ours)."""

    def __init__(self, sampler: Any, direction: Any, storage: Any, study_name: str | None, n_trials: int,
                 n_jobs: int, max_failure_rate: float, pruner: Any = None, params: DictConfig | None = None,
                 custom_search_space: str | None = None) -> None:
        if int(n_trials) < 1 or int(n_jobs) < 1:
            raise SweepError(f"hydra.sweeper.n_trials={n_trials} and n_jobs={n_jobs} must both be >= 1.")
        if not 0.0 <= float(max_failure_rate) <= 1.0:
            raise SweepError(f"hydra.sweeper.max_failure_rate={max_failure_rate} must be within [0, 1] "
                             "(1.0: failed trials never stop the search).")
        self.sampler = sampler
        self.directions = self._directions(direction)
        self.storage = storage
        self.study_name = study_name
        self.n_trials = int(n_trials)
        self.n_jobs = int(n_jobs)
        self.max_failure_rate = float(max_failure_rate)
        self.pruner = pruner
        self.params = params
        self.extend_space = (instantiate({"_target_": custom_search_space, "_partial_": True})
                             if custom_search_space else None)
        self.config: DictConfig | None = None
        self.launcher = None

    @staticmethod
    def _directions(direction: Any) -> list[str]:
        directions = list(direction) if isinstance(direction, MutableSequence | list | tuple) else [direction]
        out = [str(getattr(d, "name", d)).lower() for d in directions]
        bad = [d for d in out if d not in ("minimize", "maximize")]
        if bad:
            raise SweepError(f"hydra.sweeper.direction={direction!r}: use 'minimize' or 'maximize' (or a list of "
                             "them for several objectives).")
        return out

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    # -- the study -------------------------------------------------------------------------------------------
    def _storage_url(self) -> str | None:
        if self.storage in (None, "null", "memory"):
            return None
        if str(self.storage) == "auto":
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{(self.sweep_dir / STORAGE_FILE).resolve()}"
        return str(self.storage)

    def _open_study(self, url: str | None, sampler: Any) -> optuna.Study:
        storage: Any = url
        if url is not None and url.startswith("sqlite"):
            # parallel jobs write intermediate values: wait for the lock instead of failing at once
            storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
        pruner = instantiate(self.pruner) if isinstance(self.pruner, DictConfig | dict) else self.pruner
        return optuna.create_study(study_name=self.study_name or "tsexplain", storage=storage, sampler=sampler,
                                   pruner=pruner, directions=self.directions, load_if_exists=True)

    def _recover(self, study: optuna.Study) -> list[FrozenTrial]:
        """Fail trials a kill left RUNNING (this host, dead process); queue every interrupted trial again.

        RUNNING trials of other hosts or live processes (a study shared between machines) are left alone."""
        host = socket.gethostname()
        trials = study.get_trials(deepcopy=False)
        for t in trials:
            attrs = t.user_attrs
            if (t.state == TrialState.RUNNING and attrs.get("host") == host and "pid" in attrs
                    and not _pid_alive(int(attrs["pid"]))):
                study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED, "killed (left RUNNING)")
                study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
                self._mark_killed(Path(str(attrs.get("sweep_dir", self.sweep_dir))) / str(t.number))
        trials = study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get(RETRY_OF) for t in trials}
        queued = [t for t in trials if t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED)
                  and t.number not in retried]
        for t in queued:
            study.enqueue_trial(t.params, user_attrs={RETRY_OF: t.number})
        return queued

    @staticmethod
    def _mark_killed(folder: Path) -> None:
        """A killed trial's folder says so (a kill leaves no FAILED of its own); written atomically."""
        if not folder.is_dir() or (folder / "FAILED").exists() or (folder / "metrics.json").exists():
            return
        tmp = folder / ".FAILED.tmp"
        tmp.write_text("Killed: the sweep process died during this trial (SIGKILL, out of memory or power loss). "
                       "The resumed study marked it failed and asks its parameters again as a new trial.\n")
        os.replace(tmp, folder / "FAILED")

    @staticmethod
    def _finished(study: optuna.Study) -> int:
        """Trials that count towards n_trials: done, pruned, or failed on their own (not interrupted)."""
        return sum(1 for t in study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                   or (t.state == TrialState.FAIL and not t.user_attrs.get(INTERRUPTED)))

    # -- trials ---------------------------------------------------------------------------------------------
    def _overrides(self, study: optuna.Study, trial: optuna.Trial, dists: dict[str, BaseDistribution],
                   fixed: dict[str, str], url: str | None) -> tuple[str, ...]:
        if self.extend_space is not None:
            self.extend_space(self.config, trial)
        overlap = set(trial.params) & set(fixed)
        if overlap:
            raise SweepError(f"{sorted(overlap)} are both fixed and searched; give each key once.")
        folder = self.sweep_dir / str(trial.number)
        if folder.exists() and any(folder.iterdir()):
            raise SweepError(
                f"{folder} already holds a trial's results, but study {study.study_name!r} is about to run its trial "
                f"{trial.number} there (the study in this folder's storage is not the one that wrote it, e.g. "
                "storage=null or a different study_name). Use a new hydra.sweep.dir, or the storage and study_name "
                "that wrote this folder to resume it.")
        for key, value in (("host", socket.gethostname()), ("pid", os.getpid()),
                           ("sweep_dir", str(self.sweep_dir))):
            trial.set_user_attr(key, value)
        params = {**{k: v for k, v in trial.params.items()}, **fixed}
        out = [f"{k}={v}" for k, v in params.items()]
        out.append(f"hydra.sweep.subdir={trial.number}")
        if url is not None:  # the job can find its trial and the study's pruner (pruning callback)
            out += [f"++hydra.job.env_set.{ENV_STORAGE}={_quoted(url)}",
                    f"++hydra.job.env_set.{ENV_STUDY}={_quoted(study.study_name)}",
                    f"++hydra.job.env_set.{ENV_TRIAL}={trial.number}"]
            pruner = self.config.hydra.sweeper.get("pruner")  # its config: Hydra hands us the built object
            if pruner is not None:
                pruner = json.dumps(OmegaConf.to_container(pruner, resolve=True))
                out.append(f"++hydra.job.env_set.{ENV_PRUNER}={_quoted(pruner)}")
        trial.set_user_attr("overrides", [o for o in out if not o.startswith("++hydra.job.env_set")])
        return tuple(out)

    def _values(self, ret: JobReturn) -> list[float]:
        value = ret.return_value
        values = list(value) if isinstance(value, list | tuple) else [value]
        try:
            floats = [float(v) for v in values]
        except (TypeError, ValueError) as err:
            raise ValueError(f"the job returned {value!r}, not {len(self.directions)} number(s): set "
                             "optimized_metric to a key of metrics.json") from err
        if len(floats) != len(self.directions):
            raise ValueError(f"the job returned {len(floats)} values for {len(self.directions)} directions.")
        if any(f != f for f in floats):
            raise ValueError(f"the job returned NaN ({value!r}) for optimized_metric")
        return floats

    def _grid(self, sampler: Any, dists: dict[str, BaseDistribution]) -> Any:
        if not (isinstance(sampler, functools.partial) and sampler.func is optuna.samplers.GridSampler):
            return sampler
        grid = {}
        for name, d in dists.items():
            if isinstance(d, CategoricalDistribution):
                grid[name] = list(d.choices)
            elif isinstance(d, IntDistribution | FloatDistribution) and d.step is not None and not d.log:
                n = int(round((d.high - d.low) / d.step)) + 1
                grid[name] = [d.low + i * d.step for i in range(n)]
            else:
                raise SweepError(f"GridSampler needs discrete values; {name} is {d}: use choice(...) or range(...).")
        total = 1
        for v in grid.values():
            total *= len(v)
        self.n_trials = min(self.n_trials, total)
        return sampler(grid)

    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None and self.launcher is not None
        params = [f"{k}={v}" for k, v in (self.params or {}).items()]
        dists, fixed = search_space(params + list(arguments))
        sampler = self._grid(self.sampler, dists)
        url = self._storage_url()
        study = self._open_study(url, sampler)
        queued = self._recover(study)
        done = self._finished(study)
        log.info("Optuna study %r in %s: %d of %d trials done%s", study.study_name, url or "memory", done,
                 self.n_trials, f", {len(queued)} interrupted trial(s) asked again" if queued else "")
        if url is not None and str(self.storage) == "auto":
            log.info("If interrupted, resume with the same command and hydra.sweep.dir=%s", self.sweep_dir)
        to_go = self.n_trials - done
        while to_go > 0:
            batch = min(to_go, self.n_jobs)
            trials = [study.ask(fixed_distributions=dists) for _ in range(batch)]
            overrides = [self._overrides(study, t, dists, fixed, url) for t in trials]
            try:
                returns = self.launcher.launch(overrides, initial_job_idx=trials[0].number)
            except BaseException:  # an interruption (SIGTERM/Ctrl+C): record it, so a resume asks these again
                for t in trials:
                    study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED, "interrupted")
                    study.tell(t, state=TrialState.FAIL)
                raise
            failures = self._tell(study, trials, returns)
            if failures / len(returns) > self.max_failure_rate:
                log.error("%d of %d trials failed (max_failure_rate=%s)", failures, len(returns),
                          self.max_failure_rate)
                for ret in returns:
                    if ret.status == JobStatus.FAILED:
                        _ = ret.return_value  # raises the trial's own error, with its traceback
            to_go -= batch
        self._write_results(study)

    def _tell(self, study: optuna.Study, trials: list[optuna.Trial], returns: Sequence[JobReturn]) -> int:
        failures = 0
        for trial, ret in zip(trials, returns, strict=True):
            error = ret._return_value if ret.status == JobStatus.FAILED else None
            if isinstance(error, optuna.TrialPruned):
                study.tell(trial, state=TrialState.PRUNED)
                log.info("Trial %d pruned: %s", trial.number, error)
                continue
            try:
                values = self._values(ret)
            except BaseException as err:  # the job's own error (or a bad return value): recorded, the search goes on
                study._storage.set_trial_user_attr(trial._trial_id, "error", f"{type(err).__name__}: {err}"[:2000])
                study.tell(trial, state=TrialState.FAIL)
                log.warning("Failed experiment: trial %d (%s): %s", trial.number, self.sweep_dir / str(trial.number),
                            err)
                failures += 1
                continue
            study.tell(trial, values=values)
        return failures

    def _write_results(self, study: optuna.Study) -> None:
        completed = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        if not completed:
            raise SweepError(f"No trial of study {study.study_name!r} completed ({len(study.trials)} ran); each trial "
                             f"folder under {self.sweep_dir} holds FAILED with its error.")
        if len(self.directions) == 1:
            best = study.best_trial
            result: dict[str, Any] = {"name": "optuna", "best_params": best.params, "best_value": best.value,
                                      "best_trial": best.number}
            log.info("Best parameters: %s, value %s (trial %d)", best.params, best.value, best.number)
        else:
            result = {"name": "optuna",
                      "solutions": [{"params": t.params, "values": t.values, "trial": t.number}
                                    for t in study.best_trials]}
        counts = {s.name.lower(): sum(t.state == s for t in study.trials) for s in TrialState}
        result["trials"] = {k: v for k, v in counts.items() if v}
        path = self.sweep_dir / "optimization_results.yaml"
        tmp = path.with_name(f".{path.name}.tmp")
        OmegaConf.save(OmegaConf.create(result), tmp)
        os.replace(tmp, path)
