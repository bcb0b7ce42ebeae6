"""Assemble the comparison report of a folder of runs: one section per sweep (its grouping keys, table, published
anchors, figures), the notes on what was mixed, and the skipped runs with their reasons."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt

from tsexplain.report import plots
from tsexplain.report.anchors import Anchor, Anchors
from tsexplain.report.collect import Run, Skipped, collect, sweep_completion
from tsexplain.report.grouping import LABELS, Group, group, mark_best, swept_keys

# Columns of the table when --metrics is not given, in this order, where the runs have them.
PREFERRED = ["test/acc", "test/f1", "test/mse", "explain/auprc", "explain/aup", "explain/aur", "explain/del_auc",
             "explain/ins_auc", "explain/label_fidelity", "explain/l0", "explain/ms_per_instance"]
# A black box below this test macro-F1 is a weak model: a note names the groups whose maps explain one.
WEAK_F1 = 0.9
# Metrics never shown as columns unless asked for by name: per-sample SEs and counts.
_NOT_COLUMNS = re.compile(r"(_sem$|/n_|_n$|/params_)")


@dataclass
class Figure:
    """A rendered figure: its title, file name (under figures/) and PNG bytes."""

    title: str
    name: str
    png: bytes


@dataclass
class Section:
    """One sweep's part of the report."""

    sweep: str
    runs: list[Run]
    by: list[str]
    metrics: list[str]
    groups: list[Group]
    fixed: dict[str, str]
    anchors: dict[tuple[int, str], Anchor] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    def anchored(self, metric: str) -> bool:
        return any(m == metric for _, m in self.anchors)


@dataclass
class Report:
    """The whole report: where it was read from, the sections, notes and skipped runs."""

    root: Path
    sections: list[Section]
    skipped: list[Skipped]
    notes: list[str]

    @property
    def n_runs(self) -> int:
        return sum(len(s.runs) for s in self.sections)


def choose_metrics(runs: Sequence[Run], asked: Sequence[str] | None, anchored: set[str]) -> list[str]:
    """The table's columns: those asked for (`all`: every metric), else PREFERRED ∪ anchored metrics present."""
    present = sorted({m for r in runs for m in r.metrics})
    if asked and list(asked) != ["all"]:
        return list(asked)
    if asked:
        return [m for m in present if not _NOT_COLUMNS.search(m)]
    chosen = [m for m in PREFERRED if m in present]
    chosen += [m for m in sorted(anchored) if m in present and m not in chosen]
    return chosen or [m for m in present if not _NOT_COLUMNS.search(m)][:8]


def job_seconds(run: Run) -> float | None:
    """A job's wall time: metrics.json's `info.job_s`, else (runs from before it was recorded) the time from its
    config_resolved.yaml to its metrics.json, both written by the job itself."""
    if isinstance(run.info.get("job_s"), int | float):
        return float(run.info["job_s"])
    try:
        span = (run.path / "metrics.json").stat().st_mtime - (run.path / "config_resolved.yaml").stat().st_mtime
    except OSError:
        return None
    return span if span > 0 else None  # a copy without its times (cp without -p) says nothing


def cost_note(runs: Sequence[Run]) -> str | None:
    """What the sweep's jobs cost and how much of it was training black boxes (a cache miss trains, a hit loads):
    the share the black-box cache is there to shrink."""
    wall = [s for r in runs if (s := job_seconds(r)) is not None]
    if not wall:
        return None
    trained = [r for r in runs if r.info.get("blackbox_cache", "miss") == "miss"
               and isinstance(r.info.get("blackbox_train_s"), int | float)]
    train_s = sum(float(r.info["blackbox_train_s"]) for r in trained)
    hits = [r for r in runs if r.info.get("blackbox_cache") == "hit"]
    # a hit's blackbox_train_s is its lookup: loading, or waiting on the lock while another job trains that key
    wait_s = sum(float(r.info.get("blackbox_train_s", 0.0)) for r in hits)
    total = sum(wall)
    rest = total - train_s - wait_s
    return (f"cost: {len(wall)} jobs, {total / 3600:.2f} h of job time (summed over jobs; concurrent jobs overlap): "
            f"training black boxes {train_s / 3600:.2f} h ({100 * train_s / max(total, 1e-9):.0f} %, "
            f"{len(trained)} trainings), {len(hits)} jobs loading a cached one or waiting on its lock "
            f"{wait_s / 3600:.2f} h ({100 * wait_s / max(total, 1e-9):.0f} %), explaining and scoring "
            f"{rest / 3600:.2f} h ({100 * rest / max(total, 1e-9):.0f} %).")


