"""Checkpoints: `ModelCheckpoint` whose `last.ckpt` follows every validation (as `resume_from=<run>/checkpoints/
last.ckpt` needs) and is written atomically, and `safe_load`, the one way the project reads a checkpoint."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.callbacks import ModelCheckpoint as _ModelCheckpoint


class ModelCheckpoint(_ModelCheckpoint):
    """Lightning's ModelCheckpoint, except that `save_last` refreshes `last.ckpt` after every validation.

    Lightning 2.6 writes `last.ckpt` only on validations that also save a top-k checkpoint, so with a monitor
    that stops improving (val/f1 saturating at 1.0 on 100 samples, or the patience epochs before early stopping)
    `last.ckpt` stays at the best epoch and a resumed run silently repeats the epochs after it.
    """

    def _refresh_last(self, trainer: L.Trainer) -> None:
        # _should_skip_saving_checkpoint is True when super() already saved (top-k and last) at this global step.
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        """Write to `<name>.tmp` beside it, then rename: a checkpoint carries its final name only once complete
        (a full disk or a kill mid-write leaves at most a `.tmp`, which no glob for `*.ckpt` picks up)."""
        tmp = f"{filepath}.tmp"
        try:
            super()._save_checkpoint(trainer, tmp)
            if trainer.is_global_zero and os.path.exists(tmp):
                os.replace(tmp, filepath)
        except BaseException:
            if trainer.is_global_zero and os.path.exists(tmp):
                os.remove(tmp)
            raise
        trainer.strategy.barrier("atomic_checkpoint")
        self._last_checkpoint_saved = filepath

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)


# Globals a checkpoint written by this project may hold beyond torch's own weights-only allow-list (tensors,
# containers, numbers, strings). Measured on every checkpoint the project writes (black boxes with each scheduler,
# TimeSAE, learned fusion): none is needed, because `save_hyperparameters` ignores the partial-built networks and
# the remaining hparams are plain numbers and strings. Keep it that way: add a type here only after checking that
# unpickling it cannot run code (never `functools.partial`, whose arguments are arbitrary callables).
SAFE_GLOBALS: list = []


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely: the message names the file, what is wrong and the fix."""


def safe_load(path: str | os.PathLike, option: str = "checkpoint", require: tuple[str, ...] = ("state_dict",)) -> dict:
    """Load a Lightning/torch checkpoint without executing code (`torch.load(weights_only=True)`).

    `option` names the setting the path came from (`model.ckpt_path`, `explainer.ckpt_path`, `resume_from`), so
    the error says what to change. `require`: keys the checkpoint must hold. Raises `FileNotFoundError` for a
    missing file and `CheckpointError` for a foreign, truncated or code-carrying one; never loads it unsafely.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{option}={path} does not exist (or is not a file); give the .ckpt file written by "
                                "a run of this project (its checkpoints/ or explainer_checkpoints/ folder).")
    fix = (f"use a .ckpt written by a run of this project (its checkpoints/ folder), or drop {option} to train "
           "afresh")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message goes on to suggest weights_only=False: keep only the line that names the object.
        lines = [ln.strip() for ln in str(err).split("\n") if ln.strip()]
        what = next((ln for ln in lines if "GLOBAL" in ln), None)
        detail = next((ln for ln in lines if ln.startswith("Unsupported")), "unparsable pickle")
        if what is None:  # not a torch pickle at all (random bytes, a plain pickle, another format)
            raise CheckpointError(
                f"{option}={path} is not a PyTorch checkpoint (its contents do not parse as one: "
                f"{detail[:200]}); it is another format or corrupted. Fix: {fix}.") from None
        raise CheckpointError(
            f"{option}={path} was refused: it holds Python objects that loading would have to construct by running "
            f"code ({what[:300]}), which a checkpoint of this project never does. It may come from another tool or "
            f"have been tampered with; it was not loaded. Fix: {fix}.") from None
    except Exception as err:  # torch's unpickler lets KeyError, IndexError, struct.error… escape on
        # random bytes; whatever it raises, the file is not a checkpoint we can read
        raise CheckpointError(
            f"{option}={path} is not a readable PyTorch checkpoint ({type(err).__name__}: {str(err)[:200]}); it is "
            f"truncated, still being written or another format. Fix: {fix}.") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in require):
        keys = sorted(ckpt)[:10] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{option}={path} is a torch file but not a Lightning checkpoint (it lacks "
                              f"{list(require)}; it holds {keys}). Fix: {fix}.")
    return ckpt


class RngState(Callback):
    """Saves the global RNG states (python, numpy, torch, CUDA) in each checkpoint and restores them when the next
    training epoch of a resumed run starts, so dropout and augmentation draw as in the uninterrupted run.

    Restored at `on_train_epoch_start`, not at load: the sanity validation a resumed run does first draws from
    the global RNG (its loader's base seed) and would otherwise shift the stream. Stored as tensors, ints and
    lists only, so `safe_load` (weights_only) reads it."""

    def __init__(self) -> None:
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        np_state = np.random.get_state()
        state = {"python": random.getstate(), "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
                 "torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = dict(state_dict)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        py = state["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        kind, keys, *rest = state["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
