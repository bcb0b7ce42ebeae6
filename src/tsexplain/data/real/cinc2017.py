"""PhysioNet/CinC Challenge 2017 (AF classification from a single short ECG lead): the public training set.

Records are WFDB headers with MATLAB v4 signal files (`A00001.hea` + `A00001.mat`, 300 Hz, 9–61 s), labels in
`REFERENCE.csv` (`A00001,N`): N normal, A atrial fibrillation, O other rhythm, ~ noisy. Every record is cropped
(`crop=start|center`) or zero-padded at the end to `length_s`; the split is a seeded stratified K-fold over
records (`n_folds`, `val_fold`, `test_fold`). The challenge's score (mean F1 of N, A, O) is `challenge_f1`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsexplain.data import validate
from tsexplain.data.meta import DataMeta
from tsexplain.data.real.base import RealDataModule, by_split, check_choice, fit_length, strings

LABELS = ("N", "A", "O", "~")
FS = 300


class CinC2017DataModule(RealDataModule):
    """Single-lead ECG rhythm classification (N/A/O/~ by default) on fixed-length crops."""

    NAME = "cinc2017"
    URL = "https://physionet.org/content/challenge-2017/1.0.0/ (training2017.zip; unpack as is)"
    LAYOUT = """\
<data_dir>/                      the unpacked training2017/ folder
    REFERENCE.csv                one line per record, no header: A00001,N   (labels N, A, O, ~)
    A00001.hea, A00001.mat       WFDB header + MATLAB v4 signal (300 Hz, one lead, mV after the header's gain)
    A00002.hea, A00002.mat
    ...                          (8,528 records)"""
    VERSION = 1

    def __init__(
        self,
        data_dir: str | Path | None,
        reference: str = "REFERENCE.csv",
        classes: Sequence[str] = LABELS,
        length_s: float = 30.0,
        crop: str = "start",
        n_folds: int = 10,
        val_fold: int = 1,
        test_fold: int = 0,
        max_records: int | None = None,
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
        self.reference = str(reference)
        self.classes = [str(c) for c in classes]
        for c in self.classes:
            check_choice("dataset.classes entry", c, LABELS)
        if len(set(self.classes)) < 2:
            raise validate.DataValidationError(f"dataset.classes={self.classes} needs at least 2 of {list(LABELS)}.")
        if float(length_s) <= 0:
            raise validate.DataValidationError(f"dataset.length_s={length_s} must be positive (seconds).")
        self.length_s = float(length_s)
        self.crop = check_choice("dataset.crop", crop, ("start", "center"))
        self.n_folds = int(n_folds)
        if self.n_folds < 3:
            raise validate.DataValidationError(f"dataset.n_folds={n_folds} must be at least 3 (train, val, test).")
        check_choice("dataset.val_fold", int(val_fold), range(self.n_folds))
        check_choice("dataset.test_fold", int(test_fold), range(self.n_folds))
        if int(val_fold) == int(test_fold):
            raise validate.DataValidationError(f"dataset.val_fold and test_fold are both {val_fold}; use two folds.")
        self.val_fold, self.test_fold = int(val_fold), int(test_fold)
        self.max_records = None if max_records is None else int(max_records)

    def source_files(self) -> list[Path]:
        (ref,) = self.require(self.reference)
        root = self.root()
        return [ref] + sorted(p for p in root.iterdir() if p.suffix in (".hea", ".mat"))

    def options(self) -> dict[str, Any]:
        return {"reference": self.reference, "classes": self.classes, "length_s": self.length_s, "crop": self.crop,
                "n_folds": self.n_folds, "val_fold": self.val_fold, "test_fold": self.test_fold,
                "max_records": self.max_records, "seed": self.seed}

    def read_reference(self) -> pd.DataFrame:
        path = self.root() / self.reference
        try:
            ref = pd.read_csv(path, header=None, names=["record", "label"], dtype=str, skipinitialspace=True)
        except (ValueError, pd.errors.ParserError) as err:
            raise validate.DataValidationError(f"cinc2017: cannot read {path} ({err}); it must hold lines "
                                               "'A00001,N'.") from err
        if ref["label"].isna().any():
            row = int(ref.index[ref["label"].isna()][0]) + 1
            raise validate.DataValidationError(f"cinc2017: line {row} of {path} has no label; lines are 'A00001,N'.")
        ref["label"] = ref["label"].str.strip()
        bad = sorted(set(ref["label"]) - set(LABELS))
        if bad:
            first = ref[ref["label"].isin(bad)].iloc[0]
            raise validate.DataValidationError(
                f"cinc2017: {path} has label(s) {bad} (e.g. record {first['record']}); the challenge's labels are "
                f"{list(LABELS)} (N normal, A AF, O other rhythm, ~ noisy).")
        return ref

    def parse(self) -> dict[str, np.ndarray]:
        import wfdb
        from sklearn.model_selection import StratifiedKFold

        root = self.root()
        ref = self.read_reference()
        ref = ref[ref["label"].isin(self.classes)]
        if self.max_records is not None:
            ref = ref.iloc[: self.max_records]
        length = int(round(self.length_s * FS))

        def read(name: str):
            signal, fields = wfdb.rdsamp(str(root / name))
            if int(fields["fs"]) != FS or signal.ndim != 2 or signal.shape[1] != 1 or len(signal) == 0:
                raise ValueError(f"expected one lead at {FS} Hz, got {signal.shape[1:]} at {fields['fs']} Hz")
            if not np.isfinite(signal).all():
                raise ValueError("signal holds NaN")
            return fit_length(signal.astype(np.float32), length, self.crop), fields

        rows = self.read_all(ref["record"].tolist(), read, "records")
        if not rows:
            raise validate.DataValidationError(f"cinc2017: no record of the classes {self.classes} in {root}.")
        label_of = dict(zip(ref["record"], ref["label"], strict=True))
        x = np.stack([sig for _, (sig, _) in rows])
        y = np.array([self.classes.index(label_of[name]) for name, _ in rows], dtype=np.int64)
        counts = np.bincount(y, minlength=len(self.classes))
        if counts.min() < self.n_folds:
            raise validate.DataValidationError(
                f"cinc2017: class counts {dict(zip(self.classes, counts.tolist(), strict=True))} are too small for "
                f"{self.n_folds} stratified folds; lower dataset.n_folds or drop a class from dataset.classes.")
        codes = np.zeros(len(y), dtype=np.int64)
        folds = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.seed).split(np.zeros(len(y)), y)
        for k, (_, held) in enumerate(folds):
            if k == self.val_fold:
                codes[held] = 1
            elif k == self.test_fold:
                codes[held] = 2
        out = by_split(codes, x=x, y=y, record=strings(name for name, _ in rows))
        out["units"] = strings(rows[0][1][1]["units"])
        return out

    def make_meta(self, arrays: Mapping[str, np.ndarray]) -> DataMeta:
        extra = ["challenge_f1"] if all(c in self.classes for c in ("N", "A", "O")) else []
        return DataMeta(
            name=self.NAME, task="multiclass", n_channels=1, seq_len=int(round(self.length_s * FS)),
            n_outputs=len(self.classes), channel_names=["ECG"], sampling_rate=float(FS),
            units=arrays["units"].tolist(), class_names=list(self.classes), extra_metrics=extra,
            domain="ecg")
