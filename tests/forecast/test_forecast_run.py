"""Forecasting through the run pipeline: train a forecaster, run the attention study, explain one forecast scalar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tsexplain.data.meta import DataMeta
from tsexplain.explain.captum_baselines import IntegratedGradients
from tsexplain.forecast.module import ForecastModule
from tsexplain.models.backbones.vitime import ViTimeForecaster
from tsexplain.pipeline import run
from tsexplain.tasks import Forecasting

TINY = ["experiment=harmonics_three", "dataset.n_train=32", "dataset.n_val=8", "dataset.n_test=8",
        "trainer.max_epochs=1", "study.n_perm=3", "study.untrained_control=false", "narrator=none",
        "evaluation.max_samples=4", "evaluation.sanity.enabled=false", "evaluation.reference_ig.max_samples=0"]


def test_a_forecasting_run_trains_studies_and_explains(make_cfg):
    cfg = make_cfg([*TINY, "explainer=integrated_gradients", "explainer.n_steps=4"], tiny=False)
    run(cfg)
    folder = Path(cfg.paths.output_dir)
    metrics = json.loads((folder / "metrics.json").read_text())
    m = metrics["metrics"]
    for key in ("test/mse", "test/mae", "test/mase", "test/naive_mse", "explain/del_drop20"):
        assert np.isfinite(m[key]), key
    study = json.loads((folder / "attention_study.json").read_text())
    assert study["primary"] == "three" and metrics["info"]["study"].endswith("attention_study.json")
    saliency = np.load(folder / "saliency.npz")
    assert saliency["saliency"].shape == (4, 1, 512) and (saliency["saliency"] >= 0).all()
    assert saliency["label"].shape == (4, 128)  # the forecast's true next values, kept beside the maps


def test_a_step_outside_the_horizon_fails_before_training(make_cfg):
    cfg = make_cfg([*TINY, "explainer=none", "model.explained_target=step", "model.explained_step=128"], tiny=False)
    with pytest.raises(Exception, match="step=128 is outside the horizon: valid steps are 0..127"):
        run(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_the_explained_scalar_decides_the_map():
    """IG of the mean of the horizon and of its last step are different maps of the same forecaster."""
    torch.manual_seed(0)
    meta = DataMeta(name="toy", task="regression", n_channels=1, seq_len=64, n_outputs=16)
    small = {"h": 8, "patch_size": (4, 4), "input_len": 32, "pred_len": 8, "embed_dim": 16, "depth": 1,
             "num_heads": 2, "decoder_embed_dim": 16, "decoder_depth": 1, "decoder_num_heads": 2,
             "blur_kernel": (3, 3)}
    model = ForecastModule(lambda **kw: ViTimeForecaster(**kw, **small), meta).eval()
    x = torch.linspace(-1, 1, 64)[None, None]
    maps = {}
    for target, step in (("mean", None), ("step", -1)):
        explained = Forecasting(meta, 16, target, step).explained_model(model)
        assert explained(torch.randn(3, 1, 64)).shape == (3, 1)
        maps[target] = IntegratedGradients(n_steps=8).fit(explained).attribute(x)
    assert (maps["mean"] > 0).any() and not torch.allclose(maps["mean"], maps["step"])
    with torch.no_grad():  # the default view: the mean of the horizon
        assert model.explained_model()(x).item() == pytest.approx(model(x).mean().item())


def test_the_users_own_series_from_npz_are_forecast(make_cfg, tmp_path):
    """dataset=npz with task=regression: y holds the next H values (channel-major), the forecaster reads H from it."""
    rng = np.random.default_rng(0)
    t = np.arange(64 + 16)
    series = np.stack([np.sin(2 * np.pi * (t + rng.integers(0, 16)) / 16) for _ in range(48)]).astype(np.float32)
    np.savez(tmp_path / "own.npz", x=series[:, None, :64], y=series[:, 64:])
    cfg = make_cfg(["dataset=npz", f"dataset.path={tmp_path / 'own.npz'}", "dataset.task=regression", "model=vitime",
                    "model.backbone.pred_len=128", "explainer=none"])  # conf/model_dataset/vitime_npz.yaml applies
    assert cfg.dataset.standardize is False and cfg.monitor.metric == "val/mse"
    assert run(cfg) == pytest.approx(json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
                                     ["metrics"]["test/mse"])
    m = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["metrics"]
    # a pure period-16 sine: the seasonal-naive forecast (season from the context's ACF) is nearly exact
    assert m["test/naive_mse"] < 1e-3 < m["test/mse"]
