"""ETT (Electricity Transformer Temperature, zhouhaoyi/ETDataset): `ETTh1/ETTh2` hourly, `ETTm1/ETTm2` 15-minute CSVs.

Windows of `seq_len` steps of the six loads (and `OT`'s own history unless `include_target=false`) → regression of
the oil temperature `OT` `horizon` steps after the window; with `forecast=true` the univariate forecasting setting
("S" in Informer's terms): x = OT's last `seq_len` values, y = its next `horizon` values (standardised with x's
statistics, so context and targets share one scale), for a forecaster such as `model=vitime`.
The split is the standard one of Informer and the Time-Series-Library (`Dataset_ETT_hour`/`_minute`): 12/4/4 months
of 30 days from the start of the file, val and test inputs reaching `seq_len` steps back into the block before so
their first target is the block's first step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tsexplain.data import validate
from tsexplain.data.meta import DataMeta
from tsexplain.data.real.base import NAN_POLICIES, RealDataModule, check_choice
from tsexplain.data.real.tabular import block_windows, read_csv

NAMES = ("ETTh1", "ETTh2", "ETTm1", "ETTm2")
COLUMNS = ("date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
DESCRIPTIONS = {"HUFL": "high useful load", "HULL": "high useless load", "MUFL": "middle useful load",
                "MULL": "middle useless load", "LUFL": "low useful load", "LULL": "low useless load",
                "OT": "oil temperature"}
UNITS = {c: "°C" if c == "OT" else "load (as published)" for c in COLUMNS[1:]}


class ETTDataModule(RealDataModule):
    """Oil-temperature regression on ETT windows with the standard 12/4/4-month split."""

    NAME = "ett"
    URL = "https://github.com/zhouhaoyi/ETDataset (folder ETT-small/)"
    LAYOUT = """\
<data_dir>/                      the ETT-small/ folder
    ETTh1.csv, ETTh2.csv         hourly, header: date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT (17,420 rows)
    ETTm1.csv, ETTm2.csv         15-minute, same header (69,680 rows)"""
    VERSION = 1

    def __init__(
        self,
        data_dir: str | Path | None,
        name: str = "ETTh1",
        seq_len: int = 96,
        horizon: int = 1,
        stride: int = 1,
        include_target: bool = True,
        forecast: bool = False,
        split_months: Sequence[float] = (12, 4, 4),
        nan_policy: str = "fail",
        cache_dir: str | Path | None = None,
        seed: int = 0,
        max_bad_fraction: float = 0.05,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        standardize: bool = True,
    ) -> None:
        super().__init__(data_dir, cache_dir, seed, max_bad_fraction, batch_size, num_workers, pin_memory,
                         standardize)
        self.name = check_choice("dataset.name", name, NAMES)
        self.seq_len, self.horizon, self.stride = int(seq_len), int(horizon), int(stride)
        if self.seq_len < 1 or self.stride < 1 or self.horizon < 0:
            raise validate.DataValidationError(
                f"dataset.seq_len={seq_len}, stride={stride} must be >= 1 and horizon={horizon} >= 0.")
        self.include_target = bool(include_target)
        self.forecast = self.standardize_targets = bool(forecast)
        if self.forecast and self.horizon < 1:
            raise validate.DataValidationError(f"dataset.forecast=true needs horizon >= 1 (the values to forecast), "
                                               f"got {horizon}.")
        if self.include_target and self.horizon == 0:
            raise validate.DataValidationError(
                "dataset.horizon=0 with include_target=true asks the model for OT's value it is given as input; "
                "use horizon >= 1, or include_target=false to estimate OT from the loads.")
        self.split_months = [float(m) for m in split_months]
        if len(self.split_months) != 3 or min(self.split_months) <= 0:
            raise validate.DataValidationError(
                f"dataset.split_months={list(split_months)} must be three positive month counts (standard: 12, 4, 4).")
        self.nan_policy = check_choice("dataset.nan_policy", nan_policy, NAN_POLICIES)
        self.NAME = self.name.lower()

    @property
    def step_s(self) -> float:
        return 3600.0 if self.name.startswith("ETTh") else 900.0

    @property
    def features(self) -> list[str]:
        if self.forecast:
            return ["OT"]
        return [c for c in COLUMNS[1:] if self.include_target or c != "OT"]

    def source_files(self) -> list[Path]:
        return self.require(f"{self.name}.csv")

    def options(self) -> dict[str, Any]:
        return {"name": self.name, "seq_len": self.seq_len, "horizon": self.horizon, "stride": self.stride,
                "include_target": self.include_target, "forecast": self.forecast, "split_months": self.split_months,
                "nan_policy": self.nan_policy}

    def parse(self) -> dict[str, np.ndarray]:
        path = self.source_files()[0]
        frame = read_csv(path, COLUMNS, "date", self.NAME)
        per_month = int(30 * 24 * 3600 / self.step_s)
        ends = np.cumsum([int(round(m * per_month)) for m in self.split_months])
        if ends[-1] > len(frame):
            raise validate.DataValidationError(
                f"{self.NAME}: {path} has {len(frame)} rows but dataset.split_months={self.split_months} needs "
                f"{ends[-1]} ({per_month} rows a month); use the complete published file or smaller split_months.")
        blocks = [(0, int(ends[0])), (int(ends[0]) - self.seq_len, int(ends[1])),
                  (int(ends[1]) - self.seq_len, int(ends[2]))]
        if self.forecast:  # windows of seq_len + horizon OT values: the first seq_len in, the rest to forecast
            out = block_windows(frame[["OT"]].to_numpy(np.float64), frame["OT"].to_numpy(np.float64), blocks,
                                self.seq_len + self.horizon, 0, self.stride, self.nan_policy, ["OT"], str(path))
            for split in ("train", "val", "test"):
                w = out[f"{split}_x"]
                out[f"{split}_x"], out[f"{split}_y"] = w[:, :, : self.seq_len], w[:, 0, self.seq_len:].copy()
            return out
        return block_windows(frame[self.features].to_numpy(np.float64), frame["OT"].to_numpy(np.float64), blocks,
                             self.seq_len, self.horizon, self.stride, self.nan_policy, self.features, str(path))

    def make_meta(self, arrays: Mapping[str, np.ndarray]) -> DataMeta:
        return DataMeta(
            name=self.NAME, task="regression", n_channels=len(self.features), seq_len=self.seq_len,
            n_outputs=self.horizon if self.forecast else 1,
            channel_names=self.features, sampling_rate=1.0 / self.step_s,
            units=[UNITS[c] for c in self.features], class_names=["OT (°C)"], domain="energy")
