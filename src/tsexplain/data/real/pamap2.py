"""PAMAP2 Physical Activity Monitoring, Protocol part: `subject101.dat` … `subject109.dat`, 54 columns a row.

Columns (the dataset's readme): timestamp (s), activityID, heart rate (bpm), then 17 columns for each IMU (hand,
chest, ankle): temperature (°C), 3-D acceleration ±16 g and ±6 g (m/s²), 3-D gyroscope (rad/s), 3-D magnetometer
(μT), 4 orientation values (invalid in this release). IMUs at 100 Hz; heart rate at ~9 Hz (NaN in between).

Segments (Raindrop's PAM, used by TimeX and TimeSAE): windows of `window` steps (600 = 6 s) with 50 % overlap
inside each contiguous run of one activity, subjects 101–108 (109 is short), and the 8 activities that keep at least
500 such segments: lying, sitting, standing, walking, cycling, Nordic walking, vacuum cleaning, ironing.

NaN policy (`nan_policy`): `interpolate` (default) fills IMU dropouts and the heart rate linearly in time within
each activity run (edges take the nearest value); `drop` removes every segment holding a NaN; `fail` stops at the
first NaN in a selected channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsexplain.data import validate
from tsexplain.data.meta import DataMeta
from tsexplain.data.real.base import (
    NAN_POLICIES,
    RealDataModule,
    by_split,
    check_choice,
    drop_nan_windows,
    fill_nans,
    split_stratified,
    strings,
    windows,
)

ACTIVITIES = {1: "lying", 2: "sitting", 3: "standing", 4: "walking", 5: "running", 6: "cycling",
              7: "Nordic walking", 9: "watching TV", 10: "computer work", 11: "car driving",
              12: "ascending stairs", 13: "descending stairs", 16: "vacuum cleaning", 17: "ironing",
              18: "folding laundry", 19: "house cleaning", 20: "playing soccer", 24: "rope jumping"}
PAM_ACTIVITIES = (1, 2, 3, 4, 6, 7, 16, 17)
IMUS = ("hand", "chest", "ankle")
IMU_FIELDS = (("temp", "°C"), ("acc16_x", "m/s²"), ("acc16_y", "m/s²"), ("acc16_z", "m/s²"),
              ("acc6_x", "m/s²"), ("acc6_y", "m/s²"), ("acc6_z", "m/s²"), ("gyro_x", "rad/s"), ("gyro_y", "rad/s"),
              ("gyro_z", "rad/s"), ("mag_x", "μT"), ("mag_y", "μT"), ("mag_z", "μT"), ("orient_w", ""),
              ("orient_x", ""), ("orient_y", ""), ("orient_z", ""))
COLUMNS = ["timestamp", "activity", "heart_rate"] + [f"{imu}_{f}" for imu in IMUS for f, _ in IMU_FIELDS]
UNITS = {"timestamp": "s", "activity": "", "heart_rate": "bpm"}
UNITS.update({f"{imu}_{f}": u for imu in IMUS for f, u in IMU_FIELDS})
SIGNALS = ("temp", "acc16", "acc6", "gyro", "mag")
FS = 100.0


class PAMAP2DataModule(RealDataModule):
    """Activity classification on fixed-length PAMAP2 segments (default: 8 activities, 3 IMUs × acc16/gyro/mag)."""

    NAME = "pamap2"
    URL = "https://archive.ics.uci.edu/dataset/231/pamap2+physical+activity+monitoring (PAMAP2_Dataset.zip)"
    LAYOUT = """\
