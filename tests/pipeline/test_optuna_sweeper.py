"""tsexplain's Optuna sweeper: the search space it reads, and studies that survive kills, reuse and pruning.

The sweeps run the way a user runs them (`python run.py -m hparams_search=...`), tiny and on CPU.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.tsexplain_optuna_sweeper.optuna_sweeper import SweepError, distribution_from_override, search_space

ROOT = Path(__file__).resolve().parents[2]
SEARCH = ["-m", "hparams_search=optuna_blackbox", "model=resnet", "hydra.sweeper.sampler.n_startup_trials=1"]


def _cmd(args: list[str], tmp_path: Path, tiny: list[str], sweep: Path) -> list[str]:
    flags = [a for a in args if a.startswith("-")]
    rest = [a for a in args if a not in flags]
    return [sys.executable, str(ROOT / "run.py"), *flags, *tiny, *rest, f"hydra.sweep.dir={sweep}",
            f"paths.data_dir={tmp_path / 'data'}"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PROJECT_ROOT": str(tmp_path), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}


def _sweep(args: list[str], tmp_path: Path, tiny: list[str], sweep: Path) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(args, tmp_path, tiny, sweep), cwd=ROOT, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=300)


def _study(sweep: Path, name: str = "blackbox") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep / 'optuna.db'}")


# -- the search space: the same override grammar hydra-optuna-sweeper read ---------------------------------------

@pytest.mark.parametrize(("line", "expected"), [
    ("a=tag(log, interval(1e-4, 1e-2))", FloatDistribution(1e-4, 1e-2, log=True)),
    ("a=interval(0.0, 1.0)", FloatDistribution(0.0, 1.0)),
    ("a=interval(1, 8)", FloatDistribution(1.0, 8.0)),  # Hydra's interval is continuous; integers come from range
    ("a=tag(log, range(2, 65))", IntDistribution(2, 64)),  # a log tag on range has no meaning for Optuna either
    ("a=range(1, 10, 3)", IntDistribution(1, 9, step=3)),   # range's stop is exclusive: 1, 4, 7 … up to 9 allowed
    ("a=range(0.0, 1.0, 0.25)", FloatDistribution(0.0, 0.75, step=0.25)),
    ("a=choice(relu, gelu)", CategoricalDistribution(["relu", "gelu"])),
    ("a=choice(1, 2, 4)", CategoricalDistribution([1, 2, 4])),
])
def test_each_sweep_override_becomes_its_optuna_distribution(line, expected):
    override = OverridesParser.create().parse_overrides([line])[0]
    assert distribution_from_override(override) == expected


def test_fixed_values_are_kept_apart_and_a_later_override_wins():
    dists, fixed = search_space(["model.lr=interval(0.1, 0.2)", "seed=3", "model.lr=0.5", "x=choice(a,b)"])
    assert fixed == {"seed": "3", "model.lr": "0.5"}
    assert set(dists) == {"x"}


# -- studies run the way a user runs them --------------------------------------------------------------------------

def test_a_killed_study_resumes_asks_the_killed_trial_again_and_never_reuses_a_folder(tmp_path, tiny_overrides):
    sweep = tmp_path / "sweep"
    args = [*SEARCH, "hydra.sweeper.n_trials=2", "callbacks.early_stopping=null"]
    proc = subprocess.Popen(_cmd([*args, "trainer.max_epochs=500"], tmp_path, tiny_overrides, sweep), cwd=ROOT,
                            env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (sweep / "0" / "checkpoints" / "last.ckpt").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before it was killed"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)  # nothing of ours runs: the trial stays RUNNING in the storage
    proc.wait(timeout=60)
    assert _study(sweep).trials[0].state == TrialState.RUNNING

    resumed = _sweep([*args, "trainer.max_epochs=1"], tmp_path, tiny_overrides, sweep)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1 interrupted trial(s) asked again" in resumed.stderr + resumed.stdout
    trials = _study(sweep).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[0].user_attrs["interrupted"] and trials[1].user_attrs["retry_of"] == 0
    assert trials[1].params == trials[0].params  # the killed point is measured, not skipped
    assert (sweep / "0" / "FAILED").read_text().startswith("Killed: the sweep process died")
    assert all((sweep / str(n) / "metrics.json").is_file() for n in (1, 2))
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert result["trials"] == {"complete": 2, "fail": 1} and result["best_trial"] in (1, 2)

    again = _sweep([*args, "trainer.max_epochs=1"], tmp_path, tiny_overrides, sweep)  # n_trials already reached
    assert again.returncode == 0 and len(_study(sweep).trials) == 3
    assert "2 of 2 trials done" in again.stderr + again.stdout


def test_a_folder_written_by_another_study_is_refused_before_training(tmp_path, tiny_overrides):
    sweep = tmp_path / "sweep"
    args = [*SEARCH, "hydra.sweeper.n_trials=1", "hydra.sweeper.storage=null", "trainer.max_epochs=1"]
    assert _sweep(args, tmp_path, tiny_overrides, sweep).returncode == 0
    before = sorted(p.name for p in (sweep / "0").iterdir())
    proc = _sweep(args, tmp_path, tiny_overrides, sweep)  # in-memory study: trial numbers restart at 0
    assert proc.returncode != 0
    assert f"{sweep / '0'} already holds a trial's results" in proc.stderr and "new hydra.sweep.dir" in proc.stderr
    assert sorted(p.name for p in (sweep / "0").iterdir()) == before  # nothing of the first study overwritten


def test_a_pruned_trial_is_recorded_as_pruned_and_its_folder_says_why(tmp_path, tiny_overrides):
    sweep = tmp_path / "sweep"
    # val/f1 is never >= 1.1: the threshold pruner stops every trial after its first validation
    pruner = ["hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner", "+hydra.sweeper.pruner.lower=1.1",
              "~hydra.sweeper.pruner.n_startup_trials", "hydra.sweeper.pruner.n_warmup_steps=0"]
    proc = _sweep([*SEARCH, "hydra.sweeper.n_trials=1", "trainer.max_epochs=3", *pruner], tmp_path,
                  tiny_overrides, sweep)
    trial = _study(sweep).trials[0]
    assert trial.state == TrialState.PRUNED and list(trial.intermediate_values) == [0]
    assert "TrialPruned" in (sweep / "0" / "FAILED").read_text()
    assert not (sweep / "0" / "metrics.json").exists()
    assert proc.returncode != 0 and "No trial of study 'blackbox' completed" in proc.stderr


def test_a_wrong_direction_fails_before_any_trial():
    from hydra_plugins.tsexplain_optuna_sweeper.optuna_sweeper import OptunaSweeper

    # matched by name: Hydra's plugin scan may load the plugin module a second time (other class objects)
    with pytest.raises(RuntimeError, match="'minimize' or 'maximize'") as err:
        OptunaSweeper(sampler=None, direction="maximise", storage="auto", study_name="s", n_trials=2, n_jobs=1,
                      max_failure_rate=0.0)
    assert type(err.value).__name__ == SweepError.__name__
