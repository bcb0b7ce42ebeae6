"""One Markdown table of mean ± standard error over the runs under a folder (the plain-table form of the report;
`python -m tsexplain.report` writes the full report with anchors, plots and HTML).

    python -m tsexplain.report.compare logs/bench_blackbox --by dataset model --metrics test/acc test/f1
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tsexplain.report import collect as _collect
from tsexplain.report.grouping import Stat, group


def collect(root: Path) -> list[dict]:
    """One record per finished run under `root`: its config (resolved), metrics and folder; unusable runs are
    left out (the full report lists them with their reasons)."""
    runs, _ = _collect.collect(Path(root), progress=False)
    return [{"cfg": r.cfg, "metrics": r.metrics, "path": str(r.path), "run": r} for r in runs]


def aggregate(records: list[dict], by: Sequence[str], metrics: Sequence[str]) -> list[dict]:
    """Per group of `by`: n and, per metric, (mean, standard error, count) over the group's runs."""
    runs = [r.get("run") or _collect.Run(Path(r.get("path", ".")), r["cfg"], r["metrics"], "") for r in records]
    rows = []
    for g in group(runs, by, metrics):
        row: dict = dict(zip(by, g.keys, strict=True))
        row["n"] = len(g.runs)
        row.update({m: (g.stats[m].mean, g.stats[m].se, g.stats[m].n) for m in metrics})
        rows.append(row)
    return rows


def to_markdown(rows: list[dict], by: Sequence[str], metrics: Sequence[str], digits: int = 3) -> str:
    """The rows of `aggregate` as a Markdown table."""
    head = [*by, "n", *metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(row[k]) for k in by] + [str(row["n"])] + [Stat(*row[m]).text(digits) for m in metrics]
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
        raise SystemExit(f"no finished run (metrics.json + config_resolved.yaml) under {args.root}; "
                         f"python -m tsexplain.report {args.root} lists what was skipped and why.")
    table = to_markdown(aggregate(records, args.by, args.metrics), args.by, args.metrics)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
