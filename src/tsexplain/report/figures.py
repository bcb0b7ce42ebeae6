"""Report figures (matplotlib, Agg backend): saliency overlays, deletion curves, attention, concepts, CFs.

Every function takes arrays (numpy or torch), writes one PNG, closes its figure and returns the path. Given the
dataset's `DataMeta`, series figures put time in seconds/minutes/hours and units on the channel labels, and many
channels become a heatmap plus the most salient channels' panels, so 12 leads or 26 sensors stay readable.
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
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from tsexplain.data.meta import DataMeta  # noqa: E402
from tsexplain.utils.time_axis import TimeAxis, meta_time_axis, time_axis  # noqa: E402

PathLike = str | Path
# Beyond this many channels a saliency or counterfactual figure is a C×T heatmap plus the TOP_K channels' panels:
# one panel per channel makes 12 leads ~18 in tall and 26 sensors ~37 in.
MAX_TRACE_CHANNELS = 8
TOP_K = 3


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


def _channels(n_ch: int, channel_names: Sequence[str] | None, meta: DataMeta | None) -> tuple[list[str], list[str]]:
    """(names, axis labels): names from `channel_names`, else `meta`, else ch0..; labels add units ("II (mV)")."""
    if channel_names is not None:
        names = list(channel_names)
    elif meta is not None:
        names = list(meta.channel_names)
    else:
        names = [f"ch{c}" for c in range(n_ch)]
    if len(names) != n_ch:
        raise ValueError(f"{len(names)} channel_names for {n_ch} channels; give one name per channel.")
    units = list(meta.units) if meta is not None and meta.units else []
    labels = [f"{n} ({units[c]})" if c < len(units) and units[c] else n for c, n in enumerate(names)]
    return names, labels


def _axis(meta: DataMeta | None, n_t: int) -> TimeAxis:
    """Seconds/minutes/hours from `meta.sampling_rate` (utils.time_axis), or steps without a meta or a clock."""
    return meta_time_axis(meta, n_t) if meta is not None else time_axis(1.0, n_t, clock=False)


def _normalise(m: np.ndarray) -> np.ndarray:
    span = m.max() - m.min()
    return (m - m.min()) / span if span > 0 else np.zeros_like(m)


def _figure(heights: Sequence[float], width: float = 10.0, title: str | None = None) -> tuple[plt.Figure, np.ndarray]:
    """One column of axes `heights` inches tall (sharing x), laid out by constrained layout: the suptitle sits on
    the first panel whatever the figure's height (a fixed `top` fraction leaves it inches above a tall one)."""
    extra = 0.5 + (0.35 if title else 0.0)
    fig, axes = plt.subplots(len(heights), 1, figsize=(width, sum(heights) + extra), sharex=True, squeeze=False,
                             height_ratios=list(heights), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.02, hspace=0.0)
    if title:
        fig.suptitle(title)
    return fig, axes[:, 0]


def plot_saliency(
    x: Any,
    maps: Mapping[str, Any],
    mask: Any | None = None,
    regions: Sequence[Any] | None = None,
    title: str | None = None,
    channel_names: Sequence[str] | None = None,
    path: PathLike = "saliency.png",
    meta: DataMeta | None = None,
    headline: str | Any | None = None,
    max_channels: int = MAX_TRACE_CHANNELS,
    top_k: int = TOP_K,
) -> Path:
    """The series with its saliency maps (see `saliency_figure`), written to `path`."""
    return _save(saliency_figure(x, maps, mask, regions, title, channel_names, meta=meta, headline=headline,
                                 max_channels=max_channels, top_k=top_k), path)


