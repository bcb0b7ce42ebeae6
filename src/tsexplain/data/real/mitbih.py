"""MIT-BIH Arrhythmia (PhysioNet `mitdb`): beat-centred windows with a ground-truth mask around the QRS complex.

Each beat annotation of a record's `.atr` (its sample is the R peak) gives one window of `window_s` seconds centred
on it, labelled by its symbol (`classes`). The mask marks the QRS complex: the annotation places it, the signal
bounds it — onset and offset are where the slope envelope (|dx/dt| smoothed over 20 ms) falls below `qrs_threshold`
of its rise above the window's median, searched within `qrs_max_s` of the peak and kept to [qrs_min_s, qrs_max_s];
a flat envelope falls back to `qrs_fixed_s`. No maintained library delineates QRS onset/offset from an R-peak
annotation without a full ECG toolkit (wfdb.processing detects R peaks only), hence this small routine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tsexplain.data import validate
from tsexplain.data.meta import DataMeta
from tsexplain.data.real.base import (
    RealDataModule,
    RealDataWarning,
    by_split,
    check_choice,
    split_groups,
    split_stratified,
    strings,
)

# AAMI EC57 beat classes by annotation symbol; every other symbol of wfdb's beat set counts as "abnormal" in the
# normal-vs-abnormal setting (TimeX/TimeSAE) and is ignored by `aami`.
AAMI = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}
BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")
CLASSES = ("normal_abnormal", "aami")
SPLITS = ("record", "beat")
MASKS = ("centre", "all")
SAME_SUBJECT = {"202": "201"}  # records 201 and 202 are one subject (the database's directory)
PACED = ("102", "104", "107", "217")


def qrs_bounds(signal: np.ndarray, peak: int, fs: float, threshold: float = 0.3, min_s: float = 0.06,
               max_s: float = 0.16, fixed_s: float = 0.1, envelope: np.ndarray | None = None) -> tuple[int, int]:
    """[onset, offset) of the QRS complex around the R peak at `peak` in a 1-D signal (see the module docstring)."""
    env = slope_envelope(signal, fs) if envelope is None else envelope
    n = len(signal)
    reach = max(1, int(round(max_s * fs)))
    lo, hi = max(0, peak - reach), min(n, peak + reach + 1)
    local = env[lo:hi]
    base = float(np.median(env[max(0, peak - int(fs)):min(n, peak + int(fs))]))
    top = float(local.max()) if len(local) else 0.0
    if top - base <= 1e-9 * max(1.0, abs(top)):
        half = int(round(fixed_s * fs / 2))
        return max(0, peak - half), min(n, peak + half + 1)
    thr = base + threshold * (top - base)
    above = local >= thr
    centre = int(np.argmax(local))
    a = centre
    while a > 0 and above[a - 1]:
        a -= 1
    b = centre
    while b < len(local) - 1 and above[b + 1]:
        b += 1
    onset, offset = lo + a, lo + b + 1
    width, wmin, wmax = offset - onset, int(round(min_s * fs)), int(round(max_s * fs))
    if width < wmin:
        extra = wmin - width
        onset, offset = onset - extra // 2, offset + extra - extra // 2
    elif width > wmax:
        mid = (onset + offset) // 2
        onset, offset = mid - wmax // 2, mid + wmax - wmax // 2
    return max(0, onset), min(n, offset)


def slope_envelope(signal: np.ndarray, fs: float) -> np.ndarray:
    """|dx/dt| smoothed by a 20 ms moving average: high over the steep QRS, low over P/T waves and baseline."""
    d = np.abs(np.gradient(np.asarray(signal, dtype=np.float64)))
    k = max(1, int(round(0.02 * fs)))
    return np.convolve(d, np.ones(k) / k, mode="same")


class MITBIHDataModule(RealDataModule):
    """Beat classification on MIT-BIH windows (default: normal vs abnormal, lead MLII, 1 s, record-wise split)."""

    NAME = "mitbih"
    URL = "https://physionet.org/content/mitdb/1.0.0/ (zip: 'Download the ZIP file'; unpack as is)"
    LAYOUT = """\
