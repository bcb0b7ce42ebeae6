"""Comparison report over runs and sweeps: every metrics.json under a folder → mean ± std tables.

    python -m tsexplain.report.compare logs/bench_blackbox --by dataset model --metrics test/acc test/f1
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import yaml

# How a grouping name is read from a run's config_resolved.yaml.
KEYS = {
    "dataset": lambda c: c["dataset"].get("name") or Path(str(c["dataset"].get("path", "?"))).stem,
    "model": lambda c: c["model"].get("name", "?"),
    "explainer": lambda c: (c.get("explainer") or {}).get("name") or _short((c.get("explainer") or {})
                                                                             .get("_target_", "none")),
    "seed": lambda c: c.get("seed"),
    "task_name": lambda c: c.get("task_name"),
}


def _short(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def _lookup(cfg: dict, key: str):
    if key in KEYS:
        return KEYS[key](cfg)
    node = cfg
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def collect(root: Path) -> list[dict]:
    """One record per finished run under `root`: its config (resolved) and metrics."""
    records = []
    for mfile in sorted(Path(root).rglob("metrics.json")):
        cfg_file = mfile.parent / "config_resolved.yaml"
        if not cfg_file.is_file():
            continue
        metrics = json.loads(mfile.read_text())["metrics"]
        records.append({"cfg": yaml.safe_load(cfg_file.read_text()), "metrics": metrics, "path": str(mfile.parent)})
    return records


def aggregate(records: list[dict], by: Sequence[str], metrics: Sequence[str]) -> list[dict]:
    """Mean, std and count of each metric per group (groups in first-seen order)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[tuple(_lookup(r["cfg"], k) for k in by)].append(r["metrics"])
    rows = []
    for key, ms in groups.items():
        row = dict(zip(by, key, strict=True))
        row["n"] = len(ms)
        for m in metrics:
            vals = [float(x[m]) for x in ms if x.get(m) is not None and not math.isnan(float(x[m]))]
            mean = sum(vals) / len(vals) if vals else float("nan")
            std = (sum((v - mean) ** 2 for v in vals) / len(vals)) ** 0.5 if vals else float("nan")
            row[m] = (mean, std, len(vals))
        rows.append(row)
    return rows


def to_markdown(rows: list[dict], by: Sequence[str], metrics: Sequence[str], digits: int = 3) -> str:
    head = [*by, "n", *metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(row[k]) for k in by] + [str(row["n"])]
        for m in metrics:
            mean, std, n = row[m]
            if n == 0:
                cells.append("–")
            else:
                cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder holding run folders (a multirun, a logs/<task> folder)")
    parser.add_argument("--by", nargs="+", default=["dataset", "model", "explainer"])
    parser.add_argument("--metrics", nargs="+", default=["test/acc", "test/f1"])
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this .md file")
    args = parser.parse_args(argv)
    if not args.root.exists():
        raise SystemExit(f"{args.root} does not exist; pass the folder of a run or sweep (logs/<task_name>/...).")
    records = collect(args.root)
    if not records:
        raise SystemExit(f"no finished run (metrics.json + config_resolved.yaml) under {args.root}.")
    table = to_markdown(aggregate(records, args.by, args.metrics), args.by, args.metrics)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
