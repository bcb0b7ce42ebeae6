"""Shared reading of the sensor CSVs (UCI energy, ETT): header check, date order, NaN policy, windows per block."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsexplain.data import validate
from tsexplain.data.real.base import drop_nan_windows, fill_nans, windows


def read_csv(path: Path, required: Sequence[str], date: str, what: str) -> pd.DataFrame:
    """The CSV with its published header (every `required` column present), rows in time order."""
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise validate.DataValidationError(f"{what}: cannot read {path} as CSV ({err}).") from err
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise validate.DataValidationError(
            f"{what}: {path} lacks the column(s) {missing}; the published header is {list(required)} "
            f"(found {list(frame.columns)[:12]}).")
    dates = pd.to_datetime(frame[date], errors="coerce")
    if dates.isna().any():
        row = int(np.argmax(dates.isna().to_numpy())) + 2
        raise validate.DataValidationError(f"{what}: line {row} of {path} has an unreadable {date!r} value "
                                           f"{frame[date].iloc[row - 2]!r}.")
    if not dates.is_monotonic_increasing:
        frame = frame.iloc[np.argsort(dates.to_numpy(), kind="stable")].reset_index(drop=True)
    for c in required:
        if c != date:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")  # a non-number becomes NaN: the NaN policy decides
    return frame


def block_windows(values: np.ndarray, target: np.ndarray, blocks: Sequence[tuple[int, int]], length: int,
                  horizon: int, stride: int, nan_policy: str, names: Sequence[str],
                  where: str) -> dict[str, np.ndarray]:
    """`{split}_x`, `{split}_y` for the (first input row, stop row) blocks of train, val, test of the [T, C] values."""
    values = fill_nans(values, nan_policy, names, where)
    target = fill_nans(target[:, None], nan_policy, ["target"], where)[:, 0]
    out: dict[str, np.ndarray] = {}
    for split, (first, stop) in zip(("train", "val", "test"), blocks, strict=True):
        x, y = windows(values, target, first, stop, length, horizon, stride)
        if nan_policy == "drop":
            x, y, _ = drop_nan_windows(x, y)
        if len(x) == 0:
            raise validate.DataValidationError(
                f"{where}: the {split} block (rows {first}–{stop}) holds no whole window of {length} steps + "
                f"horizon {horizon}; give a shorter dataset.window/seq_len, or more rows.")
        out[f"{split}_x"], out[f"{split}_y"] = x, y.astype(np.float32)
    return out
