"""Region finding: known bumps, thresholds, short blips, constant maps, channels and masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsexplain.narrate.regions import Region, find_regions, otsu_threshold, regions_from_mask


def bump(T: int, start: int, end: int, height: float) -> np.ndarray:
    row = np.zeros(T)
    row[start:end] = height
    return row


def test_two_bumps_give_two_ranked_regions():
    rng = np.random.default_rng(0)
    s = (bump(64, 10, 18, 1.0) + bump(64, 40, 46, 0.6) + rng.uniform(0, 0.05, 64))[None]
    regions = find_regions(s, method="otsu")
    assert [(r.start, r.end) for r in regions] == [(10, 18), (40, 46)]
    assert regions[0].score > regions[1].score
    assert 10 <= regions[0].peak < 18 and 40 <= regions[1].peak < 46
    # The score is the mean of the min-max normalised map over the segment.
    norm = (s - s.min()) / (s.max() - s.min())
    assert regions[1].score == pytest.approx(norm[0, 40:46].mean())


@pytest.mark.parametrize("method", ["quantile", "otsu"])
def test_both_thresholds_find_a_clear_bump(method):
    rng = np.random.default_rng(1)
    s = bump(50, 20, 30, 1.0) + rng.uniform(0, 0.1, 50)
    regions = find_regions(torch.tensor(s[None]), method=method)
    assert len(regions) == 1 and (regions[0].start, regions[0].end) == (20, 30)


def test_otsu_matches_brute_force_between_class_variance():
    v = np.random.default_rng(2).normal(size=40)
    thr = otsu_threshold(v)
    def between(t):
        lo, hi = v[v < t], v[v >= t]
        return len(lo) * len(hi) * (lo.mean() - hi.mean()) ** 2
    best = max(between(t) for t in np.sort(v)[1:])
    assert between(thr) == pytest.approx(best)


def test_min_len_drops_a_one_point_blip_and_merge_gap_joins():
    s = bump(40, 5, 12, 1.0) + bump(40, 25, 26, 1.0)
    s[8] = 0.0  # a one-point hole inside the first bump
    regions = find_regions(s[None], q=0.5, min_len=2, merge_gap=1)
    assert [(r.start, r.end) for r in regions] == [(5, 12)]
    split = find_regions(s[None], q=0.5, min_len=1, merge_gap=0)
    assert sorted((r.start, r.end) for r in split) == [(5, 8), (9, 12), (25, 26)]


@pytest.mark.parametrize("value", [0.0, 3.7])
def test_constant_map_has_no_region(value):
    assert find_regions(np.full((2, 30), value)) == []
    assert find_regions(np.full((2, 30), value), method="otsu") == []


def test_multichannel_assigns_channels_and_ranks_across_them():
    s = np.stack([bump(32, 3, 8, 0.5), np.zeros(32), bump(32, 20, 26, 1.0)])
    regions = find_regions(s, q=0.5)
    assert [(r.channel, r.start, r.end) for r in regions] == [(2, 20, 26), (0, 3, 8)]
    assert find_regions(s, q=0.5, max_regions=1) == regions[:1]


def test_regions_from_mask_round_trips():
    mask = np.zeros((3, 40), dtype=bool)
    mask[0, 2:6] = mask[0, 30:40] = mask[2, 10:25] = True
    regions = regions_from_mask(mask)
    rebuilt = np.zeros_like(mask)
    for r in regions:
        rebuilt[r.channel, r.start:r.end] = True
        assert r.score == 1.0
    assert (rebuilt == mask).all()
    assert [r.length for r in regions] == [15, 10, 4]  # equal scores: longest first
    assert regions_from_mask(np.zeros((2, 10))) == []


def test_bad_input_fails_loudly():
    with pytest.raises(ValueError, match="one sample"):
        find_regions(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        find_regions(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ValueError, match="quantile"):
        find_regions(np.array([[0.0, 1.0]]), method="kmeans")
    assert isinstance(Region(0, 1, 3, 0.5, 2).length, int)
