"""The time axis of a series for people: steps when the data has no clock, else seconds, minutes, hours or days
chosen from the series' duration. Figures (axis labels, ticks) and narratives (spans) share it, so a sentence's
"1.50–2.50 s" is where the figure draws it.

A dataset has a clock when `DataMeta.sampling_rate` is not the 1.0 default (synthetic data and UCR, which have
none, keep it) or when it names a domain (a real recording; at 1 Hz steps and seconds coincide anyway).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tsexplain.data.meta import DataMeta

# (unit, seconds per unit, series shorter than this many units use it); the last unit takes everything longer.
_UNITS = (("s", 1.0, 120.0), ("min", 60.0, 120.0), ("h", 3600.0, 504.0), ("d", 86400.0, math.inf))


@dataclass(frozen=True)
class TimeAxis:
    """Step index → a position in `unit` (None = steps). Sample i sits at i·per_step, as in t = i / fs."""

    unit: str | None
    per_step: float
    decimals: int

    @property
    def label(self) -> str:
        """The x-axis label: 'time (s)', 'time (h)', … or 'time step'."""
        return "time step" if self.unit is None else f"time ({self.unit})"

    def at(self, steps: float | np.ndarray) -> float | np.ndarray:
        """Position of step index(es) on this axis."""
        return steps * self.per_step

    def span(self, start: int, end: int) -> str:
        """Words for the steps [start, end): 'steps 10-19' (inclusive) or '0.10–0.20 s' (end of the last sample)."""
        if self.unit is None:
            return f"steps {start}-{end - 1}"
        d = self.decimals
        return f"{self.at(start):.{d}f}–{self.at(end):.{d}f} {self.unit}"


def _decimals(per_step: float) -> int:
    """Fewest decimals (0–2) that write a step exactly (0.25 h → 2), else enough to tell steps apart (1/6 h → 1)."""
    for d in range(3):
        scaled = per_step * 10**d
        if abs(scaled - round(scaled)) < 1e-9 * max(1.0, scaled):
            return d
    return min(2, max(0, math.ceil(-math.log10(per_step))))


def time_axis(sampling_rate: float, n_steps: int, clock: bool = True) -> TimeAxis:
    """The axis for `n_steps` samples at `sampling_rate` Hz; `clock=False` (no physical time) gives steps."""
    if not clock:
        return TimeAxis(None, 1.0, 0)
    if not (math.isfinite(sampling_rate) and sampling_rate > 0):
        raise ValueError(f"sampling_rate={sampling_rate} must be a positive number of samples per second.")
    duration_s = n_steps / sampling_rate
    unit, seconds, _ = next(u for u in _UNITS if duration_s < u[2] * u[1])
    per_step = 1.0 / sampling_rate / seconds
    return TimeAxis(unit, per_step, _decimals(per_step))


def has_clock(meta: DataMeta) -> bool:
    """Whether the dataset's steps are physical time (see the module docstring)."""
    return float(meta.sampling_rate) != 1.0 or getattr(meta, "domain", None) is not None


def meta_time_axis(meta: DataMeta, n_steps: int | None = None) -> TimeAxis:
    """The axis of a dataset's series (`n_steps` defaults to `meta.seq_len`)."""
    return time_axis(float(meta.sampling_rate), int(meta.seq_len if n_steps is None else n_steps), has_clock(meta))
