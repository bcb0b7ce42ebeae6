"""Report figures (matplotlib, Agg backend): saliency overlays, deletion curves, attention, concepts, CFs.

Every function takes arrays (numpy or torch), writes one PNG, closes its figure and returns the path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

PathLike = str | Path


def _np(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _as_ct(a: Any, name: str) -> np.ndarray:
    a = _np(a)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be [C, T] (one sample); got shape {a.shape}. Index one sample first.")
    return a


def _save(fig: plt.Figure, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a 1-D boolean array."""
    padded = np.concatenate([[False], row.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _channel_index(channel: Any, names: Sequence[str]) -> int | None:
    if isinstance(channel, str):
        return names.index(channel) if channel in names else None
    return int(channel)


def plot_saliency(
    x: Any,
    maps: Mapping[str, Any],
    mask: Any | None = None,
    regions: Sequence[Any] | None = None,
    title: str | None = None,
    channel_names: Sequence[str] | None = None,
    path: PathLike = "saliency.png",
) -> Path:
    """One panel per channel: the series, GT mask shaded grey, regions as labelled spans, and one heat strip
    per map underneath (each map min–max normalised over the whole sample so channels compare).

    Regions are any objects with `channel` (index or name), `start`, `end` (exclusive) and `score`.
    """
    return _save(saliency_figure(x, maps, mask, regions, title, channel_names), path)


def saliency_figure(
    x: Any,
    maps: Mapping[str, Any],
    mask: Any | None = None,
    regions: Sequence[Any] | None = None,
    title: str | None = None,
    channel_names: Sequence[str] | None = None,
) -> plt.Figure:
    """The open figure `plot_saliency` saves (for callers that add to it; close it with `plt.close`)."""
    x = _as_ct(x, "x")
    n_ch, n_t = x.shape
    names = list(channel_names) if channel_names is not None else [f"ch{c}" for c in range(n_ch)]
    if len(names) != n_ch:
        raise ValueError(f"{len(names)} channel_names for {n_ch} channels; give one name per channel.")
    norm_maps = {}
    for name, m in maps.items():
        m = _as_ct(m, f"maps[{name!r}]")
        if m.shape != x.shape:
            raise ValueError(f"maps[{name!r}] has shape {m.shape}, x has {x.shape}; pass [C, T] maps.")
        span = m.max() - m.min()
        norm_maps[name] = (m - m.min()) / span if span > 0 else np.zeros_like(m)
    mask_arr = _as_ct(mask, "mask") > 0 if mask is not None else None

    n_maps = len(norm_maps)
    ratios = ([3.0] + [0.5] * n_maps) * n_ch
    fig, axes = plt.subplots(
        len(ratios), 1, figsize=(10, sum(ratios) * 0.45 + 0.8), sharex=True,
        gridspec_kw={"height_ratios": ratios, "hspace": 0.08}, squeeze=False,
    )
    axes = axes[:, 0]
    t = np.arange(n_t)
    for c in range(n_ch):
        ax = axes[c * (1 + n_maps)]
        ax.plot(t, x[c], color="black", lw=1.0)
        ax.set_ylabel(names[c])
        if mask_arr is not None:
            for s, e in _runs(mask_arr[c]):
                ax.axvspan(s - 0.5, e - 0.5, color="grey", alpha=0.3, lw=0)
        for k, (name, m) in enumerate(norm_maps.items()):
            strip = axes[c * (1 + n_maps) + 1 + k]
            strip.imshow(m[c][None], aspect="auto", cmap="inferno", vmin=0, vmax=1,
                         extent=(-0.5, n_t - 0.5, 0, 1), interpolation="nearest")
            strip.set_yticks([])
            strip.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    for r in regions or []:
        c = _channel_index(r.channel, names)
        if c is None or not 0 <= c < n_ch:
            continue
        ax = axes[c * (1 + n_maps)]
        ax.axvspan(r.start - 0.5, r.end - 0.5, facecolor="tab:blue", alpha=0.15, edgecolor="tab:blue", lw=1.2)
        ax.text((r.start + r.end - 1) / 2, 0.97, f"{float(r.score):.2f}", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=7, color="tab:blue",
                bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1})
    if mask_arr is not None and mask_arr.any():
        # One entry for the mask however many spans (and whichever channels) it has.
        gt = Patch(facecolor="grey", alpha=0.3, lw=0, label="GT mask")
        axes[0].legend(handles=[gt], loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time step")
    axes[-1].set_xlim(-0.5, n_t - 0.5)
    if title:
        fig.suptitle(title)
    return fig


def plot_deletion_curves(curves: Mapping[str, Mapping[str, Any]], path: PathLike = "deletion.png") -> Path:
    """Accuracy and target probability (or |Δoutput| for regression) against the fraction removed/kept."""
    if not curves:
        raise ValueError("curves is empty; pass {explainer name: deletion_curve(...) result}.")
    has_acc = any(c.get("acc") is not None for c in curves.values())
    panels = (["acc"] if has_acc else []) + ["prob"]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        for name, curve in curves.items():
            if curve.get(key) is None:
                continue
            f = _np(curve["fractions"])
            xs, ys = f, _np(curve[key])
            clean = curve.get("clean_acc" if key == "acc" else "clean_prob")
            if curve.get("mode", "deletion") == "deletion" and clean is not None and f[0] > 0:
                xs, ys = np.r_[0.0, xs], np.r_[clean, ys]  # removing nothing = the clean input
            ax.plot(xs, ys, marker="o", ms=3, label=f"{name} ({curve.get('mode', 'deletion')})")
        first = next(iter(curves.values()))
        ax.set_ylabel("accuracy" if key == "acc" else first.get("prob_label", "mean target probability"))
        ax.set_xlabel("fraction of points " + ("kept" if first.get("mode") == "insertion" else "removed"))
        if key == "acc" or first.get("task", "multiclass") != "regression":
            ax.set_ylim(-0.02, 1.02)  # accuracies and probabilities on a common scale across figures
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_multihead_attention(attn: Any, path: PathLike = "attention.png", max_heads: int = 8) -> Path:
    """Grid of attention matrices: rows = layers, columns = heads. `attn` is [H, N, N], [L, H, N, N] or a list."""
    layers = [_np(a) for a in attn] if isinstance(attn, list | tuple) else None
    if layers is None:
        a = _np(attn)
        layers = [a] if a.ndim <= 3 else list(a)
    layers = [a[None] if a.ndim == 2 else a for a in layers]
    if any(a.ndim != 3 or a.shape[-1] != a.shape[-2] for a in layers):
        raise ValueError("attention must be [H, N, N] per layer (square per head); average out the batch first.")
    n_heads = min(max(a.shape[0] for a in layers), max_heads)
    fig, axes = plt.subplots(len(layers), n_heads, figsize=(2.2 * n_heads, 2.2 * len(layers)), squeeze=False)
    for li, a in enumerate(layers):
        for h in range(n_heads):
            ax = axes[li, h]
            ax.set_xticks([])
            ax.set_yticks([])
            if h >= a.shape[0]:
                ax.axis("off")
                continue
            ax.imshow(a[h], cmap="viridis", aspect="equal", interpolation="nearest")
            ax.set_title(f"L{li} H{h}", fontsize=8)
    axes[-1, 0].set_xlabel("key")
    axes[-1, 0].set_ylabel("query")
    return _save(fig, path)


def plot_concept_activations(history: Any, path: PathLike = "concepts.png",
                             concept_names: Sequence[str] | None = None) -> Path:
    """Heatmap of concept (latent) activations over training: history is [epochs, d]."""
    h = _np(history)
    if h.ndim != 2:
        raise ValueError(f"history must be [epochs, d]; got shape {h.shape}. Stack one vector per epoch.")
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), height_ratios=[3, 1], sharex=True)
    im = axes[0].imshow(h.T, aspect="auto", cmap="magma", interpolation="nearest",
                        extent=(-0.5, h.shape[0] - 0.5, h.shape[1] - 0.5, -0.5))
    fig.colorbar(im, ax=axes[0], label="activation")
    axes[0].set_ylabel("concept")
    if concept_names is not None and len(concept_names) == h.shape[1]:
        axes[0].set_yticks(range(h.shape[1]), concept_names, fontsize=7)
    axes[1].plot(np.arange(h.shape[0]), (h > 0).mean(axis=1), color="black")
    axes[1].set_ylabel("frac. active")
    axes[1].set_xlabel("epoch")
    return _save(fig, path)


