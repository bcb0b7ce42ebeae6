"""Salient regions: threshold a saliency map [C, T] and cut it into ranked contiguous segments per channel.

This is the paper's "threshold + cluster" step (fusion-heatmaps-nlp §III): the regions are what the narrators
put into words, and `regions_from_mask` gives the same regions for a ground-truth mask (reference texts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import ndimage

Method = Literal["quantile", "otsu"]


@dataclass(frozen=True)
class Region:
    """One salient segment `[start, end)` of one channel.

    `score` is the MEAN of the min–max normalised map over the segment (in [0, 1], so it compares across
    samples and explainers and does not favour long segments); `peak` is the index of the segment's maximum.
    """

    channel: int
    start: int
    end: int
    score: float
    peak: int

    @property
    def length(self) -> int:
        return self.end - self.start


def _as_map(saliency: np.ndarray | torch.Tensor, what: str = "saliency") -> np.ndarray:
    arr = saliency.detach().cpu().numpy() if isinstance(saliency, torch.Tensor) else np.asarray(saliency)
    if arr.ndim != 2:
        raise ValueError(f"{what} must have shape [C, T] (one sample); got {arr.shape}. "
                         "Pass one sample at a time, e.g. saliency[i].")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or inf; fix the explainer output (e.g. torch.nan_to_num) first.")
    return arr


def otsu_threshold(values: np.ndarray) -> float:
    """Exact Otsu threshold of 1-D values (midpoint of the best split between distinct values).

    Written here because scikit-image is not a dependency and neither scipy nor scikit-learn has Otsu;
    sorting + cumulative sums gives the exact optimum over all splits without histogram binning.
    """
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = v.size
    if n < 2 or v[0] == v[-1]:
        return float(v[0]) if n else 0.0
    csum = np.cumsum(v)
    k = np.arange(1, n)  # class 0 = v[:k]
    mu0 = csum[:-1] / k
    mu1 = (csum[-1] - csum[:-1]) / (n - k)
    between = (k / n) * ((n - k) / n) * (mu0 - mu1) ** 2
    between[v[1:] == v[:-1]] = -1.0  # a split must fall between two distinct values
    best = int(np.argmax(between))
    return float((v[best] + v[best + 1]) / 2)


def _segments(selected: np.ndarray, merge_gap: int, min_len: int) -> list[tuple[int, int]]:
    """Contiguous True runs of a 1-D boolean row, runs `merge_gap` or fewer points apart merged, short ones dropped."""
    labels, n = ndimage.label(selected)
    runs = [(int(sl.start), int(sl.stop)) for (sl,) in ndimage.find_objects(labels)] if n else []
    merged: list[list[int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] <= merge_gap:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged if e - s >= min_len]


def _regions(norm: np.ndarray, selected: np.ndarray, min_len: int, merge_gap: int,
             max_regions: int | None) -> list[Region]:
    if min_len < 1 or merge_gap < 0:
        raise ValueError(f"min_len={min_len} must be ≥ 1 and merge_gap={merge_gap} ≥ 0.")
    regions = []
    for c in range(norm.shape[0]):
        for start, end in _segments(selected[c], merge_gap, min_len):
            seg = norm[c, start:end]
            regions.append(Region(c, start, end, float(seg.mean()), start + int(np.argmax(seg))))
    # Rank by score; ties (e.g. a binary mask) by length, then channel and start, so the order is deterministic.
    regions.sort(key=lambda r: (-r.score, -r.length, r.channel, r.start))
    return regions if max_regions is None else regions[:max_regions]


def find_regions(saliency: np.ndarray | torch.Tensor, method: Method = "quantile", q: float = 0.8,
                 min_len: int = 2, merge_gap: int = 1, max_regions: int | None = 5) -> list[Region]:
    """Salient regions of one map [C, T], best first.

    The threshold is global over the map (so channels compete): its `q`-quantile, or Otsu's threshold.
    Points strictly above the map's minimum and at/above the threshold are salient. A constant map
    (all zeros included) has no salient region and gives [].
    """
    s = _as_map(saliency)
    lo, hi = float(s.min()), float(s.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return []
    norm = (s - lo) / (hi - lo)
    if method == "quantile":
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q={q} must be in [0, 1] (the quantile of the map used as threshold).")
        thr = float(np.quantile(norm, q))
    elif method == "otsu":
        thr = otsu_threshold(norm)
    else:
        raise ValueError(f"method={method!r} is unknown; use 'quantile' or 'otsu'.")
    selected = (norm >= thr) & (norm > 0.0)
    return _regions(norm, selected, min_len, merge_gap, max_regions)


def regions_from_mask(mask: np.ndarray | torch.Tensor, min_len: int = 1, merge_gap: int = 0,
                      max_regions: int | None = None) -> list[Region]:
    """Regions of a ground-truth mask [C, T] (non-zero = salient); score = mask fraction over the segment."""
    m = (_as_map(mask, "mask") != 0).astype(np.float64)
    return _regions(m, m > 0, min_len, merge_gap, max_regions)