def _render(fig, title: str, name: str) -> Figure | None:
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return Figure(title, name, buf.getvalue())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "sweep"


def figures_for(section: Section) -> list[Figure]:
    """The section's figures, those its runs have data for."""
    g, by, slug = section.groups, section.by, _slug(section.sweep)
    main = next((m for m in ("explain/auprc", "test/f1", "test/acc", "test/mse") if m in section.metrics),
                section.metrics[0] if section.metrics else None)
    made = []
    if main is not None:
        made.append(_render(plots.bars(g, by, main), f"{main} per dataset and explainer",
                            f"{slug}_bars_{_slug(main)}.png"))
    made.append(_render(plots.deletion_curves(g, by), "Deletion curves", f"{slug}_deletion.png"))
    made.append(_render(plots.sparsity_fidelity(g, by), "TimeSAE sparsity vs fidelity", f"{slug}_sparsity.png"))
    made.append(_render(plots.time_vs_auprc(g, by), "Time per instance vs AUPRC", f"{slug}_time_auprc.png"))
    return [f for f in made if f is not None]


def build_section(sweep: str, runs: list[Run], by: Sequence[str] | None, asked: Sequence[str] | None,
                  anchors: Anchors, with_figures: bool = True) -> Section:
    """Group one sweep's runs, summarise them, mark the best, look up anchors, draw the figures."""
    keys = list(by) if by else swept_keys(runs)
    metrics = choose_metrics(runs, asked, anchors.metrics())
    groups = group(runs, keys, metrics)
    mark_best(groups, keys, metrics)
    fixed = {k: v for k in LABELS if k not in keys and (v := Group((), runs).common(k)) is not None}
    section = Section(sweep, runs, keys, metrics, groups, fixed)
    for i, g in enumerate(groups):
        dataset, model, explainer = (g.common(k) for k in ("dataset", "model", "explainer"))
        for m in metrics:
            a = anchors.lookup(dataset, model, explainer, m)
            if a is not None:
                section.anchors[(i, m)] = a
        repeats = [s for s, c in Counter(g.seeds).items() if c > 1]
        if repeats:
            section.notes.append(f"group {', '.join(g.keys) or 'all'} has several runs with seed {', '.join(repeats)}: "
                                 "they count as separate replicates.")
    weak = [g for g in groups if "test/f1" in g.stats and g.stats["test/f1"].n
            and g.stats["test/f1"].mean < WEAK_F1 and g.common("explainer") not in (None, "none")]
    if weak:
        section.notes.append(f"⚠ weak model: the black box's test/f1 is below {WEAK_F1} in "
                             f"{'; '.join(', '.join(g.keys) or 'all' for g in weak)}: those maps explain a weak model.")
    cost = cost_note(runs)
    if cost:
        section.notes.append(cost)
    missing = [m for m in metrics if not any(g.stats[m].n for g in groups)]
    if missing:
        section.notes.append(f"no run of this sweep has {', '.join(missing)}.")
    if with_figures:
        section.figures = figures_for(section)
    return section


def build(root: Path, by: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
          anchors: Anchors | None = None, with_figures: bool = True) -> Report:
    """The report of every run under `root`, one section per sweep (task_name)."""
    anchors = anchors if anchors is not None else Anchors.load()
    runs, skipped = collect(root)
    by_sweep: dict[str, list[Run]] = {}
    for r in runs:
        by_sweep.setdefault(r.sweep, []).append(r)
    notes = sweep_completion(root)
    if len(by_sweep) > 1:
        notes.append(f"this folder mixes runs of {len(by_sweep)} sweeps ({', '.join(sorted(by_sweep))}): each is "
                     "grouped and marked apart, in its own section; compare numbers across sections with care.")
    sections = [build_section(s, rs, by, metrics, anchors, with_figures) for s, rs in sorted(by_sweep.items())]
    return Report(Path(root), sections, skipped, notes)


def seeds_text(g: Group) -> str:
    """The seeds of a group, for the n column's tooltip."""
    return ", ".join(sorted(set(g.seeds), key=lambda s: (len(s), s)))

