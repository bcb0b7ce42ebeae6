"""The run folder: resolved config, metrics.json, saliency.npz, a FAILED marker when a job dies."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _atomic_write(path: Path, text: str) -> None:
    """Write `text` under a temporary name, fsync, then rename: `path` is either complete or absent, and a failed
    write (disk full) leaves no partial file behind under any name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# What an earlier run leaves in its folder; a new run refuses to start among them (or moves them aside, with
# `existing_results=move`). Hydra's own `.hydra/`, the log file and config_resolved.yaml are rewritten by every run.
RESULTS = ("metrics.json", "FAILED", "saliency.npz", "faithfulness_curves.json", "narratives.json", "checkpoints",
           "explainer_checkpoints", "csv", "tensorboard", "wandb", "figures")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _torch_threads() -> int | None:
    """torch's intra-op thread count, when torch is loaded (this module does not need it otherwise)."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


class RunFolder:
    """Everything a run leaves behind; `metrics.json` is written last, so its presence means success."""

    def __init__(self, path: Path, config_yaml: str | None = None, existing_results: str = "refuse",
                 inputs: Sequence[str | None] = ()) -> None:
        """`config_yaml`: the resolved run config, written as config_resolved.yaml; `existing_results` (`move` or
        `refuse`) says what to do with an earlier run's results here; `inputs` are the checkpoints the run reads
        (never moved away from under it)."""
        self.path = Path(path)
        self._started = time.perf_counter()
        self.path.mkdir(parents=True, exist_ok=True)
        self.extra: dict[str, Any] = {}
        self.stage = "set-up"  # what the run was doing, for FAILED
        if int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0:
            # DDP workers started by Lightning re-enter the same folder on purpose: only the launching process checks.
            self._check_fresh(str(existing_results), [str(p) for p in inputs if p])
        if config_yaml is not None:
            _atomic_write(self.path / "config_resolved.yaml", config_yaml)

    def _check_fresh(self, mode: str, inputs: list[str]) -> None:
        """Refuse a folder holding an earlier run's results (or, with `existing_results=move`, move them into
        `previous/<time>/`): new results are never mixed with old ones, and nothing old is lost."""
        old = [name for name in RESULTS if (self.path / name).exists()]
        if not old:
            return
        if mode == "move":
            inside = [p for p in inputs if any(Path(p).resolve().is_relative_to((self.path / n).resolve())
                                               for n in old)]
            if not inside:
                dest = self.path / "previous" / time.strftime("%Y%m%d-%H%M%S")
                dest.mkdir(parents=True, exist_ok=False)
                for name in old:
                    os.replace(self.path / name, dest / name)
                self.moved_to = dest
                return
            raise FileExistsError(
                f"run folder {self.path} holds an earlier run's results ({', '.join(old)}) and this run reads "
                f"{inside[0]} from among them, so they cannot be moved aside; start the run in a new folder (drop "
                "paths.output_dir / hydra.run.dir: every run gets its own by default).")
        raise FileExistsError(
            f"run folder {self.path} already holds an earlier run's results ({', '.join(old)}); a new run there would "
            "mix its files with them. Fix: start it in a new folder (drop paths.output_dir / hydra.run.dir: every run "
            "gets its own by default), or pass existing_results=move to move the old results into "
            f"{self.path}/previous/<time>/.")

    def record(self, key: str, value: Any) -> None:
        """Keep a non-metric fact (checkpoint path, figure paths, examples) for metrics.json's `info`."""
        self.extra[key] = _jsonable(value)

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        self.extra["job_s"] = round(time.perf_counter() - self._started, 3)  # the job's wall time, for a sweep's cost
        # intra-op threads change the floating-point stream: runs of one config and seed compare at equal counts only
        self.extra["torch_threads"] = _torch_threads()
        out = {"metrics": _jsonable(metrics), "info": self.extra}
        path = self.path / "metrics.json"
        _atomic_write(path, json.dumps(out, indent=2, sort_keys=True))
        return path

    def write_json(self, name: str, payload: Any) -> Path:
        path = self.path / name
        _atomic_write(path, json.dumps(_jsonable(payload), indent=2))
        return path

    def save_arrays(self, name: str, **arrays: np.ndarray) -> Path:
        path = self.path / name
        tmp = self.path / f".{name}.{os.getpid()}.tmp.npz"
        try:
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    def mark_failed(self, err: BaseException) -> None:
        """Leave a FAILED file with the error, so a dead job never looks like a finished one."""
        trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        reason = str(err) or type(err).__name__
        text = f"{type(err).__name__} during {self.stage}: {reason}\n\n{trace}"
        try:
            _atomic_write(self.path / "FAILED", text)
        except OSError:
            print(text, file=sys.stderr)


def finish_loggers(loggers: list, failed: bool = False) -> None:
    """Flush every logger; close the W&B run even when the job failed (one W&B run per job)."""
    for lg in loggers:
        try:
            lg.finalize("failed" if failed else "success")
        except Exception:  # noqa: BLE001 - a logger failing to flush must not hide the job's own error
            pass
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=1 if failed else 0)


def log_metrics(loggers: list, metrics: dict[str, Any]) -> None:
    """Send the run's final metrics (explanation, narration, robustness, val/test) to every logger, so a logged run
    holds everything metrics.json holds; non-numbers stay in metrics.json only."""
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    for lg in loggers:
        try:
            lg.log_metrics(numbers)
            lg.save()
        except Exception as err:  # noqa: BLE001 - a logger refusing a value must not fail a finished run
            print(f"could not send the final metrics to {type(lg).__name__}: {err}", file=sys.stderr)
