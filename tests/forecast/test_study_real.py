"""The study's reading on a real series shipped inside aeon (half-hourly solar, a 48-sample day), no download."""

from __future__ import annotations

import pytest
import torch

from tsexplain.explain.attention.tokens import TokenLayout
from tsexplain.forecast.study import AttentionStudy, analyse_real
from tsexplain.models.backbones.vitime import ViTimeForecaster


def test_the_solar_series_is_read_in_its_own_samples_and_its_day_is_the_reference():
    torch.manual_seed(0)
    model = ViTimeForecaster(1, 512, 128)  # the default study size, untrained: the reading, not a finding
    res = analyse_real(model, "solar", n_perm=5)
    assert (res["n_samples"], res["resampled_to"]) == (289, 512)
    spp = TokenLayout.from_model(model).samples_per_patch  # samples per patch column at the resampled length
    assert res["samples_per_patch"] == pytest.approx(spp * 289 / 512)
    day = res["acf_matches"]["solar period (48 samples)"]
    assert day[0]["lag"] == 48 and day[0]["found"]  # the series' own autocorrelation finds its day
    assert 0 <= res["heads_finding_the_period"] <= res["n_heads"] and res["n_heads"] > 0


def test_an_unknown_real_series_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="real_series='wind' is unknown; use one of \\['solar'\\]"):
        AttentionStudy(real_series="wind")
