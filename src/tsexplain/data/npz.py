"""`NpzDataModule`: the user's own data from one `.npz` file (x, y and optional mask, names, units, split)."""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from tsexplain.data import validate
from tsexplain.data.datamodule import SPLITS, ArrayDataModule
from tsexplain.data.meta import DataMeta

CONTENTS = (
    "x (N, C, T) and y (N,) class indices [or (N, L)/(N, K) for multilabel/regression], optionally mask "
    "(N, C, T), channel_names, units, class_names, sampling_rate and split ('train'/'val'/'test' or 0/1/2) "
    "— written with np.savez(path, x=x, y=y, ...)"
)


def split_sizes(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """Train/val/test sizes the two seeded splits give for n samples (sklearn rounds each test part up)."""
    _, f_val, f_test = fractions
    rest = math.ceil(n * (f_val + f_test))
    test = math.ceil(rest * f_test / (f_val + f_test))
    return n - rest, rest - test, test


class NpzDataModule(ArrayDataModule):
    """A `.npz` file's arrays, split by its `split` array if present, else by seeded, stratified fractions."""

    def __init__(
        self,
        path: str | Path,
        task: str = "multiclass",
        split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
        seed: int = 0,
        standardize: bool = True,
        x_key: str = "x",
        y_key: str = "y",
        mask_key: str = "mask",
        split_key: str = "split",
        name: str | None = None,
        n_outputs: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                         standardize=standardize, shuffle_seed=seed)
        self.path = Path(path)
        self.task = validate.check_task(task)
        self.split_fractions = validate.check_split_fractions(split_fractions)
        self.seed = int(seed)
        self.keys = {"x": x_key, "y": y_key, "mask": mask_key, "split": split_key}
        self.name = name or self.path.stem
        self.n_outputs = n_outputs
        self._source_index: dict[str, np.ndarray] = {}

    @property
    def source_index(self) -> dict[str, np.ndarray]:
        """Row numbers in the file of each split's samples (batch `index` = position within the split)."""
        if not self._source_index:
            self.setup()
        return self._source_index

    def _read(self) -> dict[str, np.ndarray]:
        path = validate.check_file(self.path, CONTENTS)
        fix = f"write it with np.savez(path, x=x, y=y, ...); it must hold {CONTENTS}"
        with open(path, "rb") as f:
            head = f.read(6)
        if head.startswith(b"\x93NUMPY"):
            raise validate.DataValidationError(f"{path} is a .npy file (one array), not a .npz archive; {fix}.")
        if not head.startswith(b"PK\x03\x04"):
            what = "empty" if not head else f"starts with bytes {head!r}, not a zip archive's PK\\x03\\x04"
            raise validate.DataValidationError(f"{path} is not a .npz file ({what}); {fix}.")
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except ValueError as err:
            if "pickle" not in str(err):  # a member that is not a valid .npy
                raise validate.DataValidationError(f"{path} is a damaged .npz ({err}); {fix}.") from err
            # object arrays need pickle, which we refuse for safety
            raise validate.DataValidationError(
                f"{path} holds an object array ({err}); save strings as np.array(list_of_str) and numbers "
                "as numeric arrays, not lists of objects."
            ) from err
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as err:
            raise validate.DataValidationError(
                f"{path} is truncated or corrupted, not a readable .npz ({type(err).__name__}: {err}); copy it "
                f"again or {fix}.") from err

    def _split_indices(self, data: dict[str, np.ndarray], y: np.ndarray) -> dict[str, np.ndarray]:
        n = len(y)
        if self.keys["split"] in data:
            codes = validate.split_codes(data[self.keys["split"]], n)
            parts = {name: np.nonzero(codes == i)[0] for i, name in enumerate(SPLITS)}
            self._check_train_classes(y, parts["train"], "the file's split array")
            return parts
        sizes = split_sizes(n, self.split_fractions)
        if min(sizes) < 1:
            need = next(m for m in range(3, 100_000) if min(split_sizes(m, self.split_fractions)) >= 1)
            raise validate.DataValidationError(
                f"the file has {n} sample(s): split by fractions {list(self.split_fractions)} that gives "
                f"train/val/test = {'/'.join(map(str, sizes))} samples, and every split needs at least one. Give at "
                f"least {need} samples, other fractions (dataset.split_fractions), or a split array in the file.")
        f_train, f_val, f_test = self.split_fractions
        idx = np.arange(n)
        train, rest = self._split(idx, y, test_size=f_val + f_test, seed=self.seed)
        val, test = self._split(rest, y[rest], test_size=f_test / (f_val + f_test), seed=self.seed + 1)
        self._check_train_classes(y, train, f"fractions {list(self.split_fractions)}")
        return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}

    def _check_train_classes(self, y: np.ndarray, train: np.ndarray, how: str) -> None:
        """Every class the file holds must be in the train split (a model never learns a class it never saw)."""
        if self.task != "multiclass":
            return
        missing = sorted(set(np.unique(y).tolist()) - set(np.unique(y[train]).tolist()))
        if missing:
            counts = {int(c): int(k) for c, k in zip(*np.unique(y, return_counts=True), strict=True)}
            raise validate.DataValidationError(
                f"class(es) {missing} have no sample in the train split of {len(y)} samples split by {how} "
                f"(samples per class: {counts}), so the model could never learn them. Give more samples of them, a "
                "larger train fraction (dataset.split_fractions), or a split array with them in train.")

    def _split(self, idx: np.ndarray, y: np.ndarray, test_size: float,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
        """sklearn split of `idx`, stratified by class when every class has enough members for it."""
        stratify = y if self.task == "multiclass" else None
        try:
            return tuple(train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify))
        except ValueError:
            if stratify is None:
                raise validate.DataValidationError(
                    f"cannot split {len(idx)} samples with fractions {list(self.split_fractions)}; "
                    "give more samples, other fractions, or a split array."
                ) from None
        # Some class too small to stratify: fall back to a plain seeded split.
        try:
            return tuple(train_test_split(idx, test_size=test_size, random_state=seed))
        except ValueError as err:
            raise validate.DataValidationError(
                f"cannot split {len(idx)} samples with fractions {list(self.split_fractions)} ({err}); "
                "give more samples, other fractions, or a split array."
            ) from None

    def load(self) -> tuple[dict[str, dict[str, np.ndarray]], DataMeta]:
        data = self._read()
        validate.check_keys(list(data), [self.keys["x"], self.keys["y"]], str(self.path))
        x, y = data[self.keys["x"]], data[self.keys["y"]]
        validate.check_x(x)
        mask = data.get(self.keys["mask"])
        validate.check_lengths(len(x), y=y, mask=mask)
        if mask is not None:
            mask = validate.check_mask(mask, x.shape)
        class_names = _strings(data, "class_names")
        y = validate.check_labels(y, self.task, self.n_outputs if self.task == "multiclass" else None)
        n_outputs = self._n_outputs(y, class_names)
        if self.task == "multiclass" and len(np.unique(y)) < 2:
            raise validate.DataValidationError(
                f"{self.path}: y holds a single class ({int(np.unique(y)[0])}) in all {len(y)} samples; a classifier "
                "needs at least 2 classes to learn and to explain. Add samples of the other classes, or use "
                "dataset.task=regression for a continuous target.")
        if self.task == "multiclass":
            validate.check_labels(y, self.task, n_outputs)
        index = self._split_indices(data, y if self.task == "multiclass" else np.zeros(len(y)))
        validate.check_nonempty({k: len(v) for k, v in index.items()})
        self._source_index = index
        splits = {}
        for name, rows in index.items():
            splits[name] = {"x": x[rows], "y": y[rows]}
            if mask is not None:
                splits[name]["mask"] = mask[rows]
        units = _strings(data, "units")
        if units is not None and len(units) != x.shape[1]:
            raise validate.DataValidationError(f"units has {len(units)} entries for {x.shape[1]} channels; "
                                               "give one unit string per channel.")
        meta = DataMeta(
            name=self.name,
            task=self.task,  # type: ignore[arg-type]
            n_channels=x.shape[1],
            seq_len=x.shape[2],
            n_outputs=n_outputs,
            channel_names=_strings(data, "channel_names") or [],
            sampling_rate=_sampling_rate(data),
            units=units,
            class_names=class_names,
            has_mask=mask is not None,
            scored_classes=None,
        )
        return splits, meta

    def _n_outputs(self, y: np.ndarray, class_names: list[str] | None) -> int:
        if self.n_outputs is not None:
            return int(self.n_outputs)
        if self.task != "multiclass":
            return int(y.shape[1])
        if class_names is not None:
            if int(y.max()) >= len(class_names):
                raise validate.DataValidationError(
                    f"y has labels in [0, {int(y.max())}], outside [0, {len(class_names)}); relabel them, or give "
                    f"one class name per class in label order: class_names in {self.path} has {len(class_names)} "
                    f"name(s) {class_names[:10]} for {int(y.max()) + 1} classes.")
            return len(class_names)
        present = np.unique(y)
        missing = sorted(set(range(int(y.max()) + 1)) - set(present.tolist()))
        if missing:
            # Inferring K = max + 1 would invent empty classes (labels 5..7 → 8 classes, 5 never seen).
            raise validate.DataValidationError(
                f"y has labels {present.tolist()[:10]} but no sample of class(es) {missing[:10]}; multiclass "
                "labels must be 0..K-1. Relabel with np.unique(y, return_inverse=True)[1], or set "
                "dataset.n_outputs=K (or class_names in the file) if some classes are truly absent."
            )
        return int(y.max()) + 1


def _strings(data: dict[str, np.ndarray], key: str) -> list[str] | None:
    """An optional array of strings from the file as a list (None when absent)."""
    if key not in data:
        return None
    return [str(s) for s in np.atleast_1d(data[key]).tolist()]


def _sampling_rate(data: dict[str, np.ndarray]) -> float:
    if "sampling_rate" not in data:
        return 1.0
    rate = np.asarray(data["sampling_rate"]).reshape(-1)
    if rate.size != 1 or not np.isfinite(rate[0]) or rate[0] <= 0:
        raise validate.DataValidationError(f"sampling_rate={rate.tolist()} must be one positive number (Hz).")
    return float(rate[0])