<data_dir>/                      the unpacked PAMAP2_Dataset/ folder (or its Protocol/ folder)
    Protocol/subject101.dat      54 space-separated columns a row: timestamp, activityID, heart rate, 3 × 17 IMU
    Protocol/subject102.dat
    ...                          (subject101–subject109)"""
    VERSION = 1

    def __init__(
        self,
        data_dir: str | Path | None,
        activities: Sequence[int] = PAM_ACTIVITIES,
        subjects: Sequence[int] = (101, 102, 103, 104, 105, 106, 107, 108),
        imus: Sequence[str] = IMUS,
        signals: Sequence[str] = ("acc16", "gyro", "mag"),
        heart_rate: bool = False,
        window: int = 600,
        stride: int = 300,
        nan_policy: str = "interpolate",
        split: str = "segment",
        split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
        val_subjects: Sequence[int] = (105,),
        test_subjects: Sequence[int] = (106,),
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
        self.activities = [int(check_choice("dataset.activities entry", int(a), ACTIVITIES)) for a in activities]
        if len(set(self.activities)) < 2:
            raise validate.DataValidationError(f"dataset.activities={self.activities} needs at least 2 activities.")
        self.subjects = [int(s) for s in subjects]
        self.imus = [check_choice("dataset.imus entry", i, IMUS) for i in imus]
        self.signals = [check_choice("dataset.signals entry", s, SIGNALS) for s in signals]
        self.heart_rate = bool(heart_rate)
        self.window, self.stride = int(window), int(stride)
        if self.window < 1 or self.stride < 1:
            raise validate.DataValidationError(f"dataset.window={window} and stride={stride} must be >= 1.")
        self.nan_policy = check_choice("dataset.nan_policy", nan_policy, NAN_POLICIES)
        self.split = check_choice("dataset.split", split, ("segment", "subject"))
        self.split_fractions = validate.check_split_fractions(split_fractions)
        self.val_subjects, self.test_subjects = [int(s) for s in val_subjects], [int(s) for s in test_subjects]
        if self.split == "subject":
            held = self.val_subjects + self.test_subjects
            if set(self.val_subjects) & set(self.test_subjects) or not self.val_subjects or not self.test_subjects \
                    or any(s not in self.subjects for s in held) or not set(self.subjects) - set(held):
                raise validate.DataValidationError(
                    f"dataset.split=subject needs disjoint, non-empty val_subjects={self.val_subjects} and "
                    f"test_subjects={self.test_subjects} taken from dataset.subjects={self.subjects}, and at least "
                    "one subject left for training.")

    @property
    def channels(self) -> list[str]:
        out = ["heart_rate"] if self.heart_rate else []
        for imu in self.imus:
            for f, _ in IMU_FIELDS:
                if f.split("_")[0] in self.signals:
                    out.append(f"{imu}_{f}")
        return out

    def protocol(self) -> Path:
        root = self.root()
        return root if root.name == "Protocol" and not (root / "Protocol").is_dir() else root / "Protocol"

    def source_files(self) -> list[Path]:
        folder = self.protocol()
        if not folder.is_dir():
            raise self.missing(folder, "folder")
        files = []
        for s in self.subjects:
            f = folder / f"subject{s}.dat"
            if not f.is_file():
                raise self.missing(f)
            files.append(f)
        return files

    def options(self) -> dict[str, Any]:
        return {"activities": self.activities, "subjects": self.subjects, "channels": self.channels,
                "window": self.window, "stride": self.stride, "nan_policy": self.nan_policy, "split": self.split,
                "fractions": list(self.split_fractions), "val_subjects": self.val_subjects,
                "test_subjects": self.test_subjects, "seed": self.seed}

    def read_subject(self, path: Path) -> pd.DataFrame:
        frame = pd.read_csv(path, sep=" ", header=None, dtype=np.float64, na_values=["NaN"])
        if frame.shape[1] != len(COLUMNS):
            raise ValueError(f"{frame.shape[1]} columns a row, the Protocol files have {len(COLUMNS)}")
        frame.columns = COLUMNS
        return frame

    def parse(self) -> dict[str, np.ndarray]:
        files = self.source_files()
        rows = self.read_all(files, self.read_subject, "subject files")
        if not rows:
            raise validate.DataValidationError("pamap2: no subject file could be read.")
        channels = self.channels
        xs, ys, subjects, dropped = [], [], [], 0
        for path, frame in rows:
            subject = int(path.stem.removeprefix("subject"))
            act = frame["activity"].to_numpy()
            all_values = frame[channels].to_numpy()
            run_id = np.concatenate([[0], np.cumsum(act[1:] != act[:-1])])  # contiguous runs of one activity
            for r in np.unique(run_id):
                rows_r = np.nonzero(run_id == r)[0]
                a = int(act[rows_r[0]])
                if a not in self.activities or len(rows_r) < self.window:
                    continue
                values = all_values[rows_r]
                values = fill_nans(values, self.nan_policy, channels, f"{path.name} (activity {a})")
                x, _ = windows(values, None, 0, len(values), self.window, 0, self.stride)
                y = np.full(len(x), self.activities.index(a), dtype=np.int64)
                if self.nan_policy == "drop":
                    x, y, n = drop_nan_windows(x, y)
                    dropped += n
                xs.append(x), ys.append(y), subjects.append(np.full(len(y), subject))
        if not xs or sum(len(y) for y in ys) == 0:
            raise validate.DataValidationError(
                f"pamap2: no segment of {self.window} steps of the activities {self.activities} in {len(rows)} "
                "file(s); check dataset.activities/window.")
        x, y, subject = np.concatenate(xs), np.concatenate(ys), np.concatenate(subjects)
        if self.split == "subject":
            codes = np.where(np.isin(subject, self.val_subjects), 1, np.where(np.isin(subject, self.test_subjects),
                                                                               2, 0)).astype(np.int64)
        else:
            codes = split_stratified(y, self.split_fractions, self.seed)
        out = by_split(codes, x=x, y=y, subject=subject)
        out["dropped"] = np.array(dropped)
        out["class_names"] = strings(ACTIVITIES[a] for a in self.activities)
        return out

    def make_meta(self, arrays: Mapping[str, np.ndarray]) -> DataMeta:
        channels = self.channels
        return DataMeta(
            name=self.NAME, task="multiclass", n_channels=len(channels), seq_len=self.window,
            n_outputs=len(self.activities), channel_names=channels, sampling_rate=FS,
            units=[UNITS[c] for c in channels], class_names=arrays["class_names"].tolist(), domain="activity")
