"""The comparison report's figures (matplotlib, Agg): bars per dataset and explainer, deletion curves, TimeSAE's
sparsity vs fidelity, and time per instance vs AUPRC. Each returns a Figure or None when the runs lack its data."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from tsexplain.report.grouping import Group  # noqa: E402


def _name(g: Group, by: Sequence[str], drop: str | None = "dataset") -> str:
    parts = [f"{v}" for k, v in zip(by, g.keys, strict=True) if k != drop]
    return ", ".join(parts) or "all runs"


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def bars(groups: Sequence[Group], by: Sequence[str], metric: str) -> Figure | None:
    """Mean ± SE of `metric` per dataset (x) and per the other grouping keys (bars)."""
    scored = [g for g in groups if g.stats.get(metric) and g.stats[metric].n > 0]
    if not scored:
        return None
    datasets = sorted({g.common("dataset") or "–" for g in scored})
    hues = sorted({_name(g, by) for g in scored})
    width = 0.8 / len(hues)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(datasets) * max(1, len(hues) / 3) + 2), 3.6),
                           constrained_layout=True)
    for i, (hue, color) in enumerate(zip(hues, _colors(len(hues)), strict=True)):
        xs, ys, es = [], [], []
        for j, d in enumerate(datasets):
            g = next((g for g in scored if (g.common("dataset") or "–") == d and _name(g, by) == hue), None)
            if g is not None:
                s = g.stats[metric]
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(s.mean)
                es.append(0.0 if math.isnan(s.se) else s.se)
        ax.bar(xs, ys, width * 0.92, yerr=es, capsize=2, color=color, label=hue)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel(f"{metric} (mean ± SE)")
    ax.set_title(f"{metric} per dataset")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=min(len(hues), 4), loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    return fig


def _curve(run_curves: dict, mode: str) -> tuple[np.ndarray, np.ndarray] | None:
    c = ((run_curves or {}).get("explainer") or {}).get(mode) or {}
    fractions = c.get("fractions")
    key = next((k for k in ("acc", "prob", "mse") if isinstance(c.get(k), list)), None)
    if not fractions or key is None or len(c[key]) != len(fractions):
        return None
    return np.asarray(fractions, float), np.asarray(c[key], float)


def deletion_curves(groups: Sequence[Group], by: Sequence[str], mode: str = "deletion") -> Figure | None:
    """Accuracy of the black box as the top-ranked fraction of points is deleted, mean over each group's seeds;
    one panel per dataset (faithfulness_curves.json)."""
    lines: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for g in groups:
        got = [c for c in (_curve(r.curves(), mode) for r in g.runs) if c is not None]
        same = [c for c in got if np.array_equal(c[0], got[0][0])] if got else []
        if same:
            lines.setdefault(g.common("dataset") or "–", []).append(
                (_name(g, by), same[0][0], np.mean([c[1] for c in same], axis=0)))
    if not lines:
        return None
    names = sorted({n for ls in lines.values() for n, _, _ in ls})
    color = dict(zip(names, _colors(len(names)), strict=True))
    fig, axes = plt.subplots(1, len(lines), figsize=(3.4 * len(lines) + 1.5, 3.2), squeeze=False, sharey=True,
                             constrained_layout=True)
    for ax, (dataset, ls) in zip(axes[0], sorted(lines.items()), strict=True):
        for n, f, y in ls:
            ax.plot(f, y, marker="o", ms=3, color=color[n], label=n)
        ax.set_title(dataset)
        ax.set_xlabel(f"fraction {'deleted' if mode == 'deletion' else 'inserted'} (top-ranked first)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("black-box accuracy (mean over seeds)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, fontsize=7, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)
    fig.suptitle(f"{mode.capitalize()} curves (lower is more faithful)" if mode == "deletion" else
                 f"{mode.capitalize()} curves")
    return fig


def _scatter(groups: Sequence[Group], by: Sequence[str], x: str, y: str, title: str, logx: bool = False) \
        -> Figure | None:
    pts = [g for g in groups if g.stats.get(x) and g.stats.get(y) and g.stats[x].n and g.stats[y].n]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.8), constrained_layout=True)
    hues = sorted({_name(g, by) for g in pts})
    color = dict(zip(hues, _colors(len(hues)), strict=True))
    datasets = sorted({g.common("dataset") or "–" for g in pts})
    marker = {d: "osD^v<>px*"[i % 10] for i, d in enumerate(datasets)}
    for g in pts:
        sx, sy, d = g.stats[x], g.stats[y], g.common("dataset") or "–"
        ax.errorbar(sx.mean, sy.mean, xerr=None if math.isnan(sx.se) else sx.se,
                    yerr=None if math.isnan(sy.se) else sy.se, fmt=marker[d], color=color[_name(g, by)], capsize=2,
                    label=f"{d}, {_name(g, by)}" if len(datasets) > 1 else _name(g, by))
    if logx and all(g.stats[x].mean > 0 for g in pts):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best", frameon=False)
    return fig


def sparsity_fidelity(groups: Sequence[Group], by: Sequence[str]) -> Figure | None:
    """TimeSAE runs: active concepts per sample (L0) against label fidelity of the reconstruction."""
    return _scatter(groups, by, "explain/l0", "explain/label_fidelity", "TimeSAE: sparsity vs fidelity")


def time_vs_auprc(groups: Sequence[Group], by: Sequence[str]) -> Figure | None:
    """Explanation cost (ms per instance, log scale) against ground-truth AUPRC."""
    return _scatter(groups, by, "explain/ms_per_instance", "explain/auprc", "Time per instance vs AUPRC", logx=True)
