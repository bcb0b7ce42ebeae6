"""Progress bars (tqdm, on stderr) for the long loops outside Lightning: attribution over the test set, DTW
alignment, deletion/insertion curves, the robustness study, the sanity cascade, T5 generation, the report's folders.

One switch, the environment variable `TSX_PROGRESS` (it reaches every job, joblib worker and the report CLI
alike): unset or `auto` — bars when stderr is a terminal; `1` — bars even when it is not (a log file, CI); `0` —
none (and no sweep progress lines, `tsexplain.utils.sweep_progress`). A bar shows only for a loop of at least
`min_total` steps still running after `DELAY_S` seconds, and on auto never inside the jobs of a parallel launcher
(joblib, submitit), whose bars would draw over each other. Bars never change what a loop computes.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

ENV = "TSX_PROGRESS"
DELAY_S = 2.0  # a loop done sooner never shows a bar
_ON, _OFF = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_in_parallel_job = False
T = TypeVar("T")


def mode() -> str:
    """`on`, `off` or `auto` from TSX_PROGRESS (an unknown value warns and counts as auto)."""
    raw = os.environ.get(ENV, "auto").strip().lower()
    if raw in _ON:
        return "on"
    if raw in _OFF:
        return "off"
    if raw not in ("", "auto"):
        warnings.warn(f"{ENV}={raw!r} is not one of auto, 1, 0; progress stays on auto.", stacklevel=3)
    return "auto"


def set_parallel_job(parallel: bool) -> None:
    """Tell the bars that this process runs one of several parallel jobs (the sweep callback does, per job)."""
    global _in_parallel_job
    _in_parallel_job = bool(parallel)


def bars_enabled(total: int | None = None, min_total: int = 2) -> bool:
    """Whether a bar over `total` steps may show: TSX_PROGRESS, the loop's length, and on auto stderr being a
    terminal outside a parallel launcher's job."""
    m = mode()
    if m == "off" or (total is not None and total < min_total):
        return False
    if m == "on":
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) and not _in_parallel_job


def bar(total: int | None, desc: str, unit: str = "it", min_total: int = 2) -> tqdm:
    """A tqdm bar on stderr for `total` steps (`.update(n)`; close it or use it as a context manager). It clears
    itself when done; a disabled one costs nothing."""
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, delay=DELAY_S, dynamic_ncols=True,
                disable=not bars_enabled(total, min_total))


def track(iterable: Iterable[T], desc: str, unit: str = "it", total: int | None = None,
          min_total: int = 2) -> Iterator[T]:
    """`iterable`'s items, unchanged, with a bar (see `bar`); `total` defaults to its len() when it has one."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with bar(total, desc, unit, min_total) as b:
        for item in iterable:
            yield item
            b.update(1)
