"""Model-free forecasting baselines: the seasonal-naive forecast and the season it repeats."""

from __future__ import annotations

import torch


def estimate_season(x: torch.Tensor, min_lag: int = 2, max_lag: int | None = None) -> torch.Tensor:
    """Per-series season `[B, C]` (long): the lag ≥ `min_lag` with the largest (unbiased) autocorrelation of the
    context; near-ties (within 0.1 %, e.g. a period and its multiples on a clean sinusoid) go to the shortest.

    Written here because a batched, differentiable-free torch ACF argmax is three lines; statsmodels' `acf`
    is per-series numpy and not a dependency.
    """
    b, c, t = x.shape
    max_lag = min(max_lag or t // 2, t - 1)
    if max_lag < min_lag:
        return torch.ones(b, c, dtype=torch.long, device=x.device)
    z = x - x.mean(-1, keepdim=True)
    spec = torch.fft.rfft(z, n=2 * t)
    acf = torch.fft.irfft(spec * spec.conj(), n=2 * t)[..., :t]
    acf = acf / torch.arange(t, 0, -1, device=x.device, dtype=x.dtype)  # unbiased: fewer pairs at long lags
    a = acf[..., min_lag:max_lag + 1]
    top = a.amax(-1, keepdim=True)
    near_max = a >= top - 1e-3 * top.abs()
    return near_max.float().argmax(-1) + min_lag  # first True


def seasonal_naive(x: torch.Tensor, horizon: int, season: torch.Tensor | int | None = None) -> torch.Tensor:
    """Repeat the last season of the context: ŷ[t] = x[T − m + (t mod m)], `[B, C, horizon]`.

    `season` is an int, a `[B, C]` tensor, or None (estimated from the context by `estimate_season`).
    """
    b, c, t = x.shape
    m = estimate_season(x) if season is None else torch.as_tensor(season, device=x.device).long()
    m = m.expand(b, c) if m.dim() < 2 else m
    if (m < 1).any() or (m > t).any():
        raise ValueError(f"season must lie in 1..{t} (the context length); got {m.unique().tolist()}.")
    k = torch.arange(horizon, device=x.device)
    idx = t - m[..., None] + (k % m[..., None])
    return x.gather(-1, idx)


def naive_scale(x: torch.Tensor, season: torch.Tensor | int = 1) -> torch.Tensor:
    """MASE's denominator `[B, C]`: the in-sample mean |x_t − x_{t−m}| of the context (Hyndman & Koehler 2006)."""
    b, c, t = x.shape
    m = torch.as_tensor(season, device=x.device).long()
    m = m.expand(b, c) if m.dim() < 2 else m
    idx = torch.arange(t, device=x.device).expand(b, c, t)
    lagged = x.gather(-1, (idx - m[..., None]).clamp_min(0))
    valid = idx >= m[..., None]
    return ((x - lagged).abs() * valid).sum(-1) / valid.sum(-1).clamp_min(1)
