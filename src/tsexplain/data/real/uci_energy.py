"""UCI Appliances Energy Prediction (`energydata_complete.csv`, 10-minute readings, Jan–May 2016).

Sliding windows of the sensors → regression of the appliances' energy (Wh) `horizon` steps after each window. The
rows are cut chronologically into train/val/test blocks (`split_fractions`) and each block is windowed on its own,
so no window crosses a split. `rv1`/`rv2` are random variables the publishers added to test feature selection; they
are left out unless named in `features`.
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

COLUMNS = ("date", "Appliances", "lights", "T1", "RH_1", "T2", "RH_2", "T3", "RH_3", "T4", "RH_4", "T5", "RH_5",
           "T6", "RH_6", "T7", "RH_7", "T8", "RH_8", "T9", "RH_9", "T_out", "Press_mm_hg", "RH_out", "Windspeed",
           "Visibility", "Tdewpoint", "rv1", "rv2")
UNITS = {"Appliances": "Wh", "lights": "Wh", "T_out": "°C", "Tdewpoint": "°C", "Press_mm_hg": "mm Hg",
         "RH_out": "%", "Windspeed": "m/s", "Visibility": "km", "rv1": "", "rv2": ""}
UNITS.update({f"T{i}": "°C" for i in range(1, 10)})
UNITS.update({f"RH_{i}": "%" for i in range(1, 10)})
DEFAULT_FEATURES = tuple(c for c in COLUMNS if c not in ("date", "rv1", "rv2"))
STEP_S = 600.0


class UCIEnergyDataModule(RealDataModule):
    """Appliance-energy regression from windows of the house's sensors (default: 1 day of 10-min steps)."""

    NAME = "uci_energy"
    URL = "https://archive.ics.uci.edu/dataset/374/appliances+energy+prediction (energydata_complete.csv)"
    LAYOUT = """\
<data_dir>/
    energydata_complete.csv      header: date,Appliances,lights,T1,RH_1,...,Tdewpoint,rv1,rv2 (19,735 rows)"""
    VERSION = 1

    def __init__(
        self,
        data_dir: str | Path | None,
        file: str = "energydata_complete.csv",
        window: int = 144,
        stride: int = 6,
        horizon: int = 1,
        target: str = "Appliances",
        features: Sequence[str] | None = None,
        split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
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
        self.file = str(file)
        self.window, self.stride, self.horizon = int(window), int(stride), int(horizon)
        if self.window < 1 or self.stride < 1 or self.horizon < 0:
            raise validate.DataValidationError(
                f"dataset.window={window}, stride={stride} must be >= 1 and horizon={horizon} >= 0 (steps of 10 min).")
        self.target = check_choice("dataset.target", target, COLUMNS[1:])
        self.features = list(DEFAULT_FEATURES if features is None else features)
        for f in self.features:
            check_choice("dataset.features entry", f, COLUMNS[1:])
        self.split_fractions = validate.check_split_fractions(split_fractions)
        self.nan_policy = check_choice("dataset.nan_policy", nan_policy, NAN_POLICIES)

    def source_files(self) -> list[Path]:
        return self.require(self.file)

    def options(self) -> dict[str, Any]:
        return {"window": self.window, "stride": self.stride, "horizon": self.horizon, "target": self.target,
                "features": self.features, "fractions": list(self.split_fractions), "nan_policy": self.nan_policy}

    def parse(self) -> dict[str, np.ndarray]:
        path = self.source_files()[0]
        frame = read_csv(path, COLUMNS, "date", self.NAME)
        n = len(frame)
        n_train = int(n * self.split_fractions[0])
        n_val = int(n * self.split_fractions[1])
        blocks = [(0, n_train), (n_train, n_train + n_val), (n_train + n_val, n)]
        return block_windows(frame[self.features].to_numpy(np.float64), frame[self.target].to_numpy(np.float64),
                             blocks, self.window, self.horizon, self.stride, self.nan_policy, self.features,
                             str(path))

    def make_meta(self, arrays: Mapping[str, np.ndarray]) -> DataMeta:
        return DataMeta(
            name=self.NAME, task="regression", n_channels=len(self.features), seq_len=self.window, n_outputs=1,
            channel_names=list(self.features), sampling_rate=1.0 / STEP_S,
            units=[UNITS[f] for f in self.features], class_names=[f"{self.target} ({UNITS[self.target]})"],
            domain="energy")