<data_dir>/                      e.g. mit-bih-arrhythmia-database-1.0.0/
    RECORDS                      the record names, one a line (optional: else every <name>.hea with a <name>.atr)
    100.hea, 100.dat, 100.atr    header, 360 Hz two-lead signal, reference beat annotations
    101.hea, 101.dat, 101.atr
    ...                          (48 records: 100–124, 200–234)"""
    VERSION = 1

    def __init__(
        self,
        data_dir: str | Path | None,
        classes: str = "normal_abnormal",
        window_s: float = 1.0,
        channels: Sequence[str] = ("MLII",),
        split: str = "record",
        split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
        records: Sequence[str] | None = None,
        exclude_records: Sequence[str] = (),
        mask: str = "centre",
        qrs_threshold: float = 0.3,
        qrs_min_s: float = 0.06,
        qrs_max_s: float = 0.16,
        qrs_fixed_s: float = 0.1,
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
        self.classes = check_choice("dataset.classes", classes, CLASSES)
        self.split = check_choice("dataset.split", split, SPLITS)
        self.mask = check_choice("dataset.mask", mask, MASKS)
        self.split_fractions = validate.check_split_fractions(split_fractions)
        if float(window_s) <= 0:
            raise validate.DataValidationError(f"dataset.window_s={window_s} must be positive (seconds).")
        self.window_s = float(window_s)
        self.channels = [str(c) for c in channels]
        if not self.channels:
            raise validate.DataValidationError("dataset.channels is empty; name at least one lead, e.g. [MLII].")
        self.records = None if records is None else [str(r) for r in records]
        self.exclude_records = [str(r) for r in exclude_records]
        self.qrs = {"threshold": float(qrs_threshold), "min_s": float(qrs_min_s), "max_s": float(qrs_max_s),
                    "fixed_s": float(qrs_fixed_s)}

    def class_names(self) -> list[str]:
        return ["normal", "abnormal"] if self.classes == "normal_abnormal" else list(AAMI)

    def label(self, symbol: str) -> int | None:
        if symbol not in BEAT_SYMBOLS:
            return None  # rhythm, noise and other non-beat annotations
        if self.classes == "normal_abnormal":
            return 0 if symbol == "N" else 1
        for k, symbols in enumerate(AAMI.values()):
            if symbol in symbols:
                return k
        return None

    # -- files ---------------------------------------------------------------------------------------------
    def record_names(self) -> list[str]:
        root = self.root()
        listed = root / "RECORDS"
        if self.records is not None:
            names = list(self.records)
        elif listed.is_file():
            names = [ln.strip() for ln in listed.read_text().splitlines() if ln.strip()]
        else:
            names = sorted(p.stem for p in root.glob("*.hea") if (root / f"{p.stem}.atr").is_file())
        names = [n for n in names if n not in self.exclude_records]
        if not names:
            raise validate.MissingDataFileError(f"mitbih: no record (<name>.hea + <name>.atr) in {root}.\n"
                                                f"{self.layout_help()}")
        return names

    def source_files(self) -> list[Path]:
        root = self.root()
        files = [root / "RECORDS"] if (root / "RECORDS").is_file() else []
        for name in self.record_names():
            for ext in (".hea", ".atr"):
                if not (root / f"{name}{ext}").is_file():
                    raise self.missing(root / f"{name}{ext}")
            files += sorted(p for p in root.glob(f"{name}.*") if p.suffix in (".hea", ".dat", ".atr"))
        return files

    def options(self) -> dict[str, Any]:
        return {"classes": self.classes, "window_s": self.window_s, "channels": self.channels, "split": self.split,
                "fractions": list(self.split_fractions), "records": self.record_names(), "mask": self.mask,
                "qrs": self.qrs, "seed": self.seed}

    # -- parsing -------------------------------------------------------------------------------------------
    def parse(self) -> dict[str, np.ndarray]:
        import warnings

        import wfdb

        root = self.root()
        lacking: list[str] = []

        def read(name: str):
            signal, fields = wfdb.rdsamp(str(root / name))
            ann = wfdb.rdann(str(root / name), "atr")
            names = [str(s) for s in fields["sig_name"]]
            if any(c not in names for c in self.channels):
                lacking.append(f"{name} ({'/'.join(names)})")
                return None
            return signal[:, [names.index(c) for c in self.channels]], float(fields["fs"]), fields, ann

        rows = [(n, r) for n, r in self.read_all(self.record_names(), read, "records") if r is not None]
        if lacking:
            msg = (f"mitbih: {len(lacking)} record(s) lack the lead(s) {self.channels} and were left out: "
                   f"{', '.join(lacking[:6])}{' ...' if len(lacking) > 6 else ''}")
            warnings.warn(msg, RealDataWarning, stacklevel=2)
        if not rows:
            raise validate.DataValidationError(
                f"mitbih: no readable record has the lead(s) dataset.channels={self.channels}" +
                (f"; records have {lacking[0]}" if lacking else "") + ".")
        rates = {fs for _, (_, fs, _, _) in rows}
        if len(rates) != 1:
            raise validate.DataValidationError(f"mitbih: records have different sampling rates {sorted(rates)}.")
        fs = rates.pop()
        length = int(round(self.window_s * fs))
        xs, ys, masks, groups, peaks = [], [], [], [], []
        for name, (signal, _, _, ann) in rows:
            x, y, m, p = self._beats(signal, np.asarray(ann.sample), list(ann.symbol), fs, length)
            xs.append(x), ys.append(y), masks.append(m), peaks.append(p)
            groups += [SAME_SUBJECT.get(name, name)] * len(y)
        x, y, mask = np.concatenate(xs), np.concatenate(ys), np.concatenate(masks)
        record = strings(groups)  # the subject of each window (record name; 202 counts as 201)
        if len(y) == 0:
            raise validate.DataValidationError("mitbih: the annotations hold no beat that fits a whole window.")
        if self.split == "record":
            codes = split_groups(record, self.split_fractions, self.seed)
        else:
            codes = split_stratified(y, self.split_fractions, self.seed)
        fields = rows[0][1][2]
        names = [str(s) for s in fields["sig_name"]]
        units = [str(fields["units"][names.index(c)]) for c in self.channels]
        out = by_split(codes, x=x, y=y, mask=mask, record=record, peak=np.concatenate(peaks))
        out.update({"units": strings(units), "sampling_rate": np.array(fs)})
        return out

    def _beats(self, signal: np.ndarray, samples: np.ndarray, symbols: list[str], fs: float, length: int):
        """Windows [n, C, length], labels, QRS masks and R-peak samples of one record's beats."""
        env = slope_envelope(signal[:, 0], fs)
        beats = [(int(s), lab) for s, sym in zip(samples, symbols, strict=True)
                 if (lab := self.label(sym)) is not None]
        all_peaks = np.array([s for s, sym in zip(samples, symbols, strict=True) if sym in BEAT_SYMBOLS], dtype=int)
        left = length // 2
        xs, ys, ms, ps = [], [], [], []
        for peak, lab in beats:
            a = peak - left
            b = a + length
            if a < 0 or b > len(signal):
                continue
            mask = np.zeros(length, dtype=bool)
            marked = [peak] if self.mask == "centre" else all_peaks[(all_peaks >= a) & (all_peaks < b)]
            for p in marked:
                on, off = qrs_bounds(signal[:, 0], int(p), fs, self.qrs["threshold"], self.qrs["min_s"],
                                     self.qrs["max_s"], self.qrs["fixed_s"], envelope=env)
                mask[max(on - a, 0):max(off - a, 0)] = True
            xs.append(signal[a:b].T.astype(np.float32))
            ys.append(lab)
            ms.append(np.broadcast_to(mask, (signal.shape[1], length)))
            ps.append(peak)
        c = signal.shape[1]
        if not xs:
            return (np.zeros((0, c, length), np.float32), np.zeros(0, np.int64), np.zeros((0, c, length), bool),
                    np.zeros(0, np.int64))
        return np.stack(xs), np.array(ys, dtype=np.int64), np.stack(ms), np.array(ps, dtype=np.int64)

    def make_meta(self, arrays: Mapping[str, np.ndarray]) -> DataMeta:
        x = arrays["train_x"]
        return DataMeta(
            name=self.NAME, task="multiclass", n_channels=x.shape[1], seq_len=x.shape[2],
            n_outputs=len(self.class_names()), channel_names=list(self.channels),
            sampling_rate=float(arrays["sampling_rate"]), units=arrays["units"].tolist(),
            class_names=self.class_names(), has_mask=True, scored_classes=None, domain="ecg")

    @property
    def beat_source(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(record or subject, R-peak sample) of each split's windows."""
        a = self.arrays()
        return {s: (a[f"{s}_record"], a[f"{s}_peak"]) for s in ("train", "val", "test")}