def saliency_figure(
    x: Any,
    maps: Mapping[str, Any],
    mask: Any | None = None,
    regions: Sequence[Any] | None = None,
    title: str | None = None,
    channel_names: Sequence[str] | None = None,
    meta: DataMeta | None = None,
    headline: str | Any | None = None,
    max_channels: int = MAX_TRACE_CHANNELS,
    top_k: int = TOP_K,
) -> plt.Figure:
    """The open figure `plot_saliency` saves (close it with `plt.close`).

    Up to `max_channels` channels: one panel per channel, the series with the GT mask shaded grey and the regions
    as labelled spans, and one heat strip per map underneath (each map min–max normalised over the whole sample
    so channels compare). More channels (12 leads, 26 sensors): one C×T heatmap of the `headline` map (a key of
    `maps`, or a [C, T] array such as the explainer's headline map; default the last map) with every channel
    named and the regions outlined, then the panels of only the `top_k` most salient channels: those the regions
    name (best first), then by saliency mass. With `meta` the x-axis is time in seconds/minutes/hours
    (`meta.sampling_rate`) and the labels carry units.

    Regions are any objects with `channel` (index or name), `start`, `end` (exclusive) and `score`.
    """
    x = _as_ct(x, "x")
    n_ch, n_t = x.shape
    names, labels = _channels(n_ch, channel_names, meta)
    norm_maps = {}
    for name, m in maps.items():
        m = _as_ct(m, f"maps[{name!r}]")
        if m.shape != x.shape:
            raise ValueError(f"maps[{name!r}] has shape {m.shape}, x has {x.shape}; pass [C, T] maps.")
        norm_maps[name] = _normalise(m)
    mask_arr = _as_ct(mask, "mask") > 0 if mask is not None else None
    axis = _axis(meta, n_t)
    valid = [(c, r) for r in regions or [] if (c := _channel_index(r.channel, names)) is not None and 0 <= c < n_ch]
    if n_ch <= max_channels:
        shown = list(range(n_ch))
        fig, heat_rows = None, 0
    else:
        head_name, head = _headline(headline, norm_maps, x.shape)
        shown = _top_channels(head, [c for c, _ in valid], top_k)
        heat_h = max(1.6, 0.16 * n_ch)
        per = [1.0] + [0.2] * len(norm_maps)
        fig, axes = _figure([heat_h] + per * len(shown), title=title)
        what = head_name if "saliency" in head_name else f"{head_name} saliency"
        _heatmap(axes[0], head, labels, axis, shown, valid, f"{what} (min–max normalised), all {n_ch} channels; "
                 f"panels below: the {len(shown)} most salient", cmap="inferno", vmin=0, vmax=1)
        heat_rows = 1
    if fig is None:
        unit_h = 0.45 if n_ch <= 4 else 0.3
        per = [3.0 * unit_h] + [0.5 * unit_h] * len(norm_maps)
        fig, axes = _figure(per * n_ch, title=title)
    rows = 1 + len(norm_maps)
    t = axis.at(np.arange(n_t))
    edges = (axis.at(-0.5), axis.at(n_t - 0.5))
    trace_of = {}
    for i, c in enumerate(shown):
        ax = axes[heat_rows + i * rows]
        trace_of[c] = ax
        ax.plot(t, x[c], color="black", lw=1.0)
        ax.set_ylabel(labels[c], fontsize=9 if len(labels[c]) < 14 else 8)
        if mask_arr is not None:
            for s, e in _runs(mask_arr[c]):
                ax.axvspan(axis.at(s - 0.5), axis.at(e - 0.5), color="grey", alpha=0.3, lw=0)
        for k, (name, m) in enumerate(norm_maps.items()):
            strip = axes[heat_rows + i * rows + 1 + k]
            strip.imshow(m[c][None], aspect="auto", cmap="inferno", vmin=0, vmax=1,
                         extent=(*edges, 0, 1), interpolation="nearest")
            strip.set_yticks([])
            strip.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    for c, r in valid:
        if c not in trace_of:
            continue
        ax = trace_of[c]
        ax.axvspan(axis.at(r.start - 0.5), axis.at(r.end - 0.5), facecolor="tab:blue", alpha=0.15,
                   edgecolor="tab:blue", lw=1.2)
        ax.text(axis.at((r.start + r.end - 1) / 2), 0.97, f"{float(r.score):.2f}", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=7, color="tab:blue",
                bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1})
    if mask_arr is not None and mask_arr.any():
        # One entry for the mask however many spans (and whichever channels) it has.
        gt = Patch(facecolor="grey", alpha=0.3, lw=0, label="GT mask")
        axes[heat_rows].legend(handles=[gt], loc="upper right", fontsize=7)
    axes[-1].set_xlabel(axis.label)
    axes[-1].set_xlim(*edges)
    return fig


def _headline(headline: str | Any | None, norm_maps: Mapping[str, np.ndarray],
              shape: tuple[int, int]) -> tuple[str, np.ndarray]:
    """(name, normalised [C, T]) of the map the heatmap shows and the channels are ranked by."""
    if headline is None:
        if not norm_maps:
            raise ValueError("a saliency figure of more channels than max_channels needs a map to rank channels by; "
                             "pass maps or headline.")
        name = list(norm_maps)[-1]
        return name, norm_maps[name]
    if isinstance(headline, str):
        if headline not in norm_maps:
            raise ValueError(f"headline={headline!r} is not one of the maps {list(norm_maps)}; name one, or pass "
                             "the [C, T] map itself.")
        return headline, norm_maps[headline]
    m = _as_ct(headline, "headline")
    if m.shape != shape:
        raise ValueError(f"headline has shape {m.shape}, x has {shape}; pass a [C, T] map.")
    return "saliency", _normalise(m)


