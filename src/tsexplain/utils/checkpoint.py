"""`ModelCheckpoint` whose `last.ckpt` follows every validation, as `resume_from=<run>/checkpoints/last.ckpt` needs."""

from __future__ import annotations

import lightning as L
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

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)
