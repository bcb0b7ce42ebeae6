"""`RealDataModule`: the shared life of a published dataset read from `data_dir` as its publisher ships it.

A subclass names the files it needs (`source_files`, which also checks the layout), the options that change its
arrays (`options`) and parses them (`parse` → `{split}_x`, `{split}_y`, optional `{split}_mask`, plus string arrays
for the meta). Parsed arrays are cached through `tsexplain.data.cache.cached`, keyed by the files (names, sizes,
mtimes), the options and the parser version; the cache is written atomically after a successful parse only, so a
failure never leaves a half-written file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tsexplain.data import validate
from tsexplain.data.cache import cached
from tsexplain.data.datamodule import SPLITS, ArrayDataModule
from tsexplain.data.meta import DataMeta

log = logging.getLogger(__name__)

ECG_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
NAN_POLICIES = ("interpolate", "drop", "fail")


class RealDataWarning(UserWarning):
    """Records skipped while reading a real dataset (corrupt, truncated, missing a channel)."""


def check_choice(option: str, value: Any, choices: Iterable[Any]) -> Any:
    """`value` must be one of `choices`; the error names the option and every valid choice."""
    choices = list(choices)
    if value not in choices:
        raise validate.DataValidationError(
            f"{option}={value!r} is not available; valid choices: {', '.join(map(repr, choices))}.")
    return value


def lead_name(name: str) -> str:
    """The display name of an ECG lead: WFDB headers spell the augmented leads AVR/AVL/AVF."""
    by_upper = {lead.upper(): lead for lead in ECG_LEADS}
    return by_upper.get(str(name).strip().upper(), str(name).strip())


def fingerprint(files: Sequence[Path], root: Path) -> str:
    """Hash of every file's path relative to `root`, size and mtime: a changed, added or removed file changes it."""
    h = hashlib.sha256()
    for f in sorted(files):
        st = os.stat(f)
        try:
            rel = f.relative_to(root)
        except ValueError:
            rel = f
        h.update(f"{rel.as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def strings(values: Iterable[Any]) -> np.ndarray:
    """A unicode array (never an object array: the cache is read with allow_pickle=False)."""
    return np.array([str(v) for v in values], dtype=str)


class RealDataModule(ArrayDataModule):
    """An `ArrayDataModule` over a published dataset in `data_dir`; subclasses provide the class constants and
    `source_files`, `options`, `parse` and `make_meta`."""

    NAME: str = "real"
    URL: str = ""  # the official download page
    LAYOUT: str = ""  # the expected layout of data_dir, shown in every missing-file error
    VERSION: int = 1  # bump when parsing changes, so old caches are not reused

    def __init__(
        self,
        data_dir: str | Path | None,
        cache_dir: str | Path | None = None,
        seed: int = 0,
        max_bad_fraction: float = 0.05,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        standardize: bool = True,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                         standardize=standardize, shuffle_seed=seed)
        self.data_dir = None if data_dir in (None, "") else Path(str(data_dir)).expanduser()
        self.cache_dir = cache_dir
        self.seed = int(seed)
        if not 0.0 <= float(max_bad_fraction) < 1.0:
            raise validate.DataValidationError(
                f"max_bad_fraction={max_bad_fraction} must be in [0, 1): the share of records that may be skipped "
                "as unreadable before loading fails.")
        self.max_bad_fraction = float(max_bad_fraction)
        self._arrays: dict[str, np.ndarray] | None = None

    # -- what subclasses provide ---------------------------------------------------------------------------
    def source_files(self) -> list[Path]:
        """Every file the parse reads (checked to exist: a missing one raises `missing`)."""
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """Every option that changes the parsed arrays (part of the cache key)."""
        raise NotImplementedError

    def parse(self) -> dict[str, np.ndarray]:
        """Read the files into `{split}_x`, `{split}_y` (and `{split}_mask`) plus the meta's string arrays."""
        raise NotImplementedError

    def make_meta(self, arrays: Mapping[str, np.ndarray]) -> DataMeta:
        raise NotImplementedError

    # -- shared machinery ----------------------------------------------------------------------------------
    def root(self) -> Path:
        """`data_dir`, which must exist; otherwise the error shows the expected layout and the download page."""
        if self.data_dir is None:
            raise validate.MissingDataFileError(
                f"dataset={self.NAME} needs dataset.data_dir: the folder holding the data as published.\n"
                f"{self.layout_help()}")
        if not self.data_dir.is_dir():
            raise validate.MissingDataFileError(
                f"dataset.data_dir={str(self.data_dir)!r} is not a folder.\n{self.layout_help()}")
        return self.data_dir

    def layout_help(self) -> str:
        return (f"Expected layout of dataset.data_dir (as {self.NAME} is published, nothing renamed):\n"
                f"{self.LAYOUT.rstrip()}\nDownload: {self.URL}")

    def missing(self, path: Path, what: str = "file") -> validate.MissingDataFileError:
        return validate.MissingDataFileError(
            f"{self.NAME}: {what} {str(path)!r} does not exist.\n{self.layout_help()}")

    def require(self, *relative: str | Path) -> list[Path]:
        """Paths under `data_dir` that must exist."""
        root = self.root()
        out = []
        for rel in relative:
            p = root / rel
            if not p.exists():
                raise self.missing(p, "folder" if not Path(rel).suffix else "file")
            out.append(p)
        return out

    def cache_params(self) -> dict[str, Any]:
        files = self.source_files()
        root = self.data_dir if self.data_dir is not None else Path("/")
        return {"dataset": self.NAME, "version": self.VERSION, "options": self.options(),
                "files": fingerprint(files, root), "n_files": len(files)}

    def arrays(self) -> dict[str, np.ndarray]:
        """The parsed arrays: from the cache when the files and options are unchanged, else parsed and cached."""
        if self._arrays is None:
            self._arrays = cached(self.parse, self.cache_params(), self.cache_dir, prefix=self.NAME)
        return self._arrays

    def prepare_data(self) -> None:
        if self.cache_dir is not None:  # parse once (rank 0); every process's setup() then reads the cache
            self.arrays()

    def load(self) -> tuple[dict[str, dict[str, np.ndarray]], DataMeta]:
        arrays = self.arrays()
        meta = self.make_meta(arrays)
        splits = {}
        for s in SPLITS:
            splits[s] = {k: arrays[f"{s}_{k}"] for k in ("x", "y", "mask") if f"{s}_{k}" in arrays}
        sizes = {s: len(splits[s]["x"]) for s in SPLITS}
        empty = [s for s, n in sizes.items() if n == 0]
        if empty:
            raise validate.DataValidationError(
                f"{self.NAME}: with these options the {'/'.join(empty)} split holds no sample (sizes {sizes}); use "
                "more data, or other split options (folds, fractions, subjects) or labels.")
        return splits, meta

    def read_all(self, ids: Sequence[Any], reader: Callable[[Any], Any], what: str = "records") -> list[tuple]:
        """`reader(id)` for every id; unreadable ones (corrupt, truncated, wrong shape: any exception from the
        reader) are skipped with a warning that counts them; more than `max_bad_fraction` of them fails."""
        ok, bad = [], []
        for i in ids:
            try:
                ok.append((i, reader(i)))
            except (OSError, ValueError, EOFError, KeyError, IndexError, TypeError) as err:
                bad.append((i, f"{type(err).__name__}: {err}"))
        if bad:
            shown = "; ".join(f"{i} ({e[:120]})" for i, e in bad[:5]) + (" ..." if len(bad) > 5 else "")
            msg = (f"{self.NAME}: {len(bad)} of {len(ids)} {what} could not be read and were skipped: {shown}")
            if len(bad) > self.max_bad_fraction * len(ids):
                raise validate.DataValidationError(
                    f"{msg}. That is more than dataset.max_bad_fraction={self.max_bad_fraction} of them: check the "
                    f"download (unpack it again from {self.URL}) or raise max_bad_fraction.")
            log.warning("%s", msg)
            warnings.warn(msg, RealDataWarning, stacklevel=2)
        return ok


# -- array helpers shared by the loaders -----------------------------------------------------------------------
def fill_nans(values: np.ndarray, policy: str, names: Sequence[str], where: str) -> np.ndarray:
    """Apply the NaN policy to a [T, C] array before windowing: `interpolate` linearly along time (edges take the
    nearest value), `fail` on any NaN; `drop` leaves them for `drop_nan_windows`."""
    check_choice("dataset.nan_policy", policy, NAN_POLICIES)
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    counts = {names[c]: int(n) for c, n in enumerate(bad.sum(axis=0)) if n}
    if policy == "fail":
        raise validate.DataValidationError(
            f"{where} has NaN/missing values in {len(counts)} column(s) {dict(list(counts.items())[:8])}; set "
            "dataset.nan_policy=interpolate (linear in time) or drop (windows holding a NaN are removed).")
    if policy == "drop":
        return values
    out = values.astype(np.float64, copy=True)
    t = np.arange(len(out))
    for c in range(out.shape[1]):
        ok = ~bad[:, c]
        if not ok.any():
            raise validate.DataValidationError(
                f"{where}: column {names[c]!r} has no value at all, nothing to interpolate from; leave it out of the "
                "channels or drop this file.")
        if not ok.all():
            out[~ok, c] = np.interp(t[~ok], t[ok], out[ok, c])
    return out


def windows(values: np.ndarray, target: np.ndarray | None, first: int, stop: int, length: int, horizon: int,
            stride: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Sliding windows of `values` [T, C] → x [N, C, length] starting at first, first+stride, ..., and the target at
    `horizon` steps after each window's last step (target index < stop)."""
    last_start = stop - length - horizon
    starts = np.arange(max(first, 0), last_start + 1, stride)
    if len(starts) == 0:
        return np.zeros((0, values.shape[1], length), np.float32), (None if target is None else np.zeros(0))
    view = np.lib.stride_tricks.sliding_window_view(values, length, axis=0)  # [T - length + 1, C, length]
    x = view[starts].astype(np.float32)
    y = None if target is None else target[starts + length - 1 + horizon].astype(np.float32)
    return x, y


def drop_nan_windows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Windows (and their targets) holding no NaN, and how many were removed."""
    keep = np.isfinite(x).all(axis=(1, 2)) & np.isfinite(y.reshape(len(y), -1)).all(axis=1)
    return x[keep], y[keep], int((~keep).sum())


def fit_length(signal: np.ndarray, length: int, crop: str) -> np.ndarray:
    """A [T, C] signal cropped (`start`: keep the first `length` steps; `center`: the middle ones) or zero-padded at
    the end to `length`; returned as [C, length]."""
    check_choice("dataset.crop", crop, ("start", "center"))
    t = len(signal)
    if t >= length:
        a = 0 if crop == "start" else (t - length) // 2
        return np.ascontiguousarray(signal[a:a + length].T)
    out = np.zeros((signal.shape[1], length), dtype=signal.dtype)
    out[:, :t] = signal.T
    return out


def split_groups(groups: np.ndarray, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Split codes 0/1/2 (train/val/test) per sample so that no group (record, patient, subject) is in two splits:
    a seeded shuffle of the groups, cut by the fractions (at least one group in each split)."""
    fr = validate.check_split_fractions(fractions)
    uniq = np.unique(groups)
    if len(uniq) < 3:
        raise validate.DataValidationError(
            f"a group-wise split needs at least 3 groups (records/subjects), found {len(uniq)}: {uniq.tolist()}; "
            "give more data or use the sample-wise split option.")
    order = np.random.default_rng(seed).permutation(uniq)
    n_val = max(1, int(round(fr[1] * len(uniq))))
    n_test = max(1, int(round(fr[2] * len(uniq))))
    n_train = len(uniq) - n_val - n_test
    if n_train < 1:
        n_train, n_val = 1, len(uniq) - 1 - n_test
    code = {g: 0 for g in order[:n_train]}
    code.update({g: 1 for g in order[n_train:n_train + n_val]})
    code.update({g: 2 for g in order[n_train + n_val:]})
    return np.array([code[g] for g in groups], dtype=np.int64)


def split_stratified(y: np.ndarray, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Split codes 0/1/2 per sample, stratified by class when every class can be (plain seeded split otherwise)."""
    from sklearn.model_selection import train_test_split

    fr = validate.check_split_fractions(fractions)
    idx = np.arange(len(y))
    if len(y) < 3:
        raise validate.DataValidationError(f"{len(y)} sample(s) cannot be split into train/val/test; give more data.")

    def cut(i, labels, size, s):
        try:
            return train_test_split(i, test_size=size, random_state=s, stratify=labels)
        except ValueError:  # a class too small to stratify: a plain seeded split
            pass
        try:
            return train_test_split(i, test_size=size, random_state=s)
        except ValueError:
            raise validate.DataValidationError(
                f"{len(y)} samples (per class {np.bincount(y).tolist()}) cannot be split by the fractions "
                f"{list(fr)} into non-empty train/val/test; give more data or other fractions.") from None

    train, rest = cut(idx, y, fr[1] + fr[2], seed)
    val, test = cut(rest, y[rest], fr[2] / (fr[1] + fr[2]), seed + 1)
    codes = np.zeros(len(y), dtype=np.int64)
    codes[val], codes[test] = 1, 2
    return codes


def by_split(codes: np.ndarray, **arrays: np.ndarray) -> dict[str, np.ndarray]:
    """`{split}_{name}` arrays from per-sample split codes 0/1/2."""
    out = {}
    for i, s in enumerate(SPLITS):
        rows = np.nonzero(codes == i)[0]
        for name, a in arrays.items():
            out[f"{s}_{name}"] = a[rows]
    return out
