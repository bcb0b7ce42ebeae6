"""Input checks shared by all datamodules: each failure names the problem and how to fix it.

They run in `setup()`, so a bad file fails in seconds, before any training starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

TASKS = ("multiclass", "multilabel", "regression")
SPLIT_NAMES = ("train", "val", "test")


class DataValidationError(ValueError):
    """Raised when user data cannot be used as given; the message says what to change."""


class MissingDataFileError(DataValidationError, FileNotFoundError):
    """A data file does not exist (a ValueError for callers that catch those, a FileNotFoundError too)."""


def check_task(task: str) -> str:
    if task not in TASKS:
        raise DataValidationError(f"task={task!r} is unknown; use one of {', '.join(TASKS)}.")
    return task


def check_file(path: str | Path, contents: str) -> Path:
    """`path` must be an existing file; `contents` tells the user what the file must hold."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingDataFileError(
            f"data file {str(p)!r} does not exist; give the path of a file holding {contents}."
        )
    return p


def check_keys(present: Iterable[str], required: Sequence[str], source: str) -> None:
    missing = [k for k in required if k not in set(present)]
    if missing:
        raise DataValidationError(
            f"{source} has no key(s) {missing}; keys present: {sorted(present)}. "
            "Save the arrays under these names (np.savez(path, x=..., y=...)) "
            "or point the *_key options at them."
        )


def check_finite(a: np.ndarray, name: str) -> None:
    """No NaN or inf in a numeric array; the message gives the count and the first bad index."""
    if not np.issubdtype(a.dtype, np.number) and a.dtype != bool:
        raise DataValidationError(f"{name} has dtype {a.dtype}; it must be numeric (float or int).")
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataValidationError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s), the first at index {first}; impute them "
            "(e.g. forward-fill or interpolate along time) or drop those samples before loading."
        )


def check_x(x: np.ndarray, name: str = "x") -> None:
    """x must be a finite numeric array of shape (N, C, T)."""
    if x.ndim != 3:
        hint = f" For a univariate series use {name}[:, None, :]." if x.ndim == 2 else ""
        raise DataValidationError(
            f"{name} has shape {tuple(x.shape)} (rank {x.ndim}); "
            "expected rank 3: (N samples, C channels, T steps)." + hint
        )
    if min(x.shape) == 0:
        raise DataValidationError(f"{name} has shape {tuple(x.shape)} with an empty axis; give at least one "
                                  "sample, channel and time step.")
    check_finite(x, name)


def check_model_input(x32: np.ndarray, file_dtype: np.dtype, name: str, standardized: bool = False) -> None:
    """The data as the model receives it (float32, standardised when asked) must be finite too: a value finite
    in the file's dtype can overflow the cast (float64 1e300 → inf) or the standardisation."""
    bad = ~np.isfinite(x32)
    if not bad.any():
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    how = "float32" + (" and standardised per channel" if standardized else "")
    raise DataValidationError(
        f"{name} is finite in the file (dtype {file_dtype}) but {int(bad.sum())} value(s) are NaN/inf as the "
        f"model receives it ({how}), the first at index {first}: they exceed float32's range (±3.4e38). Rescale "
        "the data (e.g. to unit scale, or clip outliers) before saving it.")


def check_lengths(n: int, **arrays: np.ndarray | None) -> None:
    """Every given array has `n` rows (one per sample of x)."""
    for name, a in arrays.items():
        if a is not None and len(a) != n:
            raise DataValidationError(
                f"x has {n} samples but {name} has {len(a)}; give one {name} entry per sample."
            )


