"""Comparison report of a multirun or runs folder: tables grouped by the swept keys (mean ± SE over seeds, best
marked, published anchors beside), plots, written as report.md and one self-contained report.html.

    python -m tsexplain.report logs/benchmark_synthetic/multiruns/<time> [--by dataset explainer] [--out DIR]
        [--wandb ENTITY/PROJECT] [--readme README.md --marker NAME]

--readme/--marker also put the report's tables (no figures) into the README between `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->` (tsexplain.report.readme): `make bench-*` writes the README's benchmark tables this way.

Exit status: 0 with a report, 1 when nothing under the folder is usable (the reasons are printed), 2 on bad
arguments (a missing folder, an unreadable anchors file, --wandb not ENTITY/PROJECT or without wandb-workspaces,
--readme without --marker or a README without that marker's block);
with --wandb online, 1 when W&B refuses to save the report (the Markdown/HTML report is written first either way).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tsexplain.report.anchors import DEFAULT, Anchors
from tsexplain.report.build import build
from tsexplain.report.render import to_markdown, write_report


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tsexplain.report", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a multirun folder, a logs/<task_name> folder or any folder of runs")
    parser.add_argument("--by", nargs="+", default=None,
                        help="grouping keys (dataset, model, explainer or dotted config paths such as "
                             "explainer.align); default: the keys that differ between the runs of each sweep")
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="table columns (metrics.json keys, e.g. test/f1 explain/auprc; `all` for every one); "
                             "default: the usual accuracy / explanation / cost metrics the runs have")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <root>/report)")
    parser.add_argument("--anchors", default=str(DEFAULT),
                        help="YAML of published numbers (default: the shipped anchors.yaml; `none` for no anchors)")
    parser.add_argument("--no-figures", action="store_true", help="tables only (faster on very large sweeps)")
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT", default=None,
                        help="also build a W&B Report comparing the sweeps' W&B groups (needs wandb-workspaces; "
                             "offline it prints the `wandb sync` and report commands to run later)")
    parser.add_argument("--readme", type=Path, default=None,
                        help="also write the tables into this file between <!-- bench:MARKER --> and "
                             "<!-- /bench:MARKER --> (needs --marker)")
    parser.add_argument("--marker", default=None, help="the README block --readme replaces")
    args = parser.parse_args(argv)
    if (args.readme is None) != (args.marker is None):
        parser.error("--readme and --marker go together: --readme README.md --marker <name>")
    if args.readme is not None:
        from tsexplain.report.readme import check_marker

        if not args.readme.is_file():
            parser.error(f"--readme {args.readme} is not a file")
        why = check_marker(args.readme.read_text(encoding="utf-8"), args.marker)
        if why is not None:
            parser.error(f"--readme {args.readme}: {why}")
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a folder; pass the folder of a sweep or of runs "
                     "(logs/<task_name>/multiruns/<time> or logs/<task_name>).")
    if args.wandb is not None:
        from tsexplain.report.wandb_report import parse_target

        try:
            args.wandb = parse_target(args.wandb)
        except ValueError as err:
            parser.error(str(err))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Build and write the report; the exit status as in the module docstring."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.wandb is not None:
        from tsexplain.report.wandb_report import check_library, offline_reason

        # online, without the library, fail before anything is built (offline needs no library: it only prints)
        missing = check_library()
        if missing and offline_reason([]) is None:
            print(f"error: {missing}", file=sys.stderr)
            return 2
    try:
        anchors = Anchors.load(None if args.anchors.lower() == "none" else Path(args.anchors))
    except SystemExit as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = build(args.root, by=args.by, metrics=args.metrics, anchors=anchors, with_figures=not args.no_figures)
    if not report.sections:
        why = "".join(f"\n  {k.path}: {k.reason}" for k in report.skipped[:20])
        more = f"\n  ... and {len(report.skipped) - 20} more" if len(report.skipped) > 20 else ""
        print(f"error: no usable run under {args.root} (a run folder holds metrics.json and config_resolved.yaml, "
              f"written by python run.py ...); {len(report.skipped)} folder(s) skipped{why}{more}", file=sys.stderr)
        return 1
    out = args.out or args.root / "report"
    paths = write_report(report, out)
    print(to_markdown(report))
    print(f"wrote {paths['markdown']} and {paths['html']} ({report.n_runs} runs, {len(report.skipped)} skipped)")
    if args.readme is not None:
        from tsexplain.report.readme import update_readme
        from tsexplain.report.render import readme_block

        command = " ".join(["python -m tsexplain.report", *argv])
        changed = update_readme(args.readme, args.marker, readme_block(report, command))
        print(f"{'rewrote' if changed else 'unchanged:'} the `{args.marker}` block of {args.readme}")
    if args.wandb is not None:
        from tsexplain.report.wandb_report import publish

        status, message = publish(report, *args.wandb, argv)
        print(message, file=sys.stderr if status else sys.stdout)
        return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
