"""The progress helper: when a bar may show (TSX_PROGRESS, loop length, terminal, parallel jobs), that a shown bar
goes to stderr and leaves the loop's results alone, the sweep line's wording and how many jobs a sweep plans."""

from __future__ import annotations

import io
import math

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from tsexplain.utils import progress
from tsexplain.utils.compose import PROJECT_CONF
from tsexplain.utils.sweep_progress import SweepProgress, duration, planned_jobs


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    """Call it in the test (pytest's capture resets sys.stderr between a fixture and the test) to get a terminal."""
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.setattr(progress, "_in_parallel_job", False)

    def use() -> _Terminal:
        stream = _Terminal()
        monkeypatch.setattr("sys.stderr", stream)
        return stream

    return use


def test_auto_shows_bars_on_a_terminal_only(terminal, monkeypatch):
    terminal()
    assert progress.mode() == "auto"
    assert progress.bars_enabled(10)
    monkeypatch.setattr("sys.stderr", io.StringIO())  # a log file or a pipe
    assert not progress.bars_enabled(10)


@pytest.mark.parametrize("value, mode", [("0", "off"), ("false", "off"), ("1", "on"), ("TRUE", "on"), ("auto", "auto")])
def test_the_environment_variable_switches_bars(terminal, monkeypatch, value, mode):
    terminal()
    monkeypatch.setenv(progress.ENV, value)
    assert progress.mode() == mode
    assert progress.bars_enabled(10) is (mode != "off")
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress.bars_enabled(10) is (mode == "on")  # forced on even off a terminal


def test_an_unknown_value_warns_and_stays_auto(terminal, monkeypatch):
    monkeypatch.setenv(progress.ENV, "sometimes")
    with pytest.warns(UserWarning, match="TSX_PROGRESS"):
        assert progress.mode() == "auto"


def test_short_loops_and_parallel_jobs_get_no_bar(terminal, monkeypatch):
    terminal()
    assert not progress.bars_enabled(1)  # one batch: nothing to follow
    assert progress.bars_enabled(2) and progress.bars_enabled(None)  # unknown length: may be long
    assert not progress.bars_enabled(5, min_total=8)
    progress.set_parallel_job(True)  # several jobs share the terminal
    assert not progress.bars_enabled(10)
    monkeypatch.setenv(progress.ENV, "1")
    assert progress.bars_enabled(10)


def test_a_shown_bar_writes_to_stderr_and_yields_every_item(terminal, monkeypatch, capsys):
    stream = terminal()
    monkeypatch.setattr(progress, "DELAY_S", 0.0)  # show at once, not after 2 s
    assert list(progress.track(range(5), "counting", unit="step")) == [0, 1, 2, 3, 4]
    assert "counting" in stream.getvalue() and "/5 " in stream.getvalue()
    assert capsys.readouterr().out == ""  # nothing on stdout
    monkeypatch.setenv(progress.ENV, "0")
    stream = terminal()
    assert list(progress.track(iter("abc"), "quiet")) == ["a", "b", "c"]
    assert stream.getvalue() == ""


def test_bars_leave_the_numbers_alone(monkeypatch):
    """Attribution batches and T5 decoding give the same results with a bar forced on as with bars off."""
    from tsexplain.explain.captum_baselines import AmplitudeExplainer
    from tsexplain.narrate.t5 import T5Narrator

    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    torch.manual_seed(0)
    x = torch.randn(10, 2, 16)
    narr = T5Narrator(d_model=16, num_layers=1, num_heads=2, d_ff=32, max_new_tokens=12, accelerator="cpu",
                      seed=1)  # an untrained T5 whose greedy decoding of "x" is 12 bytes, not empty
    out = {}
    for value in ("0", "1"):
        monkeypatch.setenv(progress.ENV, value)
        out[value] = (AmplitudeExplainer(batch_size=3).attribute(x), narr.generate(["ch0 1-4 strongly up", "x"]))
    assert torch.equal(out["0"][0], out["1"][0])
    assert out["0"][1] == out["1"][1] and len(out["1"][1][1]) == 12


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (4, 59.4, 60, 14 * 60 + 10, 3600, 2 * 3600 + 38 * 60)] == \
        ["4 s", "59 s", "1 min", "14 min", "1 h", "2 h 38 min"]


def test_the_sweep_line_counts_jobs_failures_and_time_left():
    cb = SweepProgress()
    cb.name, cb.total = "benchmark_synthetic", 144
    assert cb.line(12, 1, 0, 14 * 60) == ("[sweep benchmark_synthetic] 12/144 jobs done (1 failed), 132 left, "
                                         "elapsed 14 min, ≈ 2 h 34 min left")
    assert cb.line(144, 0, 2, 3600).endswith("144/144 jobs done (2 pruned), 0 left, elapsed 1 h")
    cb.total, cb.done_before = 10, 4  # a resumed Optuna study: the rate counts this run's jobs only
    assert cb.line(2, 0, 0, 60) == "[sweep benchmark_synthetic] 6/10 jobs done (4 before this run), 4 left, " \
                                   "elapsed 1 min, ≈ 2 min left"
    cb.total, cb.done_before = None, 0
    assert cb.line(3, 0, 0, 5) == "[sweep benchmark_synthetic] 3 jobs done, elapsed 5 s"


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(PROJECT_CONF), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def test_planned_jobs_are_the_jobs_the_sweeper_launches():
    assert planned_jobs(_compose(["sweep=ablation_fusion"])) == 12  # 6 strategies × 2 alignments
    cfg = _compose(["sweep=benchmark_synthetic"])
    product = math.prod(len(str(v).split(",")) for v in cfg.hydra.sweeper.params.values())
    assert product > 100 and planned_jobs(cfg) == product  # datasets × models × seeds × explainer arms
    narrowed = _compose(["sweep=benchmark_synthetic", "dataset=freqshapes", "seed=0"])
    assert planned_jobs(narrowed) == product // 12  # a command-line value replaces the sweep's 4 datasets, 3 seeds
    cfg = _compose([])
    with open_dict(cfg):  # what `run.py -m seed=0,1,2 model=dlinear,lstm` leaves in hydra.overrides.task
        cfg.hydra.overrides.task = ["seed=0,1,2", "model=dlinear,lstm"]
    assert planned_jobs(cfg) == 6  # command-line sweeps count too
    cfg.hydra.overrides.task = ["seed=0,1,2", "model=dlinear,lstm", "dataset=glob(*)"]
    assert planned_jobs(cfg) is None  # a sweep it cannot parse without Hydra's config loader: no count, no error
    assert planned_jobs(_compose([])) == 1
    assert planned_jobs(_compose(["hparams_search=optuna_blackbox"])) == 10
    assert planned_jobs(_compose(["hparams_search=optuna_blackbox", "hydra.sweeper.n_trials=3"])) == 3
    grid = _compose(["hparams_search=optuna_blackbox", "hydra.sweeper.sampler._target_=optuna.samplers.GridSampler"])
    with open_dict(grid):
        grid.hydra.sweeper.params = {"model.lr": "choice(0.1, 0.01)", "seed": "range(0, 3)"}
    assert planned_jobs(grid) == 6  # the grid (2 × 3) caps n_trials=10
