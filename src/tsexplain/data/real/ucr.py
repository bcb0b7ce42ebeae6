"""UCR (univariate) and UEA (multivariate) archive datasets from their `.ts` files, read by aeon.

With `data_dir`, `<data_dir>/<name>/<name>_TRAIN.ts` and `_TEST.ts` (the archives' zip layout) are read with aeon's
`load_from_ts_file`. Without it, only the datasets aeon ships inside its wheel are accepted (`bundled()`): we read
their files directly and never call aeon's downloader, so no network access is ever attempted. The archive's TRAIN
file is split into train and a stratified, seeded validation part (`val_fraction`); TEST is the test split.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tsexplain.data import validate
from tsexplain.data.meta import DataMeta
from tsexplain.data.real.base import RealDataModule, check_choice, fill_nans, fit_length, strings

ARCHIVES = {
    "ucr": ("UCR", "https://www.cs.ucr.edu/~eamonn/time_series_data_2018/ or "
                   "https://www.timeseriesclassification.com/dataset.php (Univariate .ts zip)"),
    "uea": ("UEA", "https://www.timeseriesclassification.com/dataset.php (Multivariate .ts zip)"),
}


@cache
def bundled() -> dict[str, Path]:
    """Classification/regression datasets inside the installed aeon wheel: name → folder with both .ts files."""
    import aeon.datasets

    root = Path(aeon.datasets.__file__).parent / "data"
    return {p.name: p for p in sorted(root.iterdir())
            if (p / f"{p.name}_TRAIN.ts").is_file() and (p / f"{p.name}_TEST.ts").is_file() and p.name != "UnitTest"}


class UCRDataModule(RealDataModule):
    """One UCR/UEA archive dataset by name (default GunPoint, bundled with aeon)."""

    NAME = "ucr"
    VERSION = 1

    def __init__(
        self,
        name: str = "GunPoint",
        data_dir: str | Path | None = None,
        archive: str = "ucr",
        val_fraction: float = 0.2,
        length: int | None = None,
        crop: str = "start",
        equal_length: bool = True,
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
        self.name = str(name)
        self.archive = check_choice("dataset.archive", archive, ARCHIVES)
        self.NAME = self.archive
        self.URL = ARCHIVES[self.archive][1]
        if not 0.0 < float(val_fraction) < 1.0:
            raise validate.DataValidationError(f"dataset.val_fraction={val_fraction} must be in (0, 1): the share "
                                               "of the archive's TRAIN file held out for validation.")
        self.val_fraction = float(val_fraction)
        self.length = None if length is None else int(length)
        self.crop = check_choice("dataset.crop", crop, ("start", "center"))
        self.equal_length = bool(equal_length)
        self.nan_policy = check_choice("dataset.nan_policy", nan_policy, ("interpolate", "fail"))
        self.LAYOUT = f"""\
