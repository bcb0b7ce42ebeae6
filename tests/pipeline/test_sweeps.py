"""Multirun sweeps and Optuna searches, run the way a user runs them: `python run.py -m ...`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from tsexplain.utils.compose import PROJECT_CONF

pytestmark = pytest.mark.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]
CONF = PROJECT_CONF


def _run(args: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROJECT_ROOT": str(root), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def test_optuna_search_runs_trials_and_reports_the_best(tmp_path, tiny_overrides):
    proc = _run(["-m", "hparams_search=optuna_blackbox", "hydra.sweeper.n_trials=2",
                 "hydra.sweeper.sampler.n_startup_trials=1", "model=transformer", *tiny_overrides], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweeps = list((tmp_path / "logs" / "optuna_blackbox" / "multiruns").iterdir())
    assert len(sweeps) == 1
    result = yaml.safe_load((sweeps[0] / "optimization_results.yaml").read_text())
    assert set(result["best_params"]) == {"model.lr", "model.weight_decay"}
    trials = [json.loads((d / "metrics.json").read_text())["metrics"] for d in sorted(sweeps[0].iterdir())
              if (d / "metrics.json").is_file()]
    assert len(trials) == 2
    # the search optimises the kept checkpoint's validation F1, never a test score
    assert result["best_value"] == pytest.approx(max(t["val/f1"] for t in trials))


def test_sweep_files_are_a_config_group():
    cfg = _compose(["sweep=ablation_fusion"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert set(cfg.hydra.sweeper.params) == {"explainer/fusion_strategy", "explainer.align"}
    for name in cfg.hydra.sweeper.params["explainer/fusion_strategy"].split(","):  # each job's override composes
        job = _compose(["sweep=ablation_fusion", f"explainer/fusion_strategy={name}"])
        assert job.explainer.fusion_strategy._target_.rsplit(".", 1)[1].lower() == name
    cfg = _compose(["sweep=benchmark_blackbox"])
    assert cfg.hydra.sweeper.params.seed == "0,1,2"
    assert not cfg.explainer  # black boxes only: explainer=none


def test_optuna_timesae_searches_explainer_weights_on_validation_loss():
    cfg = _compose(["hparams_search=optuna_timesae"])
    assert cfg.optimized_metric == "explain/val_loss" and cfg.hydra.sweeper.direction == "minimize"
    assert all(k.startswith("explainer.module.") for k in cfg.hydra.sweeper.params)
    assert cfg.explainer._target_.endswith("TimeSAEExplainer")
