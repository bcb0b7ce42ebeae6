"""ETT as a forecasting set (dataset.forecast=true): OT's history in, its next H values out, one scale for both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from real_writers import write_ett

from tsexplain.data.real import ETTDataModule
from tsexplain.data.validate import DataValidationError
from tsexplain.pipeline import run


@pytest.fixture(scope="module")
def ett(tmp_path_factory) -> Path:
    return write_ett(tmp_path_factory.mktemp("ett"))


def test_windows_are_the_series_itself_and_targets_share_the_contexts_scale(ett: Path) -> None:
    raw = ETTDataModule(ett, seq_len=48, horizon=12, stride=24, forecast=True, standardize=False)
    meta = raw.meta
    assert (meta.n_channels, meta.seq_len, meta.n_outputs, meta.channel_names) == (1, 48, 12, ["OT"])
    ot = pd.read_csv(ett / "ETTh1.csv")["OT"].to_numpy(np.float32)
    tr = raw.split_arrays("train")
    x, y = tr["x"].numpy(), tr["y"].numpy()
    np.testing.assert_allclose(x[1, 0], ot[24:72], atol=1e-5)  # window 1 starts at stride 24
    np.testing.assert_allclose(y[1], ot[72:84], atol=1e-5)      # and its targets are the next 12 values
    std = ETTDataModule(ett, seq_len=48, horizon=12, stride=24, forecast=True, standardize=True)
    mean, sd = std.stats["mean"][0], std.stats["std"][0]
    np.testing.assert_allclose(std.split_arrays("train")["y"].numpy(), (y - mean) / sd, rtol=1e-4, atol=1e-4)
    test = raw.split_arrays("test")["x"].numpy()
    assert len(test) > 0 and np.isfinite(test).all()


def test_forecast_needs_a_horizon(ett: Path) -> None:
    with pytest.raises(DataValidationError, match="forecast=true needs horizon >= 1"):
        ETTDataModule(ett, horizon=0, include_target=False, forecast=True)


def test_vitime_forecasts_etth1_through_the_pipeline(make_cfg, ett: Path) -> None:
    cfg = make_cfg(["dataset=etth1", f"dataset.data_dir={ett}", "dataset.forecast=true", "dataset.seq_len=128",
                    "dataset.horizon=16", "dataset.stride=64", "model=vitime", "model.backbone.input_len=128",
                    "model.backbone.pred_len=32", "explainer=none", "monitor.metric=val/mse",
                    "optimized_metric=test/mse", "trainer.max_epochs=1"], tiny=False)
    run(cfg)
    m = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["metrics"]
    assert np.isfinite(m["test/mse"]) and np.isfinite(m["test/naive_mse"]) and m["test/naive_mse"] > 0
