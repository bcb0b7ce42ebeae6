"""End-to-end runs through `pipeline.run` on tiny data: results, determinism, checkpoints, DDP, loggers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import ConfigCompositionException

from tsexplain.pipeline import run


def _metrics(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


BB = ["explainer=none", "model=transformer", "dataset=freqshapes", "dataset.n_train=256", "dataset.batch_size=64",
      "trainer.max_epochs=2"]


def test_end_to_end_writes_sane_metrics(make_cfg):
    cfg = make_cfg(BB)
    value = run(cfg)
    out = _metrics(cfg)
    m = out["metrics"]
    assert value == pytest.approx(m["test/f1"])
    for key in ("test/acc", "test/f1", "test/auroc"):
        assert 0.0 <= m[key] <= 1.0
    folder = Path(cfg.paths.output_dir)
    assert Path(out["info"]["best_checkpoint"]).is_file()
    assert (folder / "csv" / "metrics.csv").is_file()
    assert not (folder / "FAILED").exists()


def test_same_seed_same_metrics_on_cpu(make_cfg):
    first = make_cfg(BB + ["seed=3"], name="a")
    run(first)
    second = make_cfg(BB + ["seed=3"], name="b")
    run(second)
    assert _metrics(first)["metrics"] == _metrics(second)["metrics"]
    third = make_cfg(BB + ["seed=4"], name="c")
    run(third)
    assert _metrics(third)["metrics"] != _metrics(first)["metrics"]


def test_ckpt_path_skips_training_and_reproduces_test_metrics(make_cfg):
    cfg = make_cfg(BB, name="train")
    run(cfg)
    best = _metrics(cfg)["info"]["best_checkpoint"]
    reuse = make_cfg(BB + [f"model.ckpt_path={best}"], name="reuse")
    run(reuse)
    got = _metrics(reuse)
    assert "best_checkpoint" not in got["info"]  # nothing was trained
    assert got["metrics"]["test/acc"] == pytest.approx(_metrics(cfg)["metrics"]["test/acc"])


def test_resume_from_checkpoint_continues_training(make_cfg):
    cfg = make_cfg(BB + ["trainer.max_epochs=1", "callbacks.early_stopping=null"], name="first")
    run(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    resumed = make_cfg(BB + ["trainer.max_epochs=3", f"resume_from={last}", "callbacks.early_stopping=null"],
                       name="resumed")
    run(resumed)
    state = torch.load(Path(resumed.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["epoch"] == 2  # epochs 1 and 2 ran on top of the resumed epoch 0


# ddp_spawn workers on CPU/gloo now and then abort at interpreter exit ("terminate called without an active
# exception") after their work is done; rerun only on that crash, never on a failed assertion.
DDP_FLAKE = pytest.mark.flaky(reruns=2, only_rerun=["ProcessExitedException"])


@DDP_FLAKE
def test_ddp_sim_two_processes(make_cfg):
    cfg = make_cfg(BB + ["trainer=ddp_sim", "trainer.max_epochs=1", "callbacks.rich_progress_bar=null"])
    run(cfg)
    m = _metrics(cfg)["metrics"]
    assert 0.0 <= m["test/acc"] <= 1.0
    assert 0.0 <= m["val/f1"] <= 1.0  # the kept model's validation scores, computed in-process


def test_wandb_offline_one_run_per_job_and_finished(make_cfg, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_cfg(BB + ["logger=wandb", "trainer.max_epochs=1"])
    run(cfg)
    runs = list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert wandb.run is None  # finished


def test_wandb_finished_even_when_job_fails(make_cfg, monkeypatch, tmp_path):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_cfg(["logger=wandb", "dataset=npz", f"dataset.path={tmp_path / 'missing.npz'}", "explainer=none"])
    with pytest.raises(Exception, match="missing.npz"):
        run(cfg)
    assert wandb.run is None
    folder = Path(cfg.paths.output_dir)
    assert (folder / "FAILED").is_file()
    assert not (folder / "metrics.json").exists()


def _write_npz(path: Path, **overrides) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"x": rng.normal(size=(60, 2, 24)).astype(np.float32), "y": np.arange(60) % 3}
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"x": np.full((60, 2, 24), np.nan, dtype=np.float32)}, "NaN"),
        ({"x": np.zeros((60, 24), dtype=np.float32)}, "rank|\\(N, C, T\\)"),
        ({"y": np.arange(60) % 3 + 5}, "label"),
        ({"mask": np.zeros((60, 1, 24), dtype=bool)}, "mask"),
    ],
)
def test_bad_input_fails_before_training_without_complete_folder(make_cfg, tmp_path, overrides, match):
    path = _write_npz(tmp_path / "bad.npz", **overrides)
    cfg = make_cfg(["dataset=npz", f"dataset.path={path}", "explainer=none"])
    with pytest.raises(ValueError, match=match):
        run(cfg)
    folder = Path(cfg.paths.output_dir)
    assert not (folder / "metrics.json").exists()
    assert not (folder / "checkpoints").exists()  # failed before training started
    assert (folder / "FAILED").is_file()


def test_npz_user_data_trains(make_cfg, tmp_path):
    rng = np.random.default_rng(1)
    y = np.arange(90) % 3
    x = rng.normal(size=(90, 2, 24)).astype(np.float32)
    x[:, 0, :] += y[:, None] * 2.0  # learnable
    path = _write_npz(tmp_path / "ok.npz", x=x, y=y, channel_names=np.array(["a", "b"]))
    cfg = make_cfg(["dataset=npz", f"dataset.path={path}", "explainer=none", "model=resnet",
                    "trainer.max_epochs=3"])
    run(cfg)
    assert _metrics(cfg)["metrics"]["test/acc"] > 0.5


def test_unknown_config_option_is_named(make_cfg):
    with pytest.raises(ConfigCompositionException, match="nonexistent_model"):
        make_cfg(["model=nonexistent_model"])
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        make_cfg(["model.no_such_key=1"])


def test_test_metric_without_test_stage_fails_before_training(make_cfg):
    cfg = make_cfg(BB + ["test=false"])  # optimized_metric=test/f1 by default
    with pytest.raises(ValueError, match="optimized_metric=test/f1 needs the test stage"):
        run(cfg)
    folder = Path(cfg.paths.output_dir)
    assert (folder / "FAILED").is_file() and not (folder / "checkpoints").exists()
    ok = make_cfg(BB + ["test=false", "optimized_metric=val/f1"], name="val")
    assert run(ok) == pytest.approx(_metrics(ok)["metrics"]["val/f1"])
    assert not any(k.startswith("test/") for k in _metrics(ok)["metrics"])
