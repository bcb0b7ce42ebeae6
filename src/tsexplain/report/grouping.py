"""Group runs by the keys their sweep varied, summarise each metric over seeds (mean ± standard error) and mark the
best row per column (each metric's direction is known from its name)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from tsexplain.report.collect import Run


def _short(value) -> str:
    text = str(value)
    return text.rsplit(".", 1)[-1] if text.startswith("tsexplain.") or text.startswith("torch.") else text


def _dataset(c: dict) -> str | None:
    d = c.get("dataset") or {}
    if not isinstance(d, dict):
        return None
    return d.get("name") or (Path(str(d["path"])).stem if d.get("path") else None) or \
        (_short(d["_target_"]) if d.get("_target_") else None)


def _explainer(c: dict) -> str | None:
    e = c.get("explainer") or {}
    if not isinstance(e, dict) or not e:
        return "none"
    return e.get("name") or (_short(e["_target_"]) if e.get("_target_") else None)


def _model(c: dict) -> str | None:
    m = c.get("model") or {}
    return (m.get("name") or (_short(m["_target_"]) if m.get("_target_") else None)) if isinstance(m, dict) else None


# Readable names for the config groups a sweep usually varies; any other key is read as a dotted path.
LABELS: dict[str, Callable[[dict], str | None]] = {"dataset": _dataset, "model": _model, "explainer": _explainer}
SEED_KEY = "seed"
# Keys that differ between runs without being a setting: where the run writes, its seeds (the replicate axis).
_IGNORED_PARTS = re.compile(r"(^|_)(dir|dirpath|save_dir|path|paths|filename|ckpt_path|seed|output_dir)$")
_IGNORED_TOP = {"paths", "hydra", "task_name", "existing_results", "print_config", "resume_from", "logger",
                "callbacks", "n_figures"}


def label(run: Run, key: str) -> str:
    """The value of grouping key `key` in a run (a LABELS name or a dotted config path), as table text."""
    if key in LABELS:
        value = LABELS[key](run.cfg)
    else:
        node = run.cfg
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and "_target_" in node:
            node = node["_target_"]
        value = node
    return "–" if value is None else _short(value)


def _flatten(node, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: repr(node)}


def _ignored(key: str) -> bool:
    parts = key.split(".")
    return parts[0] in _IGNORED_TOP or any(_IGNORED_PARTS.search(p) for p in parts)


def _determined(values: list[str], by_values: list[tuple]) -> bool:
    """Whether `values` is a function of `by_values` (one value per combination of the grouping keys)."""
    seen: dict[tuple, str] = {}
    return all(seen.setdefault(b, v) == v for b, v in zip(by_values, values, strict=True))


def swept_keys(runs: Sequence[Run]) -> list[str]:
    """The keys that tell the runs' settings apart (seeds and output paths aside): the dataset / model / explainer
    names when they differ, then, greedily, each differing config key that those chosen so far do not already fix
    (a recipe's epochs that follow the dataset add no column). `_target_` keys come first and read as the class."""
    by: list[str] = [k for k in LABELS if len({label(r, k) for r in runs}) > 1]
    flats = [_flatten(r.cfg) for r in runs]
    keys = sorted({k for f in flats for k in f if not _ignored(k)},
                  key=lambda k: (not k.endswith("._target_"), k.count("."), k))
    columns = {k: [f.get(k, "<absent>") for f in flats] for k in keys}
    differing = [k for k in keys if len(set(columns[k])) > 1]
    for k in differing:
        current = [tuple(label(r, b) for b in by) for r in runs]
        if _determined(columns[k], current):
            continue
        by.append(k[: -len("._target_")] if k.endswith("._target_") else k)
    return by


@dataclass
class Stat:
    """Mean and standard error of one metric over a group's runs (`n` of them had the metric)."""

    mean: float
    se: float
    n: int

    def text(self, digits: int = 3) -> str:
        """`mean ± se` with the SE to the mean's decimals (`< 0.001` when it rounds to zero); the mean alone for
        one run, `–` for none."""
        if self.n == 0:
            return "–"
        d = decimals(self.mean, digits)
        mean = f"{self.mean:.{d}f}" if math.isfinite(self.mean) else str(self.mean)
        if self.n == 1 or not math.isfinite(self.se):
            return mean
        se = f"{self.se:.{d}f}"
        return f"{mean} ± {se}" if float(se) != 0 or self.se == 0 else f"{mean} ± <{10 ** -d:.{d}f}"


def decimals(x: float, digits: int = 3) -> int:
    """Decimals to print `x` with: `digits` for values near 1, fewer for hundreds and more, two significant
    figures below 10^-digits."""
    a = abs(x)
    if not math.isfinite(a) or a == 0:
        return digits
    if a >= 100:
        return 1
    if a >= 10:
        return 2
    return max(digits, 1 - math.floor(math.log10(a)))


def summarize(values: Sequence[float]) -> Stat:
    """Mean ± standard error of the mean (sample std / √n, scipy.stats.sem) over the finite values."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return Stat(float("nan"), float("nan"), 0)
    return Stat(float(v.mean()), float(stats.sem(v)) if v.size > 1 else float("nan"), int(v.size))


# Direction of a metric from its last name part: +1 higher is better, -1 lower is better; first match wins.
_DIRECTIONS: list[tuple[str, int]] = [
    (r"^del_auc", -1), (r"^ins_auc", +1), (r"del_drop", +1), (r"rand_spearman", -1), (r"infidelity", -1),
    (r"sensitivity", -1), (r"loss", -1), (r"mse|mae|rmse|smape|mape", -1), (r"(^|_)ms(_|$)", -1), (r"_s$", -1),
    (r"fvu", -1), (r"dead_frac", -1), (r"eps_rec|eps_cf", -1), (r"(^|_)(kl|mmd)(_|$)", -1),
    (r"acc|f1|auprc|aup$|aur$|auroc|bleu|rouge|fidelity|faithfulness|(^|_)r2$|precision|recall", +1),
]


def direction(metric: str) -> int:
    """+1 when a higher value of `metric` is better, -1 when lower is, 0 when unknown (no best marked)."""
    name = metric.rsplit("/", 1)[-1].lower()
    return next((d for pattern, d in _DIRECTIONS if re.search(pattern, name)), 0)


@dataclass
class Group:
    """The runs of one combination of grouping keys and their summaries."""

    keys: tuple[str, ...]
    runs: list[Run]
    stats: dict[str, Stat] = field(default_factory=dict)
    best: set[str] = field(default_factory=set)

    def common(self, key: str) -> str | None:
        """The value of `key` shared by all the group's runs (None when they differ)."""
        values = {label(r, key) for r in self.runs}
        return values.pop() if len(values) == 1 else None

    @property
    def seeds(self) -> list[str]:
        return [label(r, SEED_KEY) for r in self.runs]


def group(runs: Sequence[Run], by: Sequence[str], metrics: Sequence[str]) -> list[Group]:
    """Runs grouped by `by` (groups sorted by their key values), each metric summarised over the group."""
    groups: dict[tuple[str, ...], list[Run]] = {}
    for r in runs:
        groups.setdefault(tuple(label(r, k) for k in by), []).append(r)
    out = []
    for key in sorted(groups):
        g = Group(key, groups[key])
        g.stats = {m: summarize([r.metrics.get(m, float("nan")) for r in g.runs]) for m in metrics}
        out.append(g)
    return out


def mark_best(groups: Sequence[Group], by: Sequence[str], metrics: Sequence[str], within: str | None = "dataset") \
        -> None:
    """Mark, per metric, the best mean among the groups that share `within` (each dataset apart: explainers are
    compared on the same data); ties are all marked unless every group ties, unknown directions never."""
    blocks: dict[str, list[Group]] = {}
    split = within in by and len(by) > 1
    for g in groups:
        blocks.setdefault(g.keys[list(by).index(within)] if split else "", []).append(g)
    for m in metrics:
        d = direction(m)
        if d == 0:
            continue
        for members in blocks.values():
            scored = [g for g in members if g.stats[m].n > 0]
            if len(scored) < 2:
                continue
            best = max(d * g.stats[m].mean for g in scored)
            winners = [g for g in scored if math.isclose(d * g.stats[m].mean, best, rel_tol=1e-9, abs_tol=1e-12)]
            if len(winners) == len(scored):
                continue  # all equal (the same black box under every explainer): nothing is best
            for g in winners:
                g.best.add(m)