def plot_counterfactual(
    x: Any,
    x_cf: Any,
    path: PathLike = "counterfactual.png",
    title: str | None = None,
    channel_names: Sequence[str] | None = None,
    labels: tuple[str, str] = ("original", "counterfactual"),
) -> Path:
    """Original and counterfactual series per channel, with the gap between them filled."""
    x, x_cf = _as_ct(x, "x"), _as_ct(x_cf, "x_cf")
    if x.shape != x_cf.shape:
        raise ValueError(f"x {x.shape} and x_cf {x_cf.shape} must have the same [C, T] shape.")
    n_ch, n_t = x.shape
    names = list(channel_names) if channel_names is not None else [f"ch{c}" for c in range(n_ch)]
    fig, axes = plt.subplots(n_ch, 1, figsize=(10, 1.8 * n_ch + 0.6), sharex=True, squeeze=False)
    t = np.arange(n_t)
    for c, ax in enumerate(axes[:, 0]):
        ax.plot(t, x[c], color="black", lw=1.0, label=labels[0])
        ax.plot(t, x_cf[c], color="tab:red", lw=1.0, label=labels[1])
        ax.fill_between(t, x[c], x_cf[c], color="tab:red", alpha=0.2, lw=0)
        ax.set_ylabel(names[c] if c < len(names) else f"ch{c}")
    axes[0, 0].legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("time step")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_firing_histogram(freq: Any, path: PathLike = "firing_frequency.png") -> Path:
    """Histogram of log10 concept firing frequency (SAE health: dead latents sit at the left edge)."""
    f = _np(freq).ravel()
    fig, ax = plt.subplots(figsize=(6, 3))
    floor = 1.0 / max(len(f), 1) / 1e3
    ax.hist(np.log10(np.clip(f, floor, None)), bins=30, color="tab:blue")
    ax.set_xlabel("log10 firing frequency (fraction of samples)")
    ax.set_ylabel("concepts")
    ax.set_title(f"{int((f == 0).sum())} of {len(f)} concepts never fire")
    return _save(fig, path)
