"""TimeX synthetic benchmarks with known ground-truth masks: FreqShapes, SeqComb-UV, SeqComb-MV, LowVar.

Faithful to mims-harvard/TimeX `txai/synth_data/` (REFERENCE.md §1), vectorised over samples and seeded
explicitly (TimeX seeds its NARMA background from OS entropy). Arrays are `(N, C, T)`, not TimeX's
`(T, N, D)`.
Every generator returns `x` float32 [N, C, T], `y` int64 [N] and `mask` bool [N, C, T].
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Bump when any generator's output changes for the same seed: it is part of the cache key.
GENERATOR_VERSION = 1

SeedLike = int | np.random.SeedSequence
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]
PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class SyntheticSpec:
    """Shape, class names and scored classes of one synthetic dataset (what `DataMeta` needs)."""

    n_channels: int
    seq_len: int
    class_names: tuple[str, ...]
    scored_classes: tuple[int, ...]


SPECS: dict[str, SyntheticSpec] = {
    "freqshapes": SyntheticSpec(1, 50, ("down/10", "up/10", "down/17", "up/17"), (0, 1, 2, 3)),
    "seqcomb_uv": SyntheticSpec(1, 200, ("none", "dec-dec", "inc-inc", "inc-dec"), (1, 2, 3)),
    "seqcomb_mv": SyntheticSpec(4, 200, ("none", "dec-dec", "inc-inc", "inc-dec"), (1, 2, 3)),
    # TimeX scores LowVar without class 0 although class 0 has a mask too (a quirk kept for comparability).
    "lowvar": SyntheticSpec(2, 200, ("ch0/neg", "ch0/pos", "ch1/neg", "ch1/pos"), (1, 2, 3)),
}


def balanced_labels(n: int, rng: np.random.Generator, n_classes: int = 4) -> np.ndarray:
    """N//4 samples of each class (the last class takes the remainder, as in TimeX), shuffled."""
    counts = [n // n_classes] * (n_classes - 1)
    counts.append(n - sum(counts))
    y = np.repeat(np.arange(n_classes), counts)
    return rng.permutation(y).astype(np.int64)


def narma2(rng: np.random.Generator, shape: tuple[int, ...], seq_len: int) -> np.ndarray:
    """timesynth `NARMA(order=2)` for every series in `shape` at once, returning `shape + (seq_len,)`.

    timesynth's term `a1·y[t-1]·sum(y[t-n:n])` slices an empty (or all-zero initial) window for order 2,
    so the recursion reduces to `y_t = 0.3·y_{t-1} + 1.5·u_{t-2}·u_t + 0.1`, u ~ U(0, 0.5), y_0 = y_1 = 0;
    the two initial values are dropped from the output (values then lie in [0.1, 0.475/0.7]).
    """
    u = rng.uniform(0.0, 0.5, size=(*shape, seq_len + 2))
    y = np.zeros((*shape, seq_len + 2))
    for t in range(2, seq_len + 2):
        y[..., t] = 0.3 * y[..., t - 1] + 1.5 * u[..., t - 2] * u[..., t] + 0.1
    return y[..., 2:]


def _rng(seed: SeedLike) -> np.random.Generator:
    return np.random.default_rng(seed)


def freqshapes(n: int, seed: SeedLike, seq_len: int = 50, noise: float = 0.25) -> Arrays:
    """FreqShapes: spikes down/up (class parity) every 10 or 17 steps (class < 2 or not) on N(0, noise²)."""
    rng = _rng(seed)
    y = balanced_labels(n, rng)
    period = np.where(y < 2, 10, 17)
    sign = np.where(y % 2 == 1, 1.0, -1.0)
    start = rng.integers(0, seq_len - period)  # U{0 .. T-period-1}
    centres = start[:, None] + period[:, None] * np.arange(seq_len // period.min() + 1)[None, :]
    valid = (centres - 1 >= 0) & (centres + 2 <= seq_len)  # spikes falling off either end are dropped
    rows, k = np.nonzero(valid)
    x = np.zeros((n, seq_len))
    mask = np.zeros((n, seq_len), dtype=bool)
    # TimeX's spike 0.25·(-1, 0, 1)² - 2 = (-1.75, -2, -1.75), upward its negation, on [c-1, c+2).
    for offset, height in zip((-1, 0, 1), (1.75, 2.0, 1.75), strict=True):
        t = centres[rows, k] + offset
        x[rows, t] = sign[rows] * height
        mask[rows, t] = True
    x += rng.normal(0.0, noise, size=x.shape)
    return x[:, None, :].astype(np.float32), y, mask[:, None, :]


def _segment(seq_len: int, start: np.ndarray, length: np.ndarray,
             rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Footprint [N, T] of the segments [start, start+length) on `rows`, and x [N, T]: integers centred on 0.

    x follows TimeX's `arange(-(L//2), L//2 + L%2)` inside the segment.
    """
    pos = np.arange(seq_len)[None, :] - start[:, None]
    inside = (pos >= 0) & (pos < length[:, None]) & rows[:, None]
    return inside, pos - (length // 2)[:, None]


def _seqcomb(n: int, seed: SeedLike, n_channels: int, seq_len: int, len_low: int, len_high: int, lam: float,
             noise: float = 0.01) -> Arrays:
    """SeqComb: NARMA background; classes 1–3 get two sloped, sine-modulated segments.

    Class 1 two decreasing, 2 two increasing, 3 increasing then decreasing; class 0 background only.
    """
    rng = _rng(seed)
    y = balanced_labels(n, rng)
    x = narma2(rng, (n, n_channels), seq_len) + rng.normal(0.0, noise, size=(n, n_channels, seq_len))
    mask = np.zeros(x.shape, dtype=bool)
    active = y > 0  # class 0 is background only, with an empty mask
    # Slopes from the background of the whole sample, before any segment is pasted (TimeX's bounds).
    lo, hi = x.min(axis=(1, 2)), x.max(axis=(1, 2))
    rise = 5 * np.abs(hi) + 5 * np.abs(lo)
    direction = np.array([[0, 0], [-1, -1], [1, 1], [1, -1]])[y]  # per class: (first, second) segment
    if n_channels > 1:
        channels = np.argsort(rng.random((n, n_channels)), axis=1)[:, :2]  # two distinct channels
    else:
        channels = np.zeros((n, 2), dtype=int)
    len1 = rng.integers(len_low, len_high, size=n)
    start1 = rng.integers(0, seq_len // 2, size=n)
    amp1 = rng.poisson(lam, size=n)
    len2 = rng.integers(len_low, len_high, size=n)
    if np.any(start1 + len1 >= seq_len - len2):
        raise ValueError(f"seq_len={seq_len} is too short for two segments of up to {len_high - 1} steps; "
                         "use seq_len >= 2.5 x the longest segment.")
    start2 = rng.integers(start1 + len1, seq_len - len2)  # second starts after the first ends
    amp2 = rng.poisson(lam, size=n)
    idx = np.arange(n)
    for j, (start, length, amp) in enumerate(((start1, len1, amp1), (start2, len2, amp2))):
        slope = (direction[:, j] * rise / length)[:, None]
        ch = channels[:, j]
        inside, xv = _segment(seq_len, start, length, active)
        series = x[idx, ch]  # [N, T] copy of each sample's chosen channel
        series[inside] = (slope * xv + np.sin(amp[:, None] * xv))[inside]  # replaces the background
        x[idx, ch] = series
        mask[idx, ch] |= inside
    return x.astype(np.float32), y, mask


def seqcomb_uv(n: int, seed: SeedLike) -> Arrays:
    """SeqComb-UV: T=200, one channel, segment lengths U{10..19}, sine frequency Poisson(10)."""
    return _seqcomb(n, seed, n_channels=1, seq_len=200, len_low=10, len_high=20, lam=10)


def seqcomb_mv(n: int, seed: SeedLike) -> Arrays:
    """SeqComb-MV: T=200, four channels, segments on two distinct channels, lengths U{15..29}, Poisson(5)."""
    return _seqcomb(n, seed, n_channels=4, seq_len=200, len_low=15, len_high=30, lam=5)


def lowvar(n: int, seed: SeedLike, seq_len: int = 200, noise: float = 1.0) -> Arrays:
    """LowVar: noisy NARMA (σ=1) with one low-variance N(±1.5, 0.1²) segment; class picks channel and sign."""
    rng = _rng(seed)
    y = balanced_labels(n, rng)
    x = narma2(rng, (n, 2), seq_len) + rng.normal(0.0, noise, size=(n, 2, seq_len))
    mask = np.zeros(x.shape, dtype=bool)
    ch = (y >= 2).astype(int)  # channel 0 for classes {0, 1}, channel 1 for {2, 3}
    loc = np.where(y % 2 == 0, -1.5, 1.5)  # -1.5 for {0, 2}, +1.5 for {1, 3}
    length = rng.integers(10, 20, size=n)
    start = rng.integers(20, seq_len - 40, size=n)
    level = rng.normal(loc[:, None], 0.1, size=(n, seq_len))
    idx = np.arange(n)
    inside, _ = _segment(seq_len, start, length, np.ones(n, dtype=bool))
    series = x[idx, ch]
    series[inside] = level[inside]
    x[idx, ch] = series
    mask[idx, ch] = inside
    return x.astype(np.float32), y, mask


GENERATORS: dict[str, Callable[[int, SeedLike], Arrays]] = {
    "freqshapes": freqshapes,
    "seqcomb_uv": seqcomb_uv,
    "seqcomb_mv": seqcomb_mv,
    "lowvar": lowvar,
}


def check_name(name: str) -> str:
    """Return `name` if it is a known synthetic dataset, else raise a ValueError listing the known ones."""
    if name not in GENERATORS:
        raise ValueError(f"unknown synthetic dataset {name!r}; use one of {sorted(GENERATORS)}.")
    return name


def generate(name: str, n: int, seed: SeedLike) -> Arrays:
    """Generate `n` samples of dataset `name` from `seed` (an int or a SeedSequence): (x, y, mask)."""
    check_name(name)
    if int(n) < 4:
        raise ValueError(f"n={n} samples is too few for 4 balanced classes; ask for n >= 4.")
    return GENERATORS[name](int(n), seed)


def part_seed(name: str, split: int, seed: int, part: str) -> np.random.SeedSequence:
    """Independent seed per (dataset, split, part), so no two of them share a random stream."""
    if part not in PARTS:
        raise ValueError(f"part={part!r} is unknown; use one of {PARTS}.")
    if int(seed) < 0 or int(split) < 0:
        raise ValueError(f"seed={seed} and split={split} must be non-negative integers.")
    key = (zlib.crc32(name.encode()), int(split), PARTS.index(part))
    return np.random.SeedSequence(int(seed), spawn_key=key)


def generate_splits(name: str, n_train: int, n_val: int, n_test: int, split: int = 0,
                    seed: int = 0) -> dict[str, Arrays]:
    """Train/val/test of one split; TimeX's five splits are generated independently, not as folds."""
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    return {part: generate(name, sizes[part], part_seed(name, split, seed, part)) for part in PARTS}
