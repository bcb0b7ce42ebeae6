"""Forecast module, seasonal-naive baseline, MASE, and the explained-target wrapper under captum explainers."""

from __future__ import annotations

import functools

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn

from tsexplain.data.harmonics import HarmonicForecastDataModule
from tsexplain.data.meta import DataMeta
from tsexplain.explain.captum_baselines import IntegratedGradients, Occlusion
from tsexplain.forecast.baselines import estimate_season, naive_scale, seasonal_naive
from tsexplain.forecast.metrics import MeanAbsoluteScaledError
from tsexplain.forecast.module import ForecastModule
from tsexplain.forecast.target import ExplainedTarget
from tsexplain.models.backbones.vitime import ViTimeForecaster


class LinearForecaster(nn.Module):
    def __init__(self, in_channels: int, seq_len: int, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon
        self.lin = nn.Linear(seq_len, horizon)

    def forward(self, x):
        return self.lin(x)


def test_seasonal_naive_repeats_the_last_season_and_finds_it():
    t = torch.arange(60.0)
    x = torch.sin(2 * torch.pi * t / 10)[None, None]
    assert estimate_season(x[..., :50]).item() == 10
    pred = seasonal_naive(x[..., :50], 10)
    assert torch.allclose(pred, x[..., 50:], atol=1e-5)
    assert torch.equal(seasonal_naive(torch.arange(6.0)[None, None], 4, 3), torch.tensor([[[3.0, 4, 5, 3]]]))
    with pytest.raises(ValueError, match="season"):
        seasonal_naive(x[..., :50], 5, 80)


def test_mase_against_numpy():
    g = torch.Generator().manual_seed(0)
    ctx, tgt, pred = (torch.randn(3, 1, n, generator=g) for n in (20, 5, 5))
    m = MeanAbsoluteScaledError(season=2)
    m.update(pred, tgt, ctx)
    c = ctx.numpy()[:, 0]
    ref = np.mean([np.abs(pred.numpy()[i, 0] - tgt.numpy()[i, 0]).mean() / np.abs(c[i, 2:] - c[i, :-2]).mean()
                   for i in range(3)])
    assert m.compute().item() == pytest.approx(ref, rel=1e-5)
    assert torch.allclose(naive_scale(ctx, 2)[:, 0], torch.tensor(np.abs(c[:, 2:] - c[:, :-2]).mean(1)), atol=1e-6)


def test_forecast_module_trains_and_reports_naive_beside_model():
    dm = HarmonicForecastDataModule(context_len=32, horizon=8, n_train=128, n_val=16, n_test=32, batch_size=32)
    module = ForecastModule(LinearForecaster, dm.meta, lr=1e-2)
    tr = L.Trainer(max_epochs=15, accelerator="cpu", logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False)
    before = tr.test(module, dm, verbose=False)[0]
    tr.fit(module, dm)
    after = tr.test(module, dm, verbose=False)[0]
    assert {"test/mse", "test/mae", "test/mase", "test/naive_mse", "test/naive_mase"} <= set(after)
    assert after["test/mse"] < 0.5 * before["test/mse"]
    assert after["test/naive_mse"] == pytest.approx(before["test/naive_mse"])  # the baseline does not train


def test_forecast_module_refuses_classification_data():
    meta = DataMeta(name="c", task="multiclass", n_channels=1, seq_len=10, n_outputs=3)
    with pytest.raises(ValueError, match="regression"):
        ForecastModule(LinearForecaster, meta)


def test_explained_target_mean_step_and_bad_step():
    f = LinearForecaster(1, 16, 4)
    x = torch.randn(2, 1, 16)
    out = f(x)
    assert torch.allclose(ExplainedTarget(f)(x), out.mean((1, 2))[:, None])
    assert torch.allclose(ExplainedTarget(f, "step", step=2)(x), out[:, :, 2])
    with pytest.raises(ValueError, match=r"0\.\.3"):
        ExplainedTarget(f, "step", step=4)
    with pytest.raises(ValueError, match="mean"):
        ExplainedTarget(f, "median")


def test_integrated_gradients_on_vitime_forecast_depends_on_the_input():
    torch.manual_seed(0)
    meta = DataMeta(name="h", task="regression", n_channels=1, seq_len=64, n_outputs=8)
    tiny = dict(h=16, patch_size=(4, 8), input_len=32, pred_len=16, embed_dim=32, depth=1, num_heads=2,
                decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, blur_kernel=(3, 3))
    module = ForecastModule(functools.partial(ViTimeForecaster, **tiny), meta)
    target = ExplainedTarget(module, "step", step=-1)
    t = torch.arange(64.0)
    x = torch.stack([torch.sin(t / 3), torch.sign(torch.sin(t / 7))])[:, None] + 0.5
    ig = IntegratedGradients(n_steps=16).fit(target)
    a = ig.attribute(x)
    assert a.shape == x.shape and (a.sum((1, 2)) > 0).all()
    assert not torch.allclose(a[0] / a[0].sum(), a[1] / a[1].sum(), atol=1e-3)
    occ = Occlusion(width=8, stride=8).fit(target).attribute(x[:1])
    assert occ.shape == (1, 1, 64) and occ.sum() > 0
