"""Synthetic harmonic series (sums of sinusoids + trend + noise) and a forecasting datamodule over them.

The generic corpus draws random periods per series, for training forecasters that are then analysed on the
ViTime attention-map study's two fixed signals, which they never see in training ("zero-learning"):
`sin(n/10) + sin(n/5 + 50) + cos(n + 50)` and the same without `sin(n/10)`, n = 0..511.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tsexplain.data.datamodule import ArrayDataModule
from tsexplain.data.meta import DataMeta


@dataclass
class Harmonic:
    """One component `amplitude · f(2π n / period + phase)` with f = sin or cos."""

    period: float
    phase: float = 0.0
    amplitude: float = 1.0
    kind: str = "sin"

    def __post_init__(self) -> None:
        if self.kind not in ("sin", "cos"):
            raise ValueError(f"Harmonic kind={self.kind!r} is unknown; use 'sin' or 'cos'.")
        if not self.period > 0:
            raise ValueError(f"Harmonic period={self.period} must be positive (in samples).")


@dataclass
class HarmonicSignal:
    """A sum of harmonics plus a linear trend (per sample) and Gaussian noise."""

    components: list[Harmonic] = field(default_factory=list)
    trend: float = 0.0
    offset: float = 0.0
    noise: float = 0.0

    def sample(self, length: int, rng: np.random.Generator | None = None, start: int = 0) -> np.ndarray:
        """Values at n = start..start+length−1 (float64)."""
        n = np.arange(start, start + length, dtype=np.float64)
        out = self.offset + self.trend * n
        for c in self.components:
            f = np.sin if c.kind == "sin" else np.cos
            out = out + c.amplitude * f(2 * np.pi * n / c.period + c.phase)
        if self.noise > 0:
            out = out + (rng or np.random.default_rng(0)).normal(0.0, self.noise, size=length)
        return out

    @property
    def periods(self) -> list[float]:
        return [c.period for c in self.components]


def study_signal(which: str = "three", length: int = 512) -> HarmonicSignal:
    """The study's signals: "three" = sin(n/10) + sin(n/5 + 50) + cos(n + 50); "two" = without sin(n/10).

    Periods are 2π·10 ≈ 62.8, 2π·5 ≈ 31.4 and 2π ≈ 6.3 samples; note 62.8 = 2 × 31.4, so lag ≈ 63 is a
    period of both signals — what tells them apart is the odd multiples of 31.4 (in "three" sin(n/10) is
    anti-correlated there).
    """
    comps = {
        "slow": Harmonic(period=2 * math.pi * 10, phase=0.0),
        "mid": Harmonic(period=2 * math.pi * 5, phase=50.0),
        "fast": Harmonic(period=2 * math.pi, phase=50.0, kind="cos"),
    }
    if which == "three":
        return HarmonicSignal([comps["slow"], comps["mid"], comps["fast"]])
    if which == "two":
        return HarmonicSignal([comps["mid"], comps["fast"]])
    raise ValueError(f"study signal {which!r} is unknown; use 'three' (three harmonics) or 'two' (without sin(n/10)).")


def random_signal(rng: np.random.Generator, n_components: tuple[int, int] = (1, 3),
                  period_range: tuple[float, float] = (4.0, 128.0), trend_std: float = 0.002,
                  noise_range: tuple[float, float] = (0.0, 0.2)) -> HarmonicSignal:
    """A generic-corpus signal: 1..3 components with log-uniform periods, random phase/amplitude, sin or cos."""
    lo, hi = period_range
    if not 0 < lo <= hi:
        raise ValueError(f"period_range={period_range} must satisfy 0 < low <= high (samples).")
    k = int(rng.integers(n_components[0], n_components[1] + 1))
    comps = [Harmonic(period=float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), phase=float(rng.uniform(0, 2 * np.pi)),
                      amplitude=float(rng.uniform(0.3, 1.5)), kind=str(rng.choice(["sin", "cos"])))
             for _ in range(k)]
    return HarmonicSignal(comps, trend=float(rng.normal(0.0, trend_std)), offset=float(rng.normal(0, 1)),
                          noise=float(rng.uniform(*noise_range)))


def generic_corpus(n_series: int, length: int, seed: int = 0, **kwargs) -> tuple[np.ndarray, list[HarmonicSignal]]:
    """`n_series` random harmonic series of `length` samples, `[N, length]` float32, and their definitions."""
    rng = np.random.default_rng(seed)
    signals = [random_signal(rng, **kwargs) for _ in range(int(n_series))]
    return np.stack([s.sample(length, rng) for s in signals]).astype(np.float32), signals


def forecast_windows(series: np.ndarray, context_len: int, horizon: int, stride: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows of `[N, C, T]` (or `[N, T]`) series → x `[M, C, context]`, y `[M, C·horizon]` (channel-major)."""
    s = np.asarray(series, dtype=np.float32)
    s = s[:, None] if s.ndim == 2 else s
    if s.ndim != 3:
        raise ValueError(f"series must be [N, T] or [N, C, T]; got shape {s.shape}.")
    need = context_len + horizon
    if s.shape[-1] < need:
        raise ValueError(f"series of {s.shape[-1]} samples are shorter than context_len + horizon = {need}; "
                         "give longer series or a shorter context/horizon.")
    stride = stride or need
    starts = range(0, s.shape[-1] - need + 1, stride)
    xs = np.concatenate([s[:, :, a:a + context_len] for a in starts])
    ys = np.concatenate([s[:, :, a + context_len:a + need] for a in starts])
    return xs, ys.reshape(len(ys), -1)


