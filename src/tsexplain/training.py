"""Step 3: train the black box (or load its weights) and score it on the validation and test splits."""

from __future__ import annotations

import lightning as L

from tsexplain.utils.checkpoint import safe_load
from tsexplain.utils.instantiate import Trainers


def load_blackbox_weights(blackbox: L.LightningModule, ckpt_path: str,
                          option: str = "model.ckpt_path") -> L.LightningModule:
    """Load a Lightning checkpoint's weights into `blackbox` without running code (`safe_load`); a wrong path, a
    foreign or unsafe file, or another architecture fails clearly."""
    state = safe_load(ckpt_path, option)
    try:
        blackbox.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {ckpt_path} does not fit model={type(blackbox.backbone).__name__} with these "
                         f"settings; use the model/dataset config it was trained with. ({str(err)[:300]})") from err
    return blackbox.eval()


def train_and_test(trainers: Trainers, blackbox: L.LightningModule, data, *, train: bool = True, test: bool = True,
                   ckpt_path: str | None = None, resume_from: str | None = None,
                   record=lambda key, value: None,
                   stage=lambda name: None) -> tuple[L.LightningModule, dict, L.Trainer]:
    """Fit (or load `ckpt_path`), keep the best checkpoint's weights, then validate and test.

    Returns the black box, its `val/` (of the model kept: what sweepers optimise, never test) and `test/` metrics,
    and the Trainer. `record(key, value)` keeps facts for metrics.json's info; `stage(name)` names what runs."""
    trainer = trainers.blackbox()
    if ckpt_path:
        if ckpt_path != blackbox.weights_from:  # a released ViTime file is loaded by the model itself
            blackbox = load_blackbox_weights(blackbox, ckpt_path)
        blackbox.eval()
    elif train:
        # Lightning reads resume_from itself: without code execution (checked by safe_load before training).
        trainer.fit(blackbox, datamodule=data, ckpt_path=resume_from, weights_only=True)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best:
            blackbox = load_blackbox_weights(blackbox, best, "best checkpoint")
            record("best_checkpoint", best)
    metrics: dict[str, float] = {}
    stage("validation and test")
    if train and not ckpt_path:
        validator = trainers.validator(trainer)
        validator.validate(blackbox, datamodule=data, verbose=False)
        metrics.update({k: float(v) for k, v in validator.callback_metrics.items() if k.startswith("val/")})
    if test:
        trainer.test(blackbox, datamodule=data, verbose=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
    return blackbox, metrics, trainer
