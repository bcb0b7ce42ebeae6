"""Fixture writers: tiny synthetic datasets in each publisher's real file format (WFDB via wfdb.wrsamp/wrann,
MATLAB v4 + .hea for CinC 2017, the CSV headers of UCI energy and ETT, PAMAP2's 54-column .dat rows, .ts files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import wfdb

from tsexplain.data.real.ett import COLUMNS as ETT_COLUMNS
from tsexplain.data.real.pamap2 import COLUMNS as PAMAP2_COLUMNS
from tsexplain.data.real.uci_energy import COLUMNS as ENERGY_COLUMNS

PTB_LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]

# A subset of the real scp_statements.csv (same columns, same flags and classes).
STATEMENTS = [
    # code, description, diagnostic, form, rhythm, diagnostic_class, diagnostic_subclass
    ("NORM", "normal ECG", 1.0, None, None, "NORM", "NORM"),
    ("IMI", "inferior myocardial infarction", 1.0, None, None, "MI", "IMI"),
    ("ASMI", "anteroseptal myocardial infarction", 1.0, None, None, "MI", "AMI"),
    ("LVH", "left ventricular hypertrophy", 1.0, None, None, "HYP", "LVH"),
    ("NDT", "non-diagnostic T abnormalities", 1.0, 1.0, None, "STTC", "STTC"),
    ("LAFB", "left anterior fascicular block", 1.0, None, None, "CD", "LAFB/LPFB"),
    ("PVC", "ventricular premature complex", None, 1.0, None, None, None),
    ("SR", "sinus rhythm", None, None, 1.0, None, None),
    ("AFIB", "atrial fibrillation", None, None, 1.0, None, None),
]

# scp_codes of the fixture's records, cycled: superdiagnostic labels follow from STATEMENTS.
SCP_CODES = [
    {"NORM": 100.0, "SR": 0.0},
    {"IMI": 80.0, "LVH": 50.0, "SR": 0.0},
    {"ASMI": 100.0, "AFIB": 0.0},
    {"NDT": 100.0, "PVC": 100.0, "SR": 0.0},
    {"LAFB": 100.0, "NORM": 50.0, "AFIB": 0.0},
    {"PVC": 100.0},  # no diagnostic code: left out of the diagnostic tasks
]


def write_ptbxl(root: Path, n: int = 20, rates: tuple[int, ...] = (100,), codes=None) -> Path:
    """PTB-XL layout: ptbxl_database.csv, scp_statements.csv, records100/00000/000NN_lr.{hea,dat} (10 s, 12 leads)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    codes = codes or SCP_CODES
    rows = []
    for i in range(1, n + 1):
        lr, hr = f"records100/00000/{i:05d}_lr", f"records500/00000/{i:05d}_hr"
        rows.append({"ecg_id": i, "patient_id": float(1000 + i // 2), "age": 50.0, "sex": i % 2,
                     "scp_codes": str(codes[(i - 1) % len(codes)]), "strat_fold": (i - 1) % 10 + 1,
                     "filename_lr": lr, "filename_hr": hr})
        for fs, name in ((100, lr), (500, hr)):
            if fs not in rates:
                continue
            t = np.arange(10 * fs) / fs
            sig = 0.5 * np.sin(2 * np.pi * 1.2 * t)[:, None] * (1 + np.arange(12))[None] / 12
            sig = sig + 0.01 * rng.standard_normal(sig.shape) + 0.1 * i
            folder = root / Path(name).parent
            folder.mkdir(parents=True, exist_ok=True)
            wfdb.wrsamp(Path(name).name, fs=fs, units=["mV"] * 12, sig_name=PTB_LEADS, p_signal=sig,
                        fmt=["16"] * 12, write_dir=str(folder))
    pd.DataFrame(rows).to_csv(root / "ptbxl_database.csv", index=False)
    st = pd.DataFrame(STATEMENTS, columns=["code", "description", "diagnostic", "form", "rhythm",
                                           "diagnostic_class", "diagnostic_subclass"])
    st["Statement Category"] = "x"
    st.rename(columns={"code": ""}).to_csv(root / "scp_statements.csv", index=False)
    return root


MITBIH_FS = 360
BEAT_PERIOD = 288  # 0.8 s
QRS_HALF = {"N": 14, "V": 25}  # samples: 80 ms and 140 ms wide QRS complexes


def ecg_beats(n_samples: int, symbols: list[str], first: int = 180, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A lead with a triangular QRS (width by symbol) and a smooth T wave per beat; returns signal and R peaks."""
    rng = np.random.default_rng(seed)
    x = 0.01 * rng.standard_normal(n_samples)
    t = np.arange(n_samples)
    peaks = []
    for k, sym in enumerate(symbols):
        r = first + k * BEAT_PERIOD
        if r >= n_samples - 40:
            break
        h = QRS_HALF[sym]
        x += np.clip(1.0 - np.abs(t - r) / h, 0, None) * (1.0 if sym == "N" else -1.2)
        x += 0.25 * np.exp(-0.5 * ((t - r - 90) / 15.0) ** 2)
        peaks.append(r)
    return x, np.array(peaks)


def write_mitbih(root: Path, records: dict[str, tuple[str, str]] | None = None, seconds: int = 12,
                 with_records_file: bool = True) -> dict[str, np.ndarray]:
    """MIT-BIH layout: <rec>.hea/.dat (2 leads, 360 Hz) + <rec>.atr beat annotations (and RECORDS).

    `records` maps name → its two lead names; beats alternate N, N, V. Returns each record's R peaks."""
    root.mkdir(parents=True, exist_ok=True)
    records = records or {"100": ("MLII", "V5"), "101": ("MLII", "V1"), "103": ("MLII", "V2"),
                          "105": ("MLII", "V1"), "201": ("MLII", "V1"), "202": ("MLII", "V1")}
    n = seconds * MITBIH_FS
    symbols = ["N", "N", "V"] * 20
    peaks_by = {}
    for k, (name, leads) in enumerate(records.items()):
        lead0, peaks = ecg_beats(n, symbols, seed=k)
        sig = np.stack([lead0, 0.5 * lead0 + 0.01], axis=1)
        wfdb.wrsamp(name, fs=MITBIH_FS, units=["mV", "mV"], sig_name=list(leads), p_signal=sig, fmt=["212", "212"],
                    write_dir=str(root))
        ann_samples = np.concatenate([[0], peaks])
        ann_symbols = ["+"] + symbols[: len(peaks)]
        wfdb.wrann(name, "atr", ann_samples, symbol=ann_symbols, aux_note=["(N"] + [""] * len(peaks),
                   fs=MITBIH_FS, write_dir=str(root))
        peaks_by[name] = peaks
    if with_records_file:
        (root / "RECORDS").write_text("".join(f"{r}\n" for r in records))
    return peaks_by


CINC_FS = 300


def write_cinc(root: Path, labels: list[str] | None = None, seed: int = 0) -> Path:
    """training2017/ layout: A000NN.mat (MATLAB v4, int16 'val', gain 1000/mV) + A000NN.hea, REFERENCE.csv."""
    root.mkdir(parents=True, exist_ok=True)
    labels = labels or ["N", "A", "O", "~"] * 4
    rng = np.random.default_rng(seed)
    lines = []
    for i, lab in enumerate(labels, start=1):
        name = f"A{i:05d}"
        n = int(CINC_FS * (8 + 4 * (i % 4)))  # 8–20 s, some shorter and some longer than the 10 s crop
        t = np.arange(n) / CINC_FS
        sig = np.sin(2 * np.pi * (1 + "NAO~X".find(lab)) * t) * 0.8 + 0.02 * rng.standard_normal(n)
        val = np.round(sig * 1000).astype(np.int16)[None]
        scipy.io.savemat(root / f"{name}.mat", {"val": val}, format="4")
        (root / f"{name}.hea").write_text(
            f"{name} 1 {CINC_FS} {n} 05:05:15 1/05/2014\n{name}.mat 16+24 1000/mV 16 0 {int(val[0, 0])} 0 0 ECG\n")
        lines.append(f"{name},{lab}\n")
    (root / "REFERENCE.csv").write_text("".join(lines))
    (root / "RECORDS").write_text("".join(f"A{i:05d}\n" for i in range(1, len(labels) + 1)))
    return root


def write_energy(root: Path, n: int = 400) -> Path:
    """energydata_complete.csv with the published header, 10-minute steps from 2016-01-11 17:00."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = {"date": pd.date_range("2016-01-11 17:00:00", periods=n, freq="10min").strftime("%Y-%m-%d %H:%M:%S")}
    for c in ENERGY_COLUMNS[1:]:
        data[c] = np.round(20 + rng.standard_normal(n), 3)
    data["Appliances"] = np.round(60 + 30 * np.sin(np.arange(n) / 20) + 10 * rng.standard_normal(n)).astype(int)
    pd.DataFrame(data)[list(ENERGY_COLUMNS)].to_csv(root / "energydata_complete.csv", index=False)
    return root


def write_ett(root: Path, name: str = "ETTh1", n: int = 14_500, offset: float = 0.0) -> Path:
    """ETT-small/<name>.csv with the published header (hourly dates from 2016-07-01)."""
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(n)
    data = {"date": pd.date_range("2016-07-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S")}
    for k, c in enumerate(ETT_COLUMNS[1:-1]):
        data[c] = np.round(5 + np.sin(t / (24 + k)) + offset, 3)
    data["OT"] = np.round(30 + 5 * np.sin(t / 24) + offset, 3)
    pd.DataFrame(data).to_csv(root / f"{name}.csv", index=False)
    return root


def pamap2_rows(runs: list[tuple[int, int]], seed: int = 0, nan_rows: int = 0) -> np.ndarray:
    """[T, 54] rows of (activity, length) runs at 100 Hz; heart rate every 11th row only (as recorded)."""
    rng = np.random.default_rng(seed)
    n = sum(length for _, length in runs)
    rows = rng.standard_normal((n, len(PAMAP2_COLUMNS)))
    rows[:, 0] = np.arange(n) / 100 + 5.0
    rows[:, 1] = np.concatenate([[a] * length for a, length in runs])
    hr = np.full(n, np.nan)
    hr[::11] = 80 + rows[::11, 1]
    rows[:, 2] = hr
    for c in range(3, rows.shape[1]):  # activity-dependent offset so the task is learnable
        rows[:, c] += 0.3 * rows[:, 1]
    if nan_rows:
        rows[10:10 + nan_rows, 4:7] = np.nan  # a hand-IMU dropout
    return rows


def write_pamap2(root: Path, subjects: dict[int, list[tuple[int, int]]], nan_rows: int = 0) -> Path:
    """PAMAP2_Dataset/Protocol/subject1NN.dat: space-separated, 'NaN' for missing values, 54 columns."""
    folder = root / "Protocol"
    folder.mkdir(parents=True, exist_ok=True)
    for s, runs in subjects.items():
        rows = pamap2_rows(runs, seed=s, nan_rows=nan_rows)
        text = "\n".join(" ".join("NaN" if np.isnan(v) else f"{v:.6g}" for v in row) for row in rows) + "\n"
        (folder / f"subject{s}.dat").write_text(text)
    return root


def write_ts(path: Path, series: list[np.ndarray], labels: list[str], classes: list[str], name: str = "Tiny") -> Path:
    """A .ts file (sktime/aeon format); series [C, T_i] each, equal or unequal length."""
    path.parent.mkdir(parents=True, exist_ok=True)
    equal = len({s.shape[-1] for s in series}) == 1
    univariate = series[0].shape[0] == 1
    head = [f"@problemName {name}", "@timeStamps false", "@missing false", f"@univariate {str(univariate).lower()}"]
    if not univariate:
        head.append(f"@dimensions {series[0].shape[0]}")
    head.append(f"@equalLength {str(equal).lower()}")
    if equal:
        head.append(f"@seriesLength {series[0].shape[-1]}")
    head += [f"@classLabel true {' '.join(classes)}", "@data"]
    body = [":".join(",".join(f"{v:.5g}" for v in ch) for ch in s) + f":{lab}" for s, lab in
            zip(series, labels, strict=True)]
    path.write_text("\n".join(head + body) + "\n")
    return path
