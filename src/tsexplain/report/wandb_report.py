"""`python -m tsexplain.report <folder> --wandb ENTITY/PROJECT`: the comparison report as a W&B Report (built with
wandb-workspaces, imported only here): its summary tables as Markdown, then per sweep a panel grid of the sweep's
W&B group(s) with bar plots of the report's metrics grouped by the swept keys and time per instance vs AUPRC.

Offline (WANDB_MODE=offline, no credentials, or runs still in offline folders) nothing touches the network: the
`wandb sync` and report commands to run later are printed instead."""

from __future__ import annotations

import netrc
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tsexplain.report.build import Report, Section
from tsexplain.report.collect import Run
from tsexplain.report.grouping import LABELS
from tsexplain.report.wandb_log import LABELS_KEY
from tsexplain.utils.resolvers import wandb_group

# ENTITY/PROJECT: W&B entity names are letters, digits, `-` and `_`; project names may also hold `.`.
_TARGET = re.compile(r"^([A-Za-z0-9_-]+)/([A-Za-z0-9_.-]+)$")
EXTRA = "pip install 'tsexplain[wandb]'  (or: pip install wandb-workspaces)"
# Panels get these metrics first, where the section's table has them; then the table's other columns.
MAIN = ["explain/auprc", "explain/del_auc", "explain/ms_per_instance", "test/f1", "test/acc", "test/mse"]
MAX_PANELS = 8


def parse_target(value: str) -> tuple[str, str]:
    """(entity, project) from `ENTITY/PROJECT`; a ValueError naming the expected form otherwise."""
    m = _TARGET.match(str(value).strip())
    if not m:
        raise ValueError(f"--wandb {value!r} is not ENTITY/PROJECT: give the W&B entity (user or team) and project "
                         "separated by one slash, e.g. --wandb my-team/tsexplain.")
    return m.group(1), m.group(2)


def run_group(run: Run) -> str:
    """The W&B group of a run: the one it logged under (config_resolved.yaml's logger.wandb.group), else the group
    conf/logger/wandb.yaml would give it (task_name plus the multirun folder's name)."""
    logged = ((run.cfg.get("logger") or {}).get("wandb") or {}).get("group")
    if logged:
        return str(logged)
    sweep_dir = next((p for p in run.path.parents if (p / "multirun.yaml").is_file()), None)
    return wandb_group(run.cfg.get("task_name") or run.sweep, "MULTIRUN" if sweep_dir else None, sweep_dir)


def logged_to_wandb(run: Run) -> bool:
    """Whether the run had a W&B logger (logger=wandb); runs without one are not in any W&B project."""
    return bool((run.cfg.get("logger") or {}).get("wandb"))


def offline_run_dirs(runs: Sequence[Run]) -> list[Path]:
    """The W&B offline run folders (`<run>/wandb/offline-run-*`) of `runs` that `wandb sync` has not uploaded yet
    (no `run-<id>.wandb.synced` beside their `run-<id>.wandb`)."""
    out = []
    for r in runs:
        for d in sorted((r.path / "wandb").glob("offline-run-*")):
            logs = list(d.glob("run-*.wandb"))
            if logs and not all(f.with_suffix(".wandb.synced").exists() for f in logs):
                out.append(d)
    return out


def _has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        return netrc.netrc(os.environ.get("NETRC") or None).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def offline_reason(runs: Sequence[Run]) -> str | None:
    """Why the W&B Report cannot be built now without the network being wrong to try (None when it can)."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "dryrun", "disabled"):
        return f"WANDB_MODE={mode}"
    if not _has_credentials():
        return "no W&B credentials (set WANDB_API_KEY or run `wandb login`)"
    pending = offline_run_dirs(runs)
    if pending:
        return f"{len(pending)} run(s) were logged offline and are not synced yet"
    return None


def offline_instructions(report: Report, entity: str, project: str, argv: Sequence[str], reason: str) -> str:
    """What to run once online: `wandb sync` of the runs' offline folders into ENTITY/PROJECT, then this command."""
    runs = [r for s in report.sections for r in s.runs]
    dirs = offline_run_dirs(runs)
    lines = [f"W&B is offline ({reason}): the W&B Report was not built; nothing was sent."]
    if dirs:
        lines += [f"1. Upload the {len(dirs)} offline run(s) into {entity}/{project}:",
                  "   " + shlex.join(["wandb", "sync", "-e", entity, "-p", project, *map(str, dirs)])]
    else:
        lines += ["1. No offline W&B run folder under this folder: runs logged with logger=wandb (online, or "
                  f"synced) into {entity}/{project} are the ones the W&B Report shows."]
    lines += ["2. Then, online (WANDB_API_KEY set or `wandb login`, WANDB_MODE unset or online), build the report:",
              "   " + shlex.join(["python", "-m", "tsexplain.report", *argv])]
    return "\n".join(lines)


