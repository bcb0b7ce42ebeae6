"""Token → time conversion, rollout, blocks, lag curves against the shuffled baseline, peaks, summaries, figures."""

from __future__ import annotations

import math

import pytest
import torch

from tsexplain.explain.attention.figures import plot_head, plot_lag_overview
from tsexplain.explain.attention.lags import (
    cross_head_correlation,
    head_summary,
    lag_curve,
    lag_profile,
    shuffled_baseline,
)
from tsexplain.explain.attention.tokens import TokenLayout, restrict_block, rollout_time, token_to_time
from tsexplain.models.backbones.vitime import ViTimeForecaster


def periodic_map(w: int, period: float, sharp: float = 4.0) -> torch.Tensor:
    """Row-stochastic causal attention peaking at lags that are multiples of `period`."""
    q, k = torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")
    lag = (q - k).float()
    a = torch.exp(sharp * torch.cos(2 * math.pi * lag / period)) * (lag >= 0)
    return a / a.sum(-1, keepdim=True)


def test_token_to_time_sums_keys_averages_queries_and_keeps_rows_stochastic():
    g = torch.Generator().manual_seed(0)
    layout = TokenLayout(grid=(3, 4), num_prefix_tokens=1)
    a = torch.rand(2, 13, 13, generator=g).softmax(-1)
    t = token_to_time(a, layout)
    a4 = a[:, 1:, 1:].reshape(2, 3, 4, 3, 4)
    assert torch.allclose(t, a4.sum(3).mean(1), atol=1e-6)
    assert torch.allclose(t.sum(-1), 1 - a[:, 1:, 0].reshape(2, 3, 4).mean(1), atol=1e-6)  # only CLS mass lost
    rows = token_to_time(a[:, :1], layout, queries="rows")
    assert rows.shape == (2, 1, 4)
    with pytest.raises(ValueError, match=r"grids \(gh, gw\) that divide 12"):
        token_to_time(a, TokenLayout(grid=(5, 3), num_prefix_tokens=1))
    with pytest.raises(ValueError, match="rows of interest"):
        token_to_time(a[:, :3], layout)


def test_vitime_layout_scales_patch_lags_by_patch_width_and_resampling():
    m = ViTimeForecaster(1, 512, 128)  # 512 samples → 256 columns, patch width 8 columns
    layout = TokenLayout.from_model(m)
    assert layout.grid == (4, 40) and layout.num_prefix_tokens == 1
    assert layout.samples_per_patch == pytest.approx(8 * 511 / 255) and layout.history_patches == 32
    a = torch.rand(40, 40)
    assert restrict_block(a, layout, "history×history").shape == (32, 32)
    assert restrict_block(a, layout, "forecastxhistory").shape == (8, 32)
    with pytest.raises(ValueError, match="no history/forecast split"):
        restrict_block(a, TokenLayout(grid=(1, 40)), "history×history")
    with pytest.raises(ValueError, match="unknown"):
        restrict_block(a, layout, "future")


def test_rollout_time_of_identity_layers_is_identity_and_needs_full_maps():
    layout = TokenLayout(grid=(2, 3), num_prefix_tokens=0)
    eye = torch.eye(6).expand(1, 2, 6, 6)
    r = rollout_time([eye, eye], layout)
    assert r.shape == (1, 3, 3) and torch.allclose(r[0], torch.eye(3), atol=1e-6)
    with pytest.raises(ValueError, match="full maps"):
        rollout_time([eye[:, :, :2]], layout)


def test_lag_curve_and_peaks_of_a_periodic_map_against_the_shuffled_baseline():
    a = periodic_map(40, 5)
    curve = lag_curve(a, 20)
    assert curve.argmax().item() in (0, 5)
    mean, std = shuffled_baseline(a, 20, n_perm=50)
    off = a[~torch.eye(40, dtype=torch.bool)].mean()
    assert torch.allclose(mean[1:], off.expand(20), rtol=0.35)  # shuffled lags ≈ the mean off-diagonal entry
    prof = lag_profile(a, samples_per_patch=16.0, max_lag=20, n_perm=50)
    assert [p.lag for p in prof.peaks][:3] == [5, 10, 15]
    assert prof.peaks[0].lag_samples == pytest.approx(80.0) and prof.peaks[0].z > 2
    flat = torch.full((40, 40), 1 / 40)
    assert lag_profile(flat, max_lag=20, n_perm=20).peaks == []
    with pytest.raises(ValueError, match="max_lag"):
        lag_curve(a, 40)


def test_head_summary_tells_periodic_local_and_forecast_heads_and_correlation():
    local = torch.eye(20) * 0.9 + 0.1 / 20
    periodic = periodic_map(20, 4)
    fc = torch.zeros(20, 20)
    fc[:, 15:] = 1 / 5
    rows = head_summary({"L0": torch.stack([local, periodic, fc])}, 2.0, history_patches=15, max_lag=10, n_perm=30)
    assert [r["local"] for r in rows] == [True, False, False]
    assert rows[1]["periodic"] and rows[1]["peaks_samples"][0] == pytest.approx(8.0)
    assert [r["forecast_attending"] for r in rows] == [False, False, True]
    curves = torch.stack([lag_curve(periodic, 10), lag_curve(periodic, 10) * 2, lag_curve(local, 10)])
    c = cross_head_correlation(curves)
    assert c[0, 1] == pytest.approx(1.0, abs=1e-5) and c[0, 2] < 0.9


def test_figures_are_written(tmp_path):
    a = periodic_map(24, 6)
    prof = lag_profile(a, 16.0, 12, n_perm=20)
    p = plot_head(a, prof, tmp_path / "h.png", "test", gamma=0.5, true_periods=[96.0])
    q = plot_lag_overview(torch.randn(3, 13), ["a", "b", "c"], 16.0, tmp_path / "o.png")
    assert p.stat().st_size > 5000 and q.stat().st_size > 3000
    with pytest.raises(ValueError, match="gamma"):
        plot_head(a, prof, tmp_path / "x.png", gamma=0)
    with pytest.raises(ValueError, match="labels"):
        plot_lag_overview(torch.randn(3, 13), ["a"], 16.0, tmp_path / "y.png")