class HarmonicForecastDataModule(ArrayDataModule):
    """Forecasting on the generic harmonic corpus: x `[N, 1, context_len]`, y `[N, horizon]` (task regression).

    Train, val and test are drawn from independent seeds, so test series (periods, phases) are held out.
    `horizon` is an attribute for the forecasting module; `meta.n_outputs = C · horizon`.
    """

    def __init__(self, context_len: int = 512, horizon: int = 128, n_train: int = 2048, n_val: int = 128,
                 n_test: int = 256, seed: int = 0, period_range: Sequence[float] = (4.0, 128.0),
                 n_components: Sequence[int] = (1, 3), trend_std: float = 0.002,
                 noise_range: Sequence[float] = (0.0, 0.2), batch_size: int = 64, num_workers: int = 0,
                 pin_memory: bool | None = None, name: str = "harmonics") -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory, standardize=False,
                         shuffle_seed=seed)
        if int(context_len) < 2 or int(horizon) < 1:
            raise ValueError(f"context_len={context_len} must be >= 2 and horizon={horizon} >= 1.")
        for part, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if int(n) < 1:
                raise ValueError(f"{part}={n} must be a positive number of series.")
        self.context_len, self.horizon, self.seed, self.name = int(context_len), int(horizon), int(seed), name
        self.sizes = {"train": int(n_train), "val": int(n_val), "test": int(n_test)}
        self.gen_kwargs = {"period_range": tuple(float(p) for p in period_range),
                           "n_components": tuple(int(k) for k in n_components), "trend_std": float(trend_std),
                           "noise_range": tuple(float(v) for v in noise_range)}

    def load(self) -> tuple[dict[str, dict[str, np.ndarray]], DataMeta]:
        splits = {}
        for i, (part, n) in enumerate(self.sizes.items()):
            series, _ = generic_corpus(n, self.context_len + self.horizon, seed=self.seed * 1000 + i, **self.gen_kwargs)
            x, y = forecast_windows(series, self.context_len, self.horizon)
            splits[part] = {"x": x, "y": y}
        meta = DataMeta(name=self.name, task="regression", n_channels=1, seq_len=self.context_len,
                        n_outputs=self.horizon, channel_names=["value"])
        return splits, meta