def config_key(key: str) -> str:
    """The W&B runset grouping key of a report grouping key: `config.labels.<k>` for dataset/model/explainer (set
    by the run, see wandb_log.describe_run), else the dotted config path itself."""
    return f"config.{LABELS_KEY}.{key}" if key in LABELS else f"config.{key}"


def panel_metrics(section: Section) -> list[str]:
    """The metrics the section's bar plots show: MAIN ones in its table first, then its other columns."""
    chosen = [m for m in MAIN if m in section.metrics]
    chosen += [m for m in section.metrics if m not in chosen]
    return chosen[:MAX_PANELS]


def summary_markdown(report: Report) -> str:
    """The report's Markdown (tables, notes, skipped runs) without its figure links, which W&B cannot resolve."""
    from tsexplain.report.render import to_markdown

    return "\n".join(ln for ln in to_markdown(report).splitlines() if not ln.startswith("![")) + "\n"


def build_wandb_report(report: Report, entity: str, project: str) -> Any:
    """The W&B Report (`wandb_workspaces.reports.v2.Report`, not saved) of a comparison report."""
    import wandb_workspaces.reports.v2 as wr
    from wandb_workspaces import expr

    sweeps = [s.sweep for s in report.sections]
    title = f"tsexplain: {', '.join(sweeps)}"
    title = title if len(title) <= 128 else title[:127] + "…"
    blocks: list = [wr.MarkdownBlock(text=summary_markdown(report))]
    for s in report.sections:
        groups = sorted({run_group(r) for r in s.runs})
        runset = wr.Runset(entity=entity, project=project, name=s.sweep,
                           filters=[expr.Metric("Group").isin(groups)], groupby=[config_key(k) for k in s.by])
        panels: list = [wr.BarPlot(title=m, metrics=[m], orientation="v", groupby_aggfunc="mean",
                                   groupby_rangefunc="stderr") for m in panel_metrics(s)]
        if {"explain/ms_per_instance", "explain/auprc"} <= set(s.metrics):
            panels.append(wr.ScatterPlot(title="time per instance vs AUPRC",
                                         x=wr.SummaryMetric("explain/ms_per_instance"),
                                         y=wr.SummaryMetric("explain/auprc"), log_x=True))
        grouped = ", ".join(s.by) or "nothing (runs differ only by seed)"
        blocks += [wr.H2(text=s.sweep),
                   wr.P(text=f"W&B group(s) {', '.join(groups)}; {len(s.runs)} runs, grouped by {grouped}."),
                   wr.PanelGrid(runsets=[runset], panels=panels)]
    return wr.Report(entity=entity, project=project, title=title,
                     description=f"Comparison of {report.n_runs} runs read from {report.root}.", blocks=blocks)


def check_library() -> str | None:
    """None when wandb-workspaces imports; else the message saying how to install it."""
    try:
        import wandb_workspaces.reports.v2  # noqa: F401
    except ImportError as err:
        return f"--wandb needs the wandb-workspaces library ({err}); install it: {EXTRA}"
    return None


def publish(report: Report, entity: str, project: str, argv: Sequence[str]) -> tuple[int, str]:
    """Build the W&B Report and save it (online), or say how to later (offline): (exit status, message)."""
    runs = [r for s in report.sections for r in s.runs]
    reason = offline_reason(runs)
    if reason is not None:
        return 0, offline_instructions(report, entity, project, argv, reason)
    missing = [r for r in runs if not logged_to_wandb(r)]
    note = (f"\nnote: {len(missing)} of {len(runs)} runs had no W&B logger (logger=wandb); the W&B Report shows "
            "only runs logged to W&B." if missing else "")
    elsewhere = sorted({str(p) for r in runs if (p := ((r.cfg.get("logger") or {}).get("wandb") or {}).get("project"))
                        and p != project})
    if elsewhere:
        note += (f"\nnote: some runs were logged to project(s) {', '.join(elsewhere)}, not {project}; the report "
                 f"shows runs of {entity}/{project} only (wandb sync -p {project} puts offline runs there).")
    wb = build_wandb_report(report, entity, project)
    try:
        wb.save()
    except Exception as err:  # noqa: BLE001 - the network or W&B refusing: say so, the local report is written
        return 1, (f"error: could not save the W&B Report to {entity}/{project} ({type(err).__name__}: {err}); "
                   f"check the entity, project and credentials (wandb login).{note}")
    return 0, f"W&B Report: {wb.url}{note}"
