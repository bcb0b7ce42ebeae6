"""A sweep says after each job how many jobs are done and left — with the basic launcher (jobs in the sweep's
process), joblib (worker processes: a counter kept in memory would say 1/2 twice) and the Optuna sweeper
(resumed: earlier trials count) — and the report of an incomplete sweep says how many jobs finished, failed and
are missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tsexplain.report.build import build
from tsexplain.report.render import to_markdown

pytestmark = pytest.mark.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]
# the cheapest real jobs: a DLinear trained one epoch on tiny data, no explainer; dataset.split=9 fails at once
JOB = ["model=dlinear", "explainer=none", "narrator=none", "evaluation.sanity.enabled=false", "n_figures=0",
       "task_name=progress_test"]


def _run(args: list[str], root: Path, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TSX_PROGRESS"}  # the caller's setting must not leak in
    env.update(PROJECT_ROOT=str(root), WANDB_MODE="offline", OMP_NUM_THREADS="1", **extra)
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "-m", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    return proc.stdout + proc.stderr


def _lines(out: str) -> list[str]:
    """The sweep lines without their elapsed / left times (those depend on the machine)."""
    return [re.sub(r", elapsed .*", "", m) for m in re.findall(r"\[sweep progress_test\] [^\n]*", out)]


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory, tiny_overrides) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("basic")
    out = _run([*tiny_overrides, *JOB, "dataset.split=0,1,9"], root)
    (sweep,) = (root / "logs" / "progress_test" / "multiruns").iterdir()
    return sweep, out


def test_the_basic_launcher_counts_each_job_and_its_failure(basic_sweep):
    sweep, out = basic_sweep
    assert _lines(out) == ["[sweep progress_test] 1/3 jobs done, 2 left",
                           "[sweep progress_test] 2/3 jobs done, 1 left",
                           "[sweep progress_test] 3/3 jobs done (1 failed), 0 left"], out[-3000:]
    assert re.search(r"1/3 jobs done, 2 left, elapsed \d+ (s|min), ≈ \d+ (s|min) left", out)
    assert "progress_test] 2/3" in (sweep / "1" / "progress_test.log").read_text()  # the job's log has it too


def test_the_report_of_an_incomplete_sweep_counts_finished_failed_and_missing(basic_sweep, tmp_path):
    sweep, _ = basic_sweep
    report = build(sweep, with_figures=False)  # the sweep's plan (.progress/plan.json): 3 jobs, the third failed
    assert "2 of 3 jobs of the sweep finished, 1 failed, 0 missing" in to_markdown(report)
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    shutil.rmtree(copy / "1")  # a job that never ran
    shutil.rmtree(copy / ".progress")  # a sweep from before the callback: its multirun.yaml tells the plan
    report = build(copy, with_figures=False)
    assert report.n_runs == 1
    assert "1 of 3 jobs of the sweep finished, 1 failed, 1 missing" in to_markdown(report)
    shutil.rmtree(copy / "2")
    shutil.copytree(sweep / "0", copy / "1")
    shutil.copytree(sweep / "0", copy / "2")
    assert not any("jobs of the sweep" in n for n in build(copy, with_figures=False).notes)  # complete: no note


def test_joblib_workers_count_jobs_ended_in_other_processes(tmp_path, tiny_overrides):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    out = _run([*tiny_overrides, *JOB, "dataset.split=0,1", "hydra/launcher=joblib"], tmp_path)
    assert sorted(_lines(out)) == ["[sweep progress_test] 1/2 jobs done, 1 left",
                                   "[sweep progress_test] 2/2 jobs done, 0 left"], out[-3000:]


def test_a_resumed_optuna_study_counts_its_earlier_trials(tmp_path, tiny_overrides):
    args = [*tiny_overrides, *JOB, "hparams_search=optuna_blackbox",
            "hydra.sweeper.sampler.n_startup_trials=1", f"hydra.sweep.dir={tmp_path / 'study'}"]
    out = _run([*args, "hydra.sweeper.n_trials=1"], tmp_path)
    assert _lines(out) == ["[sweep progress_test] 1/1 jobs done, 0 left"], out[-3000:]
    out = _run([*args, "hydra.sweeper.n_trials=2"], tmp_path)
    assert _lines(out) == ["[sweep progress_test] 2/2 jobs done (1 before this run), 0 left"], out[-3000:]


def test_tsx_progress_0_silences_the_sweep_lines(tmp_path, tiny_overrides):
    out = _run([*tiny_overrides, *JOB, "dataset.split=9"], tmp_path, TSX_PROGRESS="0")
    assert "Error executing job" in out  # the job did run (and fail)
    assert _lines(out) == []
