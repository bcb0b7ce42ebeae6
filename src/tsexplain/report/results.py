"""The run folder: resolved config, metrics.json, saliency.npz, a FAILED marker when a job dies."""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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


class RunFolder:
    """Everything a run leaves behind; `metrics.json` is written last, so its presence means success."""

    def __init__(self, path: Path, cfg: DictConfig | None = None) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.extra: dict[str, Any] = {}
        for stale in ("metrics.json", "FAILED"):
            (self.path / stale).unlink(missing_ok=True)
        if cfg is not None:
            keep = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
            _atomic_write(self.path / "config_resolved.yaml", OmegaConf.to_yaml(keep, resolve=True))

    def record(self, key: str, value: Any) -> None:
        """Keep a non-metric fact (checkpoint path, figure paths, examples) for metrics.json's `info`."""
        self.extra[key] = _jsonable(value)

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
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
        tmp = self.path / (name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        return path

    def mark_failed(self, err: BaseException) -> None:
        """Leave a FAILED file with the error, so a dead job never looks like a finished one."""
        text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
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