<data_dir>/                      e.g. Univariate_ts/ (UCR) or Multivariate_ts/ (UEA)
    {self.name}/{self.name}_TRAIN.ts
    {self.name}/{self.name}_TEST.ts     ({self.name}_eq_TRAIN.ts/_eq_TEST.ts are used for unequal-length sets)"""

    def folder(self) -> Path:
        if self.data_dir is None:
            found = bundled()
            if self.name not in found:
                raise validate.MissingDataFileError(
                    f"dataset.name={self.name!r} is not shipped inside aeon (bundled: {', '.join(found)}) and no "
                    f"dataset.data_dir is set. Download the {ARCHIVES[self.archive][0]} archive from {self.URL}, "
                    f"unpack it and set dataset.data_dir=<folder holding {self.name}/>. Nothing is downloaded "
                    f"for you.\n{self.layout_help()}")
            return found[self.name]
        root = self.root()
        for candidate in (root / self.name, root):
            if (candidate / f"{self.name}_TRAIN.ts").is_file():
                return candidate
        raise self.missing(root / self.name / f"{self.name}_TRAIN.ts")

    def files(self) -> tuple[Path, Path]:
        folder = self.folder()
        stem = self.name
        if self.equal_length and (folder / f"{stem}_eq_TRAIN.ts").is_file():
            stem = f"{stem}_eq"
        train, test = folder / f"{stem}_TRAIN.ts", folder / f"{stem}_TEST.ts"
        for f in (train, test):
            if not f.is_file():
                raise self.missing(f)
        return train, test

    def source_files(self) -> list[Path]:
        return list(self.files())

    def options(self) -> dict[str, Any]:
        return {"name": self.name, "val_fraction": self.val_fraction, "length": self.length, "crop": self.crop,
                "equal_length": self.equal_length, "nan_policy": self.nan_policy, "seed": self.seed}

    def _read(self, path: Path) -> tuple[list[np.ndarray] | np.ndarray, np.ndarray, dict]:
        from aeon.datasets import load_from_ts_file

        fix = f"unpack it again from {self.URL}"
        try:
            x, y, meta = load_from_ts_file(str(path), return_meta_data=True)
        except (OSError, ValueError, IndexError, KeyError, TypeError) as err:
            raise validate.DataValidationError(
                f"{self.NAME}: {path} is not a readable .ts file ({type(err).__name__}: {err}); {fix}.") from err
        if len(x) == 0 or len(x) != len(y) or any(np.asarray(a).size == 0 for a in x):
            raise validate.DataValidationError(
                f"{self.NAME}: {path} is not a readable .ts file: {len(x)} series for {len(y)} labels after its "
                f"@data line; {fix}.")
        return x, y, meta

    def _series(self, data, path: Path) -> np.ndarray:
        """[N, C, T] float64 from aeon's array or list of [C, T_i] arrays (cropped/padded to `length`)."""
        if isinstance(data, np.ndarray) and data.ndim == 3 and self.length in (None, data.shape[2]):
            return data.astype(np.float64)
        lengths = sorted({int(a.shape[-1]) for a in data})
        if self.length is None:
            raise validate.DataValidationError(
                f"{self.NAME}: {path.name} holds series of different lengths ({lengths[0]}–{lengths[-1]}); set "
                f"dataset.length=<steps> to crop/zero-pad them (dataset.crop=start|center), or use the archive's "
                f"{self.name}_eq_*.ts files (dataset.equal_length=true picks them when present).")
        return np.stack([fit_length(np.asarray(a, dtype=np.float64).T, self.length, self.crop) for a in data])

    def parse(self) -> dict[str, np.ndarray]:
        train_path, test_path = self.files()
        (xtr, ytr, meta), (xte, yte, _) = self._read(train_path), self._read(test_path)
        xtr, xte = self._series(xtr, train_path), self._series(xte, test_path)
        if xtr.shape[1:] != xte.shape[1:]:
            raise validate.DataValidationError(
                f"{self.NAME}: TRAIN has (C, T) = {xtr.shape[1:]} but TEST {xte.shape[1:]}; set dataset.length.")
        names = [f"ch{i}" for i in range(xtr.shape[1])]
        fixed = []
        for path, x in ((train_path, xtr), (test_path, xte)):
            n_bad = int((~np.isfinite(x)).sum())
            if n_bad and self.nan_policy == "fail":
                raise validate.DataValidationError(
                    f"{self.NAME}: {path.name} has {n_bad} missing value(s); set dataset.nan_policy=interpolate "
                    "(linear in time within each series) or use the archive's _nmv files.")
            fixed.append(np.stack([fill_nans(s.T, "interpolate", names, path.name).T for s in x]) if n_bad else x)
        xtr, xte = fixed
        classification = bool(meta.get("classlabel", True))
        if classification:
            classes = [str(c) for c in meta.get("class_values") or sorted(set(ytr.tolist()) | set(yte.tolist()))]
            unknown = sorted(set(map(str, ytr.tolist() + yte.tolist())) - set(classes))
            if unknown:
                raise validate.DataValidationError(f"{self.NAME}: labels {unknown[:5]} are not among the header's "
                                                   f"@classLabel values {classes}.")
            ytr = np.array([classes.index(str(v)) for v in ytr], dtype=np.int64)
            yte = np.array([classes.index(str(v)) for v in yte], dtype=np.int64)
        else:
            classes = []
            ytr, yte = ytr.astype(np.float32), yte.astype(np.float32)
        train, val = self._holdout(ytr if classification else np.zeros(len(ytr), dtype=np.int64))
        return {
            "train_x": xtr[train].astype(np.float32), "train_y": ytr[train],
            "val_x": xtr[val].astype(np.float32), "val_y": ytr[val],
            "test_x": xte.astype(np.float32), "test_y": yte,
            "class_names": strings(classes), "task": np.array("multiclass" if classification else "regression"),
        }

    def _holdout(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(y))
        if len(y) < 2:
            raise validate.DataValidationError(f"{self.NAME}: {self.name}_TRAIN.ts has {len(y)} series; at least 2 "
                                               "are needed to hold out a validation part.")
        try:
            train, val = train_test_split(idx, test_size=self.val_fraction, random_state=self.seed, stratify=y)
        except ValueError:  # a class with a single series: plain seeded split
            train, val = train_test_split(idx, test_size=self.val_fraction, random_state=self.seed)
        return np.sort(train), np.sort(val)

    def make_meta(self, arrays: Mapping[str, np.ndarray]) -> DataMeta:
        x = arrays["train_x"]
        task = str(arrays["task"])
        classes = arrays["class_names"].tolist()
        c = x.shape[1]
        return DataMeta(
            name=self.name, task=task, n_channels=c, seq_len=x.shape[2],  # type: ignore[arg-type]
            n_outputs=len(classes) if task == "multiclass" else 1,
            channel_names=["value"] if c == 1 else [f"dim{i}" for i in range(c)], sampling_rate=1.0,
            class_names=classes if task == "multiclass" else None)
