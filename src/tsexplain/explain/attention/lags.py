"""Time-lag analysis of time-column attention `[.., W, W]`: lag curves, a shuffled-token baseline, peaks, summaries.

The lag curve is the mean of sub-diagonal `−k` (queries attending k columns back). Longer lags average fewer
entries (W − k), so a curve is read against the same curve of token-shuffled maps (rows and columns permuted
together): its mean and spread per lag. Peaks are found with `scipy.signal.find_peaks` (prominence) on the
excess over that baseline, and kept when they clear `z` baseline standard deviations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy.signal import find_peaks


def lag_curve(a: torch.Tensor, max_lag: int | None = None) -> torch.Tensor:
    """Mean attention at lags 0..max_lag (query t → key t − k), `[..., max_lag + 1]`."""
    w = a.shape[-1]
    max_lag = w - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < w:
        raise ValueError(f"max_lag={max_lag} must lie in 0..{w - 1} for a map of {w} columns.")
    return torch.stack([torch.diagonal(a, offset=-k, dim1=-2, dim2=-1).mean(-1) for k in range(max_lag + 1)], -1)


def shuffled_baseline(a: torch.Tensor, max_lag: int | None = None, n_perm: int = 100, seed: int = 0
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over `n_perm` token permutations of the lag curve of `a [W, W]` (or `[..., W, W]`)."""
    w = a.shape[-1]
    g = torch.Generator().manual_seed(seed)
    curves = []
    for _ in range(n_perm):
        p = torch.randperm(w, generator=g).to(a.device)
        curves.append(lag_curve(a[..., p, :][..., :, p], max_lag))
    c = torch.stack(curves)
    return c.mean(0), c.std(0)


@dataclass
class LagPeak:
    lag: int  # in token columns
    lag_samples: float  # in input samples
    value: float
    excess: float  # over the shuffled baseline mean
    z: float  # excess / baseline std
    prominence: float


@dataclass
class LagProfile:
    curve: list[float]
    baseline_mean: list[float]
    baseline_std: list[float]
    samples_per_patch: float
    peaks: list[LagPeak] = field(default_factory=list)

    @property
    def peak_samples(self) -> list[float]:
        return [p.lag_samples for p in self.peaks]

    def to_dict(self) -> dict:
        return asdict(self)


def find_lag_peaks(curve: torch.Tensor | np.ndarray, base_mean: torch.Tensor | np.ndarray,
                   base_std: torch.Tensor | np.ndarray, samples_per_patch: float = 1.0, min_lag: int = 1,
                   z: float = 2.0, prominence: float | None = None) -> list[LagPeak]:
    """Local maxima of the excess curve at lags ≥ `min_lag` with prominence ≥ `prominence` (default: the median
    baseline std) and excess ≥ `z` baseline stds."""
    c, m, s = (np.asarray(torch.as_tensor(v).detach().cpu(), dtype=np.float64) for v in (curve, base_mean, base_std))
    floor = 1e-6 * (float(np.abs(c).mean()) + 1e-12)  # numerical noise of a flat map is no peak
    s = np.maximum(s, floor)
    ex = c - m
    prom = max(float(np.median(s)), floor) if prominence is None else float(prominence)
    # pad a slightly lower value at each end so a maximum at the first/last lag can count as a peak
    padded = np.concatenate([[ex.min() - floor], ex, [ex.min() - floor]])
    idx, props = find_peaks(padded, prominence=prom)
    peaks = []
    for i, pr in zip(idx - 1, props["prominences"], strict=True):
        if i < min_lag or ex[i] < z * s[i] or ex[i] <= floor:
            continue
        peaks.append(LagPeak(int(i), float(i * samples_per_patch), float(c[i]), float(ex[i]), float(ex[i] / s[i]),
                             float(pr)))
    return peaks


def lag_profile(a_time: torch.Tensor, samples_per_patch: float = 1.0, max_lag: int | None = None,
                n_perm: int = 100, seed: int = 0, min_lag: int = 1, z: float = 2.0,
                prominence: float | None = None) -> LagProfile:
    """Lag curve, shuffled baseline and peaks of one time map `[W, W]`."""
    if a_time.dim() != 2:
        raise ValueError(f"lag_profile takes one [W, W] map; got shape {tuple(a_time.shape)} (index a head first).")
    a_time = a_time.detach().float().cpu()
    curve = lag_curve(a_time, max_lag)
    mean, std = shuffled_baseline(a_time, max_lag, n_perm, seed)
    peaks = find_lag_peaks(curve, mean, std, samples_per_patch, min_lag, z, prominence)
    return LagProfile(curve.tolist(), mean.tolist(), std.tolist(), float(samples_per_patch), peaks)


def head_summary(time_maps: dict[str, torch.Tensor], samples_per_patch: float = 1.0,
                 history_patches: float | None = None, local_lags: int = 1, local_share: float = 0.5,
                 forecast_share: float | None = None, **peak_kwargs) -> list[dict]:
    """One row per (layer, head) of `time_maps[layer] = [H, W, W]`: its peaks, and whether it is periodic
    (a peak at lag ≥ 2), local (≥ `local_share` of the attention within ±`local_lags` columns) or
    forecast-attending (history queries give the forecast columns more than their share of the columns,
    or more than `forecast_share`)."""
    rows = []
    for layer, maps in time_maps.items():
        for h in range(maps.shape[0]):
            a = maps[h].detach().float().cpu()
            prof = lag_profile(a, samples_per_patch, **peak_kwargs)
            w = a.shape[-1]
            band = torch.ones(w, w).triu(-local_lags).tril(local_lags).bool()
            local = float((a * band).sum() / a.sum().clamp_min(1e-12))
            row = {"layer": layer, "head": h, "peaks_samples": prof.peak_samples,
                   "peak_z": [p.z for p in prof.peaks], "periodic": any(p.lag >= 2 for p in prof.peaks),
                   "local_share": local, "local": local >= local_share}
            if history_patches is not None:
                hist = int(round(history_patches))
                share = float(a[:hist, hist:].sum() / a[:hist].sum().clamp_min(1e-12))
                row["forecast_share"] = share
                row["forecast_attending"] = share > (forecast_share if forecast_share is not None else (w - hist) / w)
            rows.append(row)
    return rows


def cross_head_correlation(curves: torch.Tensor, min_lag: int = 1) -> torch.Tensor:
    """Pearson correlation `[K, K]` between K heads' lag curves `[K, n_lags]` (lags ≥ `min_lag`): which heads agree."""
    c = curves[..., min_lag:].float()
    return torch.corrcoef(c)


def channel_attention(maps: torch.Tensor, channel_names: list[str] | None = None) -> dict:
    """Variate-token models (iTransformer): `[B, H, C, C]` → the batch- and head-mean channel × channel map."""
    if maps.dim() != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"channel_attention takes [B, H, C, C] maps; got {tuple(maps.shape)}.")
    c = maps.shape[-1]
    names = channel_names or [f"ch{i}" for i in range(c)]
    if len(names) != c:
        raise ValueError(f"{len(names)} channel names for {c} variate tokens; give one per channel.")
    return {"channels": names, "attention": maps.mean(dim=(0, 1)).tolist()}
