"""PTB-XL (PhysioNet, 1.0.x): 12-lead 10 s ECGs as WFDB records, labels from SCP-ECG statements.

Label aggregation follows the published benchmark (helme/ecg_ptbxl_benchmarking, `compute_label_aggregations`):
every statement code of a record counts whatever its likelihood; `diagnostic`, `form`, `rhythm` keep the codes
flagged so in `scp_statements.csv`, `subdiagnostic`/`superdiagnostic` map diagnostic codes to their
`diagnostic_subclass`/`diagnostic_class`, `all` keeps every code. Records with no label for the task are left out
and labels seen in fewer than `min_samples` records are dropped, as there. Folds: `strat_fold` 1–8 train, 9 val,
10 test (the recommended split).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsexplain.data import validate
from tsexplain.data.meta import DataMeta
from tsexplain.data.real.base import RealDataModule, check_choice, lead_name, strings

TASKS = ("superdiagnostic", "subdiagnostic", "diagnostic", "form", "rhythm", "all")
RATES = {100: ("records100", "filename_lr"), 500: ("records500", "filename_hr")}
DURATION_S = 10
DB_COLUMNS = ("patient_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr")
STATEMENT_COLUMNS = ("diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass")


class PTBXLDataModule(RealDataModule):
    """PTB-XL as multilabel (default) or single-label classification of 12 × (10·fs) signals in mV."""

    NAME = "ptbxl"
    URL = "https://physionet.org/content/ptb-xl/ (zip: 'Download the ZIP file'; unpack as is)"
    LAYOUT = """\
