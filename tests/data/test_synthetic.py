"""TimeX synthetic generators: class rules checked on the data, GT fractions against their analytic values,
reproducibility, and the |x − median| sanity AUPRC of REFERENCE.md §1 (it catches unfaithful generators)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from tsexplain.data.synthetic import SPECS, generate, generate_splits, narma2, part_seed


def runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a 1-D boolean array."""
    padded = np.concatenate([[False], row, [False]]).astype(int)
    d = np.diff(padded)
    starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
    return list(zip(starts.tolist(), (ends - starts).tolist(), strict=True))


def scored_fraction(name: str, y: np.ndarray, mask: np.ndarray) -> float:
    return float(mask[np.isin(y, SPECS[name].scored_classes)].mean())


@pytest.mark.parametrize("name", list(SPECS))
def test_shapes_dtypes_balance(name: str) -> None:
    x, y, mask = generate(name, 40, seed=3)
    spec = SPECS[name]
    assert x.shape == mask.shape == (40, spec.n_channels, spec.seq_len)
    assert (x.dtype, y.dtype, mask.dtype) == (np.float32, np.int64, np.bool_)
    assert np.bincount(y, minlength=4).tolist() == [10, 10, 10, 10]
    assert not np.all(np.diff(y) >= 0), "classes must be shuffled, not in blocks"
    assert np.isfinite(x).all()


# --- ground-truth fractions (analytic expectations; tolerances ≈ 5 standard errors at this N) ---------------


def freqshapes_expected_fraction(seq_len: int = 50) -> float:
    """Exact mean GT fraction by enumerating every class and start (independent of the vectorised code)."""
    fractions = []
    for period in (10, 17):
        per_start = []
        for start in range(seq_len - period):
            n_valid = sum(1 for c in range(start, seq_len, period) if c - 1 >= 0 and c + 2 <= seq_len)
            per_start.append(3 * n_valid / seq_len)
        fractions.append(np.mean(per_start))
    return float(np.mean(fractions))


def test_gt_fraction_freqshapes() -> None:
    expected = freqshapes_expected_fraction()
    assert expected == pytest.approx(0.173, abs=0.001)  # REFERENCE.md's exact figure
    x, y, mask = generate("freqshapes", 400, seed=0)
    # Per-sample fractions take a few values 0.12–0.30 (sd ≈ 0.04): SE over 400 ≈ 0.002.
    assert scored_fraction("freqshapes", y, mask) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("name", "expected", "tol"),
    [
        # two segments of mean length 14.5 in T=200: sd of a sample's fraction 0.020 → SE(300) 0.0012
        ("seqcomb_uv", 2 * 14.5 / 200, 0.006),
        # two segments of mean length 22 in 4×200 points: sd 0.0076 → SE(300) 0.00044
        ("seqcomb_mv", 2 * 22 / 800, 0.0025),
        # one segment of mean length 14.5 in 2×200 points: sd 0.0072 → SE(300) 0.00041
        ("lowvar", 14.5 / 400, 0.0025),
    ],
)
def test_gt_fraction_seqcomb_lowvar(name: str, expected: float, tol: float) -> None:
    x, y, mask = generate(name, 400, seed=0)
    assert scored_fraction(name, y, mask) == pytest.approx(expected, abs=tol)


# --- class rules, read back from the data -------------------------------------------------------------------


def test_freqshapes_spikes_direction_spacing_and_noise() -> None:
    x, y, mask = generate("freqshapes", 80, seed=1)
    template = np.array([1.75, 2.0, 1.75])
    residuals, background = [], []
    for xi, yi, mi in zip(x[:, 0], y, mask[:, 0], strict=True):
        spikes = runs(mi)
        period = 10 if yi < 2 else 17
        sign = 1.0 if yi % 2 == 1 else -1.0
        assert spikes, "every FreqShapes sample has at least one spike"
        assert all(length == 3 for _, length in spikes)
        starts = np.array([s for s, _ in spikes])
        assert np.all(np.diff(starts) == period)
        centres = starts + 1
        assert centres[-1] + period + 2 > 50, "a spike that fits after the last one is missing"
        for s in starts:
            residuals.append(xi[s : s + 3] - sign * template)
        background.append(xi[~mi])
    residuals, background = np.concatenate(residuals), np.concatenate(background)
    # spike = exact template + N(0, 0.25²); background = N(0, 0.25²)
    assert residuals.mean() == pytest.approx(0.0, abs=0.05)
    assert residuals.std() == pytest.approx(0.25, abs=0.03)
    assert background.mean() == pytest.approx(0.0, abs=0.03)
    assert background.std() == pytest.approx(0.25, abs=0.02)


@pytest.mark.parametrize(("name", "len_range"), [("seqcomb_uv", (10, 19)), ("seqcomb_mv", (15, 29))])
def test_seqcomb_segments(name: str, len_range: tuple[int, int]) -> None:
    x, y, mask = generate(name, 80, seed=2)
    directions = {1: (-1, -1), 2: (1, 1), 3: (1, -1)}
    for xi, yi, mi in zip(x, y, mask, strict=True):
        if yi == 0:
            assert not mi.any(), "class 0 has an empty mask"
            continue
        segments = [(c, s, n) for c in range(mi.shape[0]) for s, n in runs(mi[c])]
        segments.sort(key=lambda seg: seg[1])
        assert len(segments) == 2
        (c1, s1, n1), (c2, s2, n2) = segments
        if name == "seqcomb_mv":
            assert c1 != c2, "the two segments go to two distinct channels"
        assert s1 < 100 and s2 >= s1 + n1, "first starts in the first half; second after the first ends"
        for (c, s, n), sign in zip(segments, directions[int(yi)], strict=True):
            assert len_range[0] <= n <= len_range[1]
            seg = xi[c, s : s + n]
            # linear rise 5(|min|+|max|)·(L−1)/L > 2 always beats the ±1 sine term at the endpoints
            assert np.sign(seg[-1] - seg[0]) == sign


