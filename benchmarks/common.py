"""Shared helpers for the benchmark scripts: run `run.py` jobs into fixed folders and reuse finished ones."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "bench_results" / "runs"


ONLY_FINISHED = os.environ.get("BENCH_ONLY_FINISHED") == "1"


def run_job(name: str, overrides: list[str], force: bool = False) -> dict | None:
    """`python run.py <overrides>` into bench_results/runs/<name>; a finished folder is reused, not re-run.

    With BENCH_ONLY_FINISHED=1 nothing runs: a job without a finished folder returns None (tables then show
    how many seeds each cell really has)."""
    out = RUNS / name
    metrics = out / "metrics.json"
    if metrics.is_file() and not force:
        return json.loads(metrics.read_text())
    if ONLY_FINISHED:
        return None
    cmd = [sys.executable, str(ROOT / "run.py"), *overrides, f"hydra.run.dir={out}", "print_config=false",
           "callbacks.rich_progress_bar=null", "trainer.enable_model_summary=false"]
    t0 = time.perf_counter()
    # One intra-op thread per job (BENCH_THREADS): two benchmark streams on 2 cores then do not oversubscribe
    # them, which slows tiny models 10× and more.
    threads = os.environ.get("BENCH_THREADS", "1")
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not metrics.is_file():
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise RuntimeError(f"benchmark job {name} failed: {' '.join(overrides)}")
    result = json.loads(metrics.read_text())
    result["info"]["wall_s"] = time.perf_counter() - t0
    metrics.write_text(json.dumps(result, indent=2))
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {time.perf_counter() - t0:.0f}s", flush=True)
    return result


def run_explainer_job(name: str, overrides: list[str]) -> dict | None | str:
    """`run_job`, or "collapsed" when TimeSAE's health gate refused the fit (counted, never scored)."""
    try:
        return run_job(name, overrides)
    except RuntimeError:
        failed = RUNS / name / "FAILED"
        if failed.is_file() and "collapsed or is unhealthy" in failed.read_text():
            return "collapsed"
        raise


def blackbox(dataset: str, model: str, seed: int, extra: list[str] | None = None) -> dict | None:
    """Train (once) the black box used by every explainer benchmark on this dataset and seed."""
    return run_job(f"bb_{model}_{dataset}_s{seed}",
                   [f"dataset={dataset}", f"model={model}", f"seed={seed}", "explainer=none", "task_name=bench",
                    *(extra or [])])


def slug(name: str) -> str:
    """A run-folder name Hydra's override parser accepts: ASCII letters, digits, `_`, `-`, `.`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "", name.replace(" ", "_").replace("−", "-"))


def best_ckpt(result: dict | None) -> str | None:
    return None if result is None else result["info"]["best_checkpoint"]


# Issue 8: an explanation of a black box below this test macro-F1 explains a weak model; tables say so.
WEAK_F1 = 0.9
BLACKBOX_COL = "black box F1"


def blackbox_f1(result: dict | None) -> float | None:
    """Test macro-F1 of a black-box job (None when it has not run or has no F1, e.g. regression)."""
    return None if result is None else result["metrics"].get("test/f1")


def mean_std(values: list, digits: int = 3) -> str:
    vals = [float(a) for a in values if a is not None]
    if not vals:
        return "–"
    mean = sum(vals) / len(vals)
    std = (sum((a - mean) ** 2 for a in vals) / len(vals)) ** 0.5
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(vals) > 1 else f"{mean:.{digits}f}"


def blackbox_cell(f1s: list, digits: int = 3) -> str:
    """The `black box F1` cell of a row: mean ± std of the explained black boxes' test macro-F1 over the row's
    seeds, marked "⚠ weak model" when any of them is below WEAK_F1."""
    vals = [f for f in f1s if f is not None]
    weak = any(f < WEAK_F1 for f in vals)
    return mean_std(vals, digits) + (f" ⚠ weak model (< {WEAK_F1})" if weak else "")


def table(rows: list[dict], cols: list[str], digits: int = 3) -> str:
    """Markdown table; a cell holding a list of seed values prints mean ± std."""
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = []
        for c in cols:
            v = row.get(c, "–")
            cells.append(mean_std(v, digits) if isinstance(v, list) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