def check_mask(mask: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """A ground-truth mask has x's shape and binary values; returns it as bool."""
    if tuple(mask.shape) != tuple(x_shape):
        raise DataValidationError(
            f"mask has shape {tuple(mask.shape)} but x has {tuple(x_shape)}; the mask marks "
            "(sample, channel, time) points of x and must have exactly its shape."
        )
    if mask.dtype != bool:
        check_finite(mask, "mask")
        if not np.all((mask == 0) | (mask == 1)):
            raise DataValidationError("mask has values other than 0/1; threshold it into a binary mask.")
    return mask.astype(bool)


def check_labels(y: np.ndarray, task: str, n_classes: int | None = None) -> np.ndarray:
    """Labels fit the task; returns int64 [N] (multiclass) or float32 [N, L] (multilabel, regression)."""
    check_task(task)
    check_finite(y, "y")
    if task == "multiclass":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise DataValidationError(
                f"y has shape {tuple(y.shape)}; multiclass labels are one class index per sample, "
                "shape (N,). For one-hot labels pass y.argmax(1); for several labels per sample "
                "use task='multilabel'."
            )
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataValidationError(
                "y has non-integer values; multiclass labels must be class indices 0..K-1 "
                "(use task='regression' for continuous targets)."
            )
        y = y.astype(np.int64)
        if n_classes is not None and (y.min() < 0 or y.max() >= n_classes):
            raise DataValidationError(
                f"y has labels in [{y.min()}, {y.max()}], outside [0, {n_classes}); relabel the classes as "
                f"0..{n_classes - 1} (e.g. np.unique(y, return_inverse=True)[1])."
            )
        if y.min() < 0:
            raise DataValidationError(f"y has negative labels (min {y.min()}); relabel classes as 0..K-1.")
        return y
    if y.ndim == 1:
        if task == "multilabel":
            raise DataValidationError(
                f"y has shape {tuple(y.shape)}; multilabel targets are (N, L) 0/1 indicators."
            )
        y = y[:, None]
    if y.ndim != 2:
        raise DataValidationError(f"y has shape {tuple(y.shape)}; {task} targets must be (N, K).")
    if task == "multilabel" and not np.all((y == 0) | (y == 1)):
        raise DataValidationError("multilabel y must hold 0/1 indicators; threshold or binarise the targets.")
    return y.astype(np.float32)


def check_split_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Three positive fractions (train, val, test) summing to 1."""
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(not np.isfinite(f) or f <= 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise DataValidationError(
            f"split_fractions={list(fractions)} is invalid; give three positive fractions (train, val, test) "
            "that sum to 1, e.g. [0.7, 0.15, 0.15]."
        )
    return fr  # type: ignore[return-value]


def split_codes(split: np.ndarray, n: int) -> np.ndarray:
    """Map a per-sample split array (strings train/val/test or ints 0/1/2) to int codes 0/1/2."""
    split = np.asarray(split)
    if split.ndim != 1 or len(split) != n:
        raise DataValidationError(
            f"split has shape {tuple(split.shape)}; give one entry per sample, shape ({n},)."
        )
    if split.dtype.kind in "US":
        names = np.char.lower(np.char.strip(split.astype(str)))
        bad = sorted(set(names.tolist()) - set(SPLIT_NAMES))
        if bad:
            raise DataValidationError(f"split has values {bad[:5]}; use 'train', 'val' or 'test' (or 0/1/2).")
        codes = np.array([SPLIT_NAMES.index(s) for s in names.tolist()], dtype=np.int64)
    elif split.dtype.kind in "iub":
        codes = split.astype(np.int64)
        bad = sorted(set(codes.tolist()) - {0, 1, 2})
        if bad:
            raise DataValidationError(f"split has values {bad[:5]}; use 0 (train), 1 (val), 2 (test) "
                                      "or the strings 'train'/'val'/'test'.")
    else:
        raise DataValidationError(
            f"split has dtype {split.dtype}; use strings 'train'/'val'/'test' or ints 0/1/2."
        )
    return codes.astype(np.int64)


def check_nonempty(sizes: Mapping[str, int]) -> None:
    """Every split has at least one sample."""
    empty = [name for name, size in sizes.items() if size == 0]
    if empty:
        raise DataValidationError(
            f"split(s) {empty} are empty (sizes {dict(sizes)}); give each of train/val/test at least "
            "one sample (change the split array or split_fractions)."
        )