def test_lowvar_segment_channel_and_sign() -> None:
    x, y, mask = generate("lowvar", 80, seed=4)
    for xi, yi, mi in zip(x, y, mask, strict=True):
        channel = 0 if yi in (0, 1) else 1
        loc = -1.5 if yi in (0, 2) else 1.5
        assert not mi[1 - channel].any()
        ((start, length),) = runs(mi[channel])
        assert 10 <= length <= 19 and 20 <= start < 160
        seg = xi[channel, start : start + length]
        assert seg.mean() == pytest.approx(loc, abs=0.15) and seg.std() < 0.25


def test_narma_matches_timesynth_recursion() -> None:
    """timesynth NARMA(order=2) written literally, slicing quirk and all, on the same uniforms."""
    seq_len = 60
    ours = narma2(np.random.default_rng(7), (1,), seq_len)[0]
    u = np.random.default_rng(7).uniform(0, 0.5, size=seq_len + 2)
    y = np.zeros(seq_len + 2)
    a, n = [0.3, 0.05, 1.5, 0.1], 2
    for i in range(n, seq_len + 2):
        y[i] = a[0] * y[i - 1] + a[1] * y[i - 1] * np.sum(y[i - n : n]) + a[2] * u[i - n] * u[i] + a[3]
    np.testing.assert_allclose(ours, y[n:], rtol=1e-12)


def test_narma_background_range() -> None:
    x, y, _ = generate("seqcomb_uv", 80, seed=5)
    background = x[y == 0]  # class 0: NARMA + N(0, 0.01²), untouched
    # y_t ∈ [0.1, 0.475/0.7]; stationary mean (0.1 + 1.5·0.25²)/0.7 ≈ 0.277; noise margin 6σ
    assert background.min() > 0.1 - 0.06 and background.max() < 0.475 / 0.7 + 0.06
    assert background.mean() == pytest.approx((0.1 + 1.5 * 0.0625) / 0.7, abs=0.01)


# --- seeds and splits ---------------------------------------------------------------------------------------


def test_reproducible_and_independent_splits() -> None:
    a = generate_splits("freqshapes", 40, 8, 20, split=0, seed=0)
    b = generate_splits("freqshapes", 40, 8, 20, split=0, seed=0)
    for part in ("train", "val", "test"):
        for u, v in zip(a[part], b[part], strict=True):
            np.testing.assert_array_equal(u, v)
    other_split = generate_splits("freqshapes", 40, 8, 20, split=1, seed=0)
    other_seed = generate_splits("freqshapes", 40, 8, 20, split=0, seed=1)
    assert not np.array_equal(a["train"][0], other_split["train"][0])
    assert not np.array_equal(a["train"][0], other_seed["train"][0])
    # no test sample equals any train sample
    train, test = a["train"][0].reshape(40, -1), a["test"][0].reshape(20, -1)
    assert not (train[:, None, :] == test[None, :, :]).all(-1).any()


def test_part_seeds_are_distinct() -> None:
    states = {
        tuple(part_seed(name, split, 0, part).generate_state(4))
        for name in SPECS for split in range(5) for part in ("train", "val", "test")
    }
    assert len(states) == len(SPECS) * 5 * 3


def test_bad_generator_arguments() -> None:
    with pytest.raises(ValueError, match="unknown synthetic dataset 'nope'"):
        generate("nope", 8, 0)
    with pytest.raises(ValueError, match="n >= 4"):
        generate("freqshapes", 2, 0)
    with pytest.raises(ValueError, match="non-negative"):
        part_seed("freqshapes", 0, -1, "train")


def test_full_size_split_generates_fast() -> None:
    t0 = time.perf_counter()
    x, _, _ = generate("seqcomb_mv", 5000, seed=0)  # the slowest generator at benchmark size
    assert x.shape == (5000, 4, 200)
    assert time.perf_counter() - t0 < 15.0  # ~0.5 s on one core; generous for a shared machine


# --- sanity figure of REFERENCE.md §1: |x − median| as an explainer -----------------------------------------


def amplitude_auprc(name: str, n: int, seed: int = 0) -> float:
    x, y, mask = generate(name, n, seed)
    score = np.abs(x - np.median(x, axis=2, keepdims=True))
    keep = np.nonzero(np.isin(y, SPECS[name].scored_classes))[0]
    return float(np.mean([average_precision_score(mask[i].ravel(), score[i].ravel()) for i in keep]))


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("freqshapes", 0.97, 1.0), ("seqcomb_uv", 0.8, 1.0), ("seqcomb_mv", 0.75, 1.0), ("lowvar", 0.05, 0.2)],
)
def test_amplitude_explainer_auprc(name: str, low: float, high: float) -> None:
    """Amplitude nearly recovers the GT on the first three and is uninformative on LowVar (REFERENCE: 1.00,
    0.90–0.92, 0.85–0.88, 0.10)."""
    assert low <= amplitude_auprc(name, 200) <= high
