"""Figures: a head's time-attention heatmap beside its lag curve, and a head × lag overview of all heads."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from tsexplain.explain.attention.lags import LagProfile  # noqa: E402


def _norm(a: np.ndarray, powermap: bool, gamma: float, robust_percentiles: tuple[float, float] | None, log: bool):
    if log:
        a = np.log10(np.maximum(a, 1e-12))
    lo, hi = (np.percentile(a, robust_percentiles) if robust_percentiles else (a.min(), a.max()))
    hi = hi if hi > lo else lo + 1e-12
    if powermap and not log:
        return a, mcolors.PowerNorm(gamma=gamma, vmin=max(lo, 0.0), vmax=hi, clip=True)
    return a, mcolors.Normalize(vmin=lo, vmax=hi, clip=True)


def plot_head(a_time: torch.Tensor, profile: LagProfile, path: str | Path, title: str = "",
              powermap: bool = True, gamma: float = 1.0, robust_percentiles: tuple[float, float] | None = (5, 99),
              log: bool = False, top_percent: float | None = 99.0, true_periods: list[float] | None = None) -> Path:
    """Heatmap of `a_time [W, W]` (queries × keys, axes in samples) with a contour around its top
    (100 − top_percent)% entries, beside the lag curve, its shuffled baseline band and peaks."""
    if not (gamma > 0):
        raise ValueError(f"gamma={gamma} must be positive.")
    a = a_time.detach().float().cpu().numpy()
    spp = profile.samples_per_patch
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
    shown, norm = _norm(a, powermap, gamma, robust_percentiles, log)
    ext = [0, a.shape[1] * spp, a.shape[0] * spp, 0]
    im = ax0.imshow(shown, norm=norm, cmap="viridis", extent=ext, aspect="auto", interpolation="nearest")
    if top_percent is not None:
        thr = np.percentile(a, top_percent)
        xs = (np.arange(a.shape[1]) + 0.5) * spp
        ys = (np.arange(a.shape[0]) + 0.5) * spp
        if (a >= thr).any() and (a < thr).any():
            ax0.contour(xs, ys, (a >= thr).astype(float), levels=[0.5], colors="w", linewidths=0.8)
    ax0.set_xlabel("key time (samples)")
    ax0.set_ylabel("query time (samples)")
    fig.colorbar(im, ax=ax0, fraction=0.046)
    lags = np.arange(len(profile.curve)) * spp
    m, s = np.array(profile.baseline_mean), np.array(profile.baseline_std)
    ax1.plot(lags, profile.curve, color="C0", label="attention")
    ax1.fill_between(lags, m - 2 * s, m + 2 * s, color="0.8", label="shuffled ±2σ")
    ax1.plot(lags, m, color="0.5", lw=0.8)
    for p in profile.peaks:
        ax1.axvline(p.lag_samples, color="C3", lw=0.8, ls="--")
        ax1.annotate(f"{p.lag_samples:.0f}", (p.lag_samples, p.value), fontsize=8, color="C3")
    for per in true_periods or []:
        ax1.axvline(per, color="k", lw=0.6, ls=":")
    ax1.set_xlabel("lag (samples)")
    ax1.set_ylabel("mean attention")
    ax1.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_lag_overview(excess: torch.Tensor | np.ndarray, labels: list[str], samples_per_patch: float,
                      path: str | Path, title: str = "") -> Path:
    """All heads at once: rows = (layer, head), columns = lag, colour = z-score over the shuffled baseline."""
    e = np.asarray(torch.as_tensor(excess).detach().cpu(), dtype=np.float64)
    if e.shape[0] != len(labels):
        raise ValueError(f"{e.shape[0]} rows of lag curves for {len(labels)} labels.")
    fig, ax = plt.subplots(figsize=(9, 0.18 * len(labels) + 1.5))
    v = np.nanpercentile(np.abs(e), 99) or 1.0
    im = ax.imshow(e, aspect="auto", cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest",
                   extent=[-0.5 * samples_per_patch, (e.shape[1] - 0.5) * samples_per_patch, len(labels) - 0.5, -0.5])
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=6)
    ax.set_xlabel("lag (samples)")
    fig.colorbar(im, ax=ax, label="z over shuffled baseline")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
