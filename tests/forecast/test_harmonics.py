"""Harmonic family: the study's two signals, the generic corpus, forecasting windows and the datamodule."""

from __future__ import annotations

import numpy as np
import pytest

from tsexplain.data.harmonics import HarmonicForecastDataModule, forecast_windows, generic_corpus, study_signal


def test_study_signals_are_the_papers_formulas():
    n = np.arange(512)
    three = study_signal("three").sample(512)
    two = study_signal("two").sample(512)
    assert np.allclose(three, np.sin(n / 10) + np.sin(n / 5 + 50) + np.cos(n + 50))
    assert np.allclose(two, np.sin(n / 5 + 50) + np.cos(n + 50))
    assert np.allclose(sorted(study_signal("three").periods), [2 * np.pi, 10 * np.pi, 20 * np.pi])
    with pytest.raises(ValueError, match="three"):
        study_signal("four")


def test_generic_corpus_is_seeded_and_random_in_period():
    a, sa = generic_corpus(8, 100, seed=1)
    b, _ = generic_corpus(8, 100, seed=1)
    c, _ = generic_corpus(8, 100, seed=2)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    periods = [p for s in sa for p in s.periods]
    assert len(set(np.round(periods, 3))) == len(periods) and min(periods) >= 4 and max(periods) <= 128


def test_forecast_windows_split_context_and_horizon():
    s = np.arange(20, dtype=np.float32)[None].repeat(2, 0)
    x, y = forecast_windows(s, 6, 4, stride=5)
    assert x.shape == (2 * 3, 1, 6) and y.shape == (6, 4)
    assert np.array_equal(x[0, 0], np.arange(6)) and np.array_equal(y[0], np.arange(6, 10))
    with pytest.raises(ValueError, match="shorter than"):
        forecast_windows(s, 18, 4)


def test_datamodule_batches_and_held_out_test():
    dm = HarmonicForecastDataModule(context_len=32, horizon=8, n_train=8, n_val=4, n_test=4, batch_size=4)
    b = next(iter(dm.train_dataloader()))
    assert b["x"].shape == (4, 1, 32) and b["y"].shape == (4, 8) and dm.meta.task == "regression"
    tr, te = dm.split_arrays("train")["x"], dm.split_arrays("test")["x"]
    assert not any(np.allclose(t, u) for t in te.numpy() for u in tr.numpy())
    with pytest.raises(ValueError, match="horizon"):
        HarmonicForecastDataModule(context_len=32, horizon=0)
