"""What stops a run honestly: interruptions (SIGTERM, SIGINT/Ctrl+C) as a non-zero exit, and diverging training.

`interruptible()` turns SIGTERM/SIGINT into `RunInterrupted`, a `SystemExit` whose code is 128 + the signal
(143, 130), raised wherever the main thread is: inside `trainer.fit` (Lightning composes its own SIGTERM handler
with ours and re-raises anything that is not a KeyboardInterrupt), in explanation, in reporting. `pipeline.run`
writes `FAILED` with the reason and never `metrics.json`; Hydra lets a `SystemExit` through, so the process (and a
multirun/Optuna sweep) exits with that code.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Iterator

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(SystemExit):
    """The run was stopped by a signal; `code` is 128 + signal number (SIGTERM 143, SIGINT 130)."""

    def __init__(self, signum: int, stage: str = "") -> None:
        super().__init__(128 + int(signum))
        self.signum = int(signum)
        self.stage = stage

    def __str__(self) -> str:
        name = signal.Signals(self.signum).name
        where = f" during {self.stage}" if self.stage else ""
        return (f"interrupted by {name}{where} (exit code {self.code}); nothing was scored, no metrics.json. "
                "Rerun into a new folder, or continue the training with resume_from=<this run>/checkpoints/last.ckpt.")


class TrainingDiverged(RuntimeError):
    """A training loss or monitored metric became NaN/inf."""


def as_interruption(err: BaseException, stage: str = "") -> RunInterrupted | None:
    """`err` as a RunInterrupted when it is an interruption (ours, Ctrl+C's KeyboardInterrupt, or Lightning's
    code-less SIGTERMException / the `sys.exit(1)` it turns a KeyboardInterrupt into); else None."""
    if isinstance(err, RunInterrupted):
        if not err.stage:
            err.stage = stage
        return err
    if isinstance(err, KeyboardInterrupt):
        return RunInterrupted(signal.SIGINT, stage)
    if type(err).__name__ == "SIGTERMException":
        return RunInterrupted(signal.SIGTERM, stage)
    return None


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Raise `RunInterrupted` on the first SIGTERM/SIGINT (later ones are ignored while the run writes FAILED);
    the previous handlers are restored on exit. A no-op outside the main thread (signals reach only it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    fired: list[int] = []

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        if fired:
            return
        fired.append(signum)
        raise RunInterrupted(signum)

    for s in SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def _value(v) -> float | None:
    if isinstance(v, torch.Tensor):
        return float(v.detach().float().mean()) if v.numel() else None
    if isinstance(v, int | float):
        return float(v)
    return None


class FiniteLossCheck(Callback):
    """Fail the run when training diverges: the training-step loss, or any logged `*loss*` metric (and the
    monitored one), becomes NaN/inf. The error names the epoch, the step and the metric, and how to opt out
    (`callbacks.finite_loss=null`). Costs one `.item()` per training step (Lightning's `detect_anomaly` costs a
    backward-graph check per op)."""

    def __init__(self, monitor: str | None = None, check_every_step: bool = True) -> None:
        self.monitor = monitor
        self.check_every_step = check_every_step

    def _fail(self, trainer: L.Trainer, metric: str, value: float) -> None:
        raise TrainingDiverged(
            f"training diverged: {metric} = {value} at epoch {trainer.current_epoch}, global step "
            f"{trainer.global_step}; no metrics.json is written for a diverged model. Fix: lower model.lr, set "
            "trainer.gradient_clip_val (e.g. 1.0), check the data for extreme values; or opt out of this check "
            "with callbacks.finite_loss=null.")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.check_every_step:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        v = _value(loss) if loss is not None else None
        if v is not None and not math.isfinite(v):
            self._fail(trainer, "train loss (training_step)", v)

    def _check_logged(self, trainer: L.Trainer) -> None:
        for key, val in trainer.callback_metrics.items():
            if "loss" in key or key == self.monitor:
                v = _value(val)
                if v is not None and not math.isfinite(v):
                    self._fail(trainer, key, v)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check_logged(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._check_logged(trainer)
