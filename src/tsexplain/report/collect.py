"""Find the runs under a folder and read each one's metrics.json and config_resolved.yaml, keeping every run that
cannot be used as a (path, reason) pair instead of failing: one bad run never stops the report."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tsexplain.utils import progress as _progress

# Files that mark a folder as a run folder (results.RunFolder writes them).
MARKERS = ("metrics.json", "FAILED", "config_resolved.yaml")
# Folders inside a run that never hold a run of their own.
INNER = {"checkpoints", "explainer_checkpoints", "csv", "tensorboard", "wandb", "figures", ".hydra"}


@dataclass
class Run:
    """One finished job: where it is, its resolved config, its numeric metrics and the sweep it belongs to."""

    path: Path
    cfg: dict
    metrics: dict[str, float]
    sweep: str
    info: dict = field(default_factory=dict)
    _curves: Any = field(default=None, repr=False)

    def curves(self) -> dict:
        """faithfulness_curves.json of the run ({} when absent or unreadable: the plots then leave the run out)."""
        if self._curves is None:
            try:
                self._curves = json.loads((self.path / "faithfulness_curves.json").read_text())
            except (OSError, ValueError):
                self._curves = {}
        return self._curves


@dataclass
class Skipped:
    """A folder that looked like a run but cannot be used, and why."""

    path: Path
    reason: str


def _first_line(text: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _numbers(metrics: dict) -> dict[str, float]:
    """The numeric metrics (NaN kept: it reads as missing); strings, lists and booleans are not table cells."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        out[str(k)] = float(v) if math.isfinite(float(v)) or math.isnan(float(v)) else float("nan")
    return out


def sweep_of(cfg: dict, path: Path) -> str:
    """The sweep a run belongs to: its task_name (every sweep config sets one), else its multirun folder's name."""
    name = cfg.get("task_name") if isinstance(cfg, dict) else None
    if name:
        return str(name)
    for parent in path.parents:
        if (parent / "multirun.yaml").is_file():
            return parent.name
    return path.parent.name


def load_run(folder: Path) -> Run | Skipped:
    """Read one run folder; a Skipped naming the problem (and the fix where there is one) when it is not usable."""
    if folder.parent.name == "previous":
        return Skipped(folder, "an earlier run's results moved aside by existing_results=move (previous/<time>/)")
    failed = folder / "FAILED"
    if failed.is_file():
        try:
            why = _first_line(failed.read_text(errors="replace")) or "no message"
        except OSError as err:
            why = f"FAILED unreadable ({err})"
        return Skipped(folder, f"crashed (FAILED): {why}")
    mfile, cfile = folder / "metrics.json", folder / "config_resolved.yaml"
    if not mfile.is_file():
        return Skipped(folder, "unfinished: config_resolved.yaml but no metrics.json and no FAILED "
                               "(still running, or killed before it could write FAILED)")
    try:
        payload = json.loads(mfile.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return Skipped(folder, f"unreadable metrics.json ({type(err).__name__}: {err})")
    if not isinstance(payload, dict):
        return Skipped(folder, f"metrics.json holds a {type(payload).__name__}, not {{'metrics': ..., 'info': ...}}")
    if "metrics" not in payload or not isinstance(payload["metrics"], dict):
        return Skipped(folder, "metrics.json in an older format (no 'metrics' mapping; top-level keys "
                               f"{sorted(payload)[:4]}): re-run the job, or wrap its numbers as {{\"metrics\": ...}}")
    metrics = _numbers(payload["metrics"])
    if not metrics:
        return Skipped(folder, "metrics.json has no numeric metric")
    if not cfile.is_file():
        return Skipped(folder, "no config_resolved.yaml beside metrics.json: its settings (dataset, model, "
                               "explainer, seed) are unknown")
    try:
        cfg = yaml.safe_load(cfile.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        return Skipped(folder, f"unreadable config_resolved.yaml ({type(err).__name__}: {_first_line(str(err))})")
    if not isinstance(cfg, dict):
        return Skipped(folder, "config_resolved.yaml is not a mapping")
    info = payload.get("info") if isinstance(payload.get("info"), dict) else {}
    return Run(folder, cfg, metrics, sweep_of(cfg, folder), info)


def run_folders(root: Path) -> list[Path]:
    """Every folder under `root` (itself included) holding one of MARKERS, outside a run's inner folders."""
    found = set()
    for marker in MARKERS:
        for f in Path(root).rglob(marker):
            rel = f.parent.relative_to(root).parts
            if not INNER.intersection(rel):
                found.add(f.parent)
    return sorted(found)


def collect(root: Path, progress: bool | None = None) -> tuple[list[Run], list[Skipped]]:
    """The usable runs under `root` and the skipped ones with their reasons; a bar over the folders unless
    `progress` is False (`tsexplain.utils.progress` decides when it shows)."""
    runs: list[Run] = []
    skipped: list[Skipped] = []
    folders = run_folders(Path(root))
    for folder in folders if progress is False else _progress.track(folders, "reading runs", unit="run"):
        try:
            got = load_run(folder)
        except Exception as err:  # noqa: BLE001 - one strange folder must not stop the report; it is listed instead
            got = Skipped(folder, f"could not be read ({type(err).__name__}: {err})")
        (runs if isinstance(got, Run) else skipped).append(got)
    return runs, skipped


def _planned(sweep: Path) -> int | None:
    """Jobs the sweep in `sweep` planned: its `.progress/plan.json` (the sweep callback's), else its multirun.yaml."""
    from tsexplain.utils.sweep_progress import PLAN, PROGRESS_DIR, planned_jobs

    try:
        jobs = json.loads((sweep / PROGRESS_DIR / PLAN).read_text()).get("jobs")
        if jobs is not None:
            return int(jobs)
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    if not (sweep / "multirun.yaml").is_file():
        return None
    from omegaconf import OmegaConf

    try:
        return planned_jobs(OmegaConf.load(sweep / "multirun.yaml"))
    except Exception:  # noqa: BLE001 - an unreadable plan only costs the completion note
        return None


def sweep_completion(root: Path) -> list[str]:
    """A note for each sweep folder under `root` (itself included) whose planned jobs did not all finish:
    "N of M jobs of the sweep finished, K failed, L missing" (missing: no result yet, running or never started)."""
    from tsexplain.utils.sweep_progress import PLAN, PROGRESS_DIR

    root = Path(root)
    sweeps = {p.parent for p in root.rglob("multirun.yaml")} | {p.parent.parent
                                                                for p in root.rglob(f"{PROGRESS_DIR}/{PLAN}")}
    notes = []
    for sweep in sorted(s for s in sweeps if not INNER.intersection(s.relative_to(root).parts)):
        planned = _planned(sweep)
        if planned is None:
            continue
        jobs = [d for d in sweep.iterdir() if d.is_dir()]
        finished = sum((d / "metrics.json").is_file() for d in jobs)
        failed = sum((d / "FAILED").is_file() and not (d / "metrics.json").is_file() for d in jobs)
        if finished >= planned:
            continue
        where = "" if sweep == root else f" ({sweep.relative_to(root)})"
        notes.append(f"{finished} of {planned} jobs of the sweep{where} finished, {failed} failed, "
                     f"{max(0, planned - finished - failed)} missing: the tables hold the finished ones only.")
    return notes