<data_dir>/                      e.g. ptb-xl-a-large-publicly-available-electrocardiography-dataset-1.0.3/
    ptbxl_database.csv           one row per ECG: ecg_id, patient_id, scp_codes, strat_fold, filename_lr, filename_hr
    scp_statements.csv           one row per SCP code: diagnostic, form, rhythm, diagnostic_class, ...
    records100/00000/00001_lr.hea, 00001_lr.dat, ...   (sampling_rate=100)
    records500/00000/00001_hr.hea, 00001_hr.dat, ...   (sampling_rate=500)"""
    VERSION = 1

    def __init__(
        self,
        data_dir: str | Path | None,
        task: str = "superdiagnostic",
        sampling_rate: int = 100,
        single_label: bool = False,
        min_samples: int = 0,
        train_folds: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8),
        val_folds: Sequence[int] = (9,),
        test_folds: Sequence[int] = (10,),
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
        self.task = check_choice("dataset.task", task, TASKS)
        self.sampling_rate = check_choice("dataset.sampling_rate", int(sampling_rate), sorted(RATES))
        self.single_label = bool(single_label)
        self.min_samples = int(min_samples)
        self.folds = [sorted(int(f) for f in fs) for fs in (train_folds, val_folds, test_folds)]
        flat = [f for fs in self.folds for f in fs]
        if len(set(flat)) != len(flat) or not all(1 <= f <= 10 for f in flat) or not all(self.folds):
            raise validate.DataValidationError(
                f"dataset.train_folds/val_folds/test_folds={self.folds} must be non-empty, disjoint lists of "
                "strat_fold values 1–10 (the recommended split: 1–8, 9, 10).")
        self.max_records = None if max_records is None else int(max_records)

    # -- files ---------------------------------------------------------------------------------------------
    def source_files(self) -> list[Path]:
        db, st, rec = self.require("ptbxl_database.csv", "scp_statements.csv", RATES[self.sampling_rate][0])
        return [db, st] + sorted(p for p in rec.rglob("*") if p.suffix in (".hea", ".dat"))

    def options(self) -> dict[str, Any]:
        return {"task": self.task, "sampling_rate": self.sampling_rate, "single_label": self.single_label,
                "min_samples": self.min_samples, "folds": self.folds, "max_records": self.max_records}

    # -- parsing -------------------------------------------------------------------------------------------
    def read_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        root = self.root()
        try:
            db = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id")
            statements = pd.read_csv(root / "scp_statements.csv", index_col=0)
        except (ValueError, pd.errors.ParserError) as err:
            raise validate.DataValidationError(
                f"ptbxl: cannot read the CSV files in {root} ({err}); they must be the published "
                f"ptbxl_database.csv (indexed by ecg_id) and scp_statements.csv.\n{self.layout_help()}") from err
        for name, table, cols in (("ptbxl_database.csv", db, DB_COLUMNS),
                                  ("scp_statements.csv", statements, STATEMENT_COLUMNS)):
            missing = [c for c in cols if c not in table.columns]
            if missing:
                raise validate.DataValidationError(
                    f"ptbxl: {root / name} lacks the column(s) {missing}; it must be the published file "
                    f"(columns include {list(cols)}).\n{self.layout_help()}")
        return db.sort_index(), statements

    def labels(self, db: pd.DataFrame, statements: pd.DataFrame) -> list[list[str]]:
        """The task's labels of every record (helme/ecg_ptbxl_benchmarking's aggregation)."""
        known = set(statements.index)
        flag = {t: set(statements.index[statements[t] == 1]) for t in ("diagnostic", "form", "rhythm")}
        out = []
        for ecg_id, raw in db["scp_codes"].items():
            try:
                codes = ast.literal_eval(raw)
                assert isinstance(codes, dict)
            except (ValueError, SyntaxError, AssertionError) as err:
                raise validate.DataValidationError(
                    f"ptbxl: ecg_id {ecg_id} has scp_codes={raw!r}, not a dict of code: likelihood such as "
                    "\"{'NORM': 100.0, 'SR': 0.0}\"; the database file is damaged.") from err
            unknown = sorted(set(codes) - known)
            if unknown:
                raise validate.DataValidationError(
                    f"ptbxl: ecg_id {ecg_id} has SCP code(s) {unknown} that scp_statements.csv does not list (it "
                    f"lists {len(known)} codes, e.g. {sorted(known)[:8]}); use the two CSVs of the same PTB-XL "
                    "release, unmodified.")
            out.append(sorted({label for code in codes for label in self._aggregate(code, statements, flag)}))
        return out

    def _aggregate(self, code: str, statements: pd.DataFrame, flag: Mapping[str, set]) -> list[str]:
        if self.task == "all":
            return [code]
        if self.task in ("form", "rhythm"):
            return [code] if code in flag[self.task] else []
        if code not in flag["diagnostic"]:
            return []
        if self.task == "diagnostic":
            return [code]
        value = statements.loc[code, "diagnostic_class" if self.task == "superdiagnostic" else "diagnostic_subclass"]
        return [str(value)] if isinstance(value, str) and value else []

    def parse(self) -> dict[str, np.ndarray]:
        import wfdb

        db, statements = self.read_tables()
        if self.max_records is not None:
            db = db.iloc[: self.max_records]
        labels = self.labels(db, statements)
        keep = [i for i, ls in enumerate(labels) if ls]
        counts = pd.Series([lab for i in keep for lab in labels[i]]).value_counts()
        classes = sorted(c for c, n in counts.items() if n >= self.min_samples)
        labels = [[lab for lab in ls if lab in classes] for ls in labels]
        keep = [i for i in keep if labels[i] and (not self.single_label or len(labels[i]) == 1)]
        if self.single_label:  # only classes that some single-label record has
            classes = sorted({labels[i][0] for i in keep})
        if not classes or not keep:
            raise validate.DataValidationError(
                f"ptbxl: no record has a {self.task} label (min_samples={self.min_samples}, single_label="
                f"{self.single_label}); check scp_statements.csv or choose another dataset.task of {list(TASKS)}.")
        root, column = self.root(), RATES[self.sampling_rate][1]
        length = DURATION_S * self.sampling_rate

        def read(ecg_id: int):
            signal, fields = wfdb.rdsamp(str(root / db.at[ecg_id, column]))
            if int(fields["fs"]) != self.sampling_rate or signal.shape != (length, 12):
                raise ValueError(f"expected 12 leads × {length} samples at {self.sampling_rate} Hz, got "
                                 f"{signal.shape[::-1]} at {fields['fs']} Hz")
            if not np.isfinite(signal).all():
                raise ValueError("signal holds NaN")
            return signal.T.astype(np.float32), fields

        label_of = {int(db.index[i]): labels[i] for i in keep}
        rows = self.read_all(list(label_of), read, "records")
        if not rows:
            raise validate.DataValidationError("ptbxl: no record could be read.")
        x = np.stack([sig for _, (sig, _) in rows])
        ids = np.array([i for i, _ in rows], dtype=np.int64)
        folds = db.loc[ids, "strat_fold"].to_numpy()
        names = [label_of[i] for i, _ in rows]
        if self.single_label:
            y = np.array([classes.index(ls[0]) for ls in names], dtype=np.int64)
        else:
            y = np.zeros((len(names), len(classes)), dtype=np.float32)
            for r, ls in enumerate(names):
                y[r, [classes.index(lab) for lab in ls]] = 1.0
        fields = rows[0][1][1]
        out: dict[str, np.ndarray] = {
            "class_names": strings(classes),
            "channel_names": strings(lead_name(n) for n in fields["sig_name"]),
            "units": strings(fields["units"]),
        }
        for split, fs in zip(("train", "val", "test"), self.folds, strict=True):
            sel = np.isin(folds, fs)
            out.update({f"{split}_x": x[sel], f"{split}_y": y[sel], f"{split}_ecg_id": ids[sel]})
        return out

    def make_meta(self, arrays: Mapping[str, np.ndarray]) -> DataMeta:
        classes = arrays["class_names"].tolist()
        return DataMeta(
            name=self.NAME, task="multiclass" if self.single_label else "multilabel", n_channels=12,
            seq_len=DURATION_S * self.sampling_rate, n_outputs=len(classes),
            channel_names=arrays["channel_names"].tolist(), sampling_rate=float(self.sampling_rate),
            units=arrays["units"].tolist(), class_names=classes, extra_metrics=["macro_auroc"], domain="ecg")

    @property
    def ecg_ids(self) -> dict[str, np.ndarray]:
        """The `ecg_id` of each split's records (batch `index` = position within the split)."""
        arrays = self.arrays()
        return {s: arrays[f"{s}_ecg_id"] for s in ("train", "val", "test")}