def _top_channels(score_map: np.ndarray, first: Sequence[int], k: int) -> list[int]:
    """Up to `k` channels: `first` (the regions' channels, in order), then the rest by mass of `score_map` (ties by
    index; channels without any left out, one kept), in channel order so the panels read like the heatmap."""
    if k < 1:
        raise ValueError(f"top_k={k} must be ≥ 1 (the channels drawn as traces beside the heatmap).")
    mass = score_map.sum(axis=1)
    ranked = [c for c in sorted(range(len(mass)), key=lambda c: (-mass[c], c)) if mass[c] > 0]
    order = list(dict.fromkeys([*first, *ranked])) or [0]
    return sorted(order[:k])


def _heatmap(ax: plt.Axes, values: np.ndarray, labels: Sequence[str], axis: TimeAxis, shown: Sequence[int],
             regions: Sequence[tuple[int, Any]], title: str, **imshow: Any) -> None:
    """C×T image with every channel's label as a y tick (the traced ones in bold), regions outlined, a colorbar."""
    n_ch, n_t = values.shape
    im = ax.imshow(values, aspect="auto", interpolation="nearest",
                   extent=(axis.at(-0.5), axis.at(n_t - 0.5), n_ch - 0.5, -0.5), **imshow)
    ax.set_yticks(range(n_ch), labels, fontsize=8 if n_ch <= 16 else 7)
    for c, tick in enumerate(ax.get_yticklabels()):
        if c in shown:
            tick.set_fontweight("bold")
    for c, r in regions:
        ax.add_patch(Rectangle((axis.at(r.start - 0.5), c - 0.5), axis.at(r.end - r.start), 1.0, fill=False,
                               edgecolor="tab:cyan", lw=1.5))
    ax.set_title(title, fontsize=9, loc="left")
    cax = ax.inset_axes((1.01, 0.0, 0.012, 1.0))
    ax.figure.colorbar(im, cax=cax)
    cax.tick_params(labelsize=7)


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
    meta: DataMeta | None = None,
    max_channels: int = MAX_TRACE_CHANNELS,
    top_k: int = TOP_K,
) -> Path:
    """Original and counterfactual series (see `counterfactual_figure`), written to `path`."""
    return _save(counterfactual_figure(x, x_cf, title, channel_names, labels, meta, max_channels, top_k), path)


def counterfactual_figure(
    x: Any,
    x_cf: Any,
    title: str | None = None,
    channel_names: Sequence[str] | None = None,
    labels: tuple[str, str] = ("original", "counterfactual"),
    meta: DataMeta | None = None,
    max_channels: int = MAX_TRACE_CHANNELS,
    top_k: int = TOP_K,
) -> plt.Figure:
    """Original and counterfactual series per channel, with the gap between them filled. More than
    `max_channels` channels: a C×T heatmap of the change (counterfactual − original) with every channel named, and
    the panels of the `top_k` channels changed most. With `meta`: time and units on the axes, as `saliency_figure`."""
    x, x_cf = _as_ct(x, "x"), _as_ct(x_cf, "x_cf")
    if x.shape != x_cf.shape:
        raise ValueError(f"x {x.shape} and x_cf {x_cf.shape} must have the same [C, T] shape.")
    n_ch, n_t = x.shape
    _, names = _channels(n_ch, channel_names, meta)  # the labels, with units
    axis = _axis(meta, n_t)
    if n_ch <= max_channels:
        shown, heat_rows = list(range(n_ch)), 0
        fig, axes = _figure([1.6 if n_ch <= 4 else 1.1] * n_ch, title=title)
    else:
        diff = x_cf - x
        shown = _top_channels(np.abs(diff), [], top_k)
        fig, axes = _figure([max(1.6, 0.16 * n_ch)] + [1.1] * len(shown), title=title)
        vmax = float(np.abs(diff).max()) or 1.0
        _heatmap(axes[0], diff, names, axis, shown, [], f"{labels[1]} − {labels[0]}, all {n_ch} channels; panels "
                 f"below: the {len(shown)} changed most", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        heat_rows = 1
    t = axis.at(np.arange(n_t))
    for i, c in enumerate(shown):
        ax = axes[heat_rows + i]
        ax.plot(t, x[c], color="black", lw=1.0, label=labels[0], zorder=3)  # on top: red shows only where it differs
        ax.plot(t, x_cf[c], color="tab:red", lw=1.0, label=labels[1])
        ax.fill_between(t, x[c], x_cf[c], color="tab:red", alpha=0.2, lw=0)
        ax.set_ylabel(names[c], fontsize=9 if len(names[c]) < 14 else 8)
    axes[heat_rows].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel(axis.label)
    axes[-1].set_xlim(axis.at(-0.5), axis.at(n_t - 0.5))
    return fig


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
