"""Step 3: train the black box (or load its weights) and score it on the validation and test splits."""

from __future__ import annotations

import logging
import time

import lightning as L

from tsexplain.utils.checkpoint import safe_load
from tsexplain.utils.instantiate import Trainers
from tsexplain.utils.model_cache import CacheCorrupt, CacheEntry

log = logging.getLogger(__name__)


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
                   stage=lambda name: None,
                   cache: CacheEntry | None = None) -> tuple[L.LightningModule, dict, L.Trainer]:
    """Fit (or load `ckpt_path`, or the black-box cache's entry), keep the best checkpoint's weights, then validate
    and test.

    Returns the black box, its `val/` (of the model kept: what sweepers optimise, never test) and `test/` metrics,
    and the Trainer. `record(key, value)` keeps facts for metrics.json's info; `stage(name)` names what runs.
    `cache` (utils.model_cache): a hit loads the cached weights instead of fitting; a miss fits and publishes."""
    trainer = trainers.blackbox()
    if cache is not None and trainer.world_size > 1:
        # every rank would take the key's lock and the first would wait for the others forever inside fit
        log.warning("black-box cache not used under a %d-process strategy", trainer.world_size)
        record("blackbox_cache", "off (multi-process strategy)")
        cache = None
    if ckpt_path:
        if ckpt_path != blackbox.weights_from:  # a released ViTime file is loaded by the model itself
            blackbox = load_blackbox_weights(blackbox, ckpt_path)
        blackbox.eval()
    elif train:
        start = time.perf_counter()
        if cache is not None:
            blackbox = _fit_cached(cache, trainer, blackbox, data, record, stage)
        else:
            blackbox = _fit(trainer, blackbox, data, resume_from, record)
        # what the black box cost this job (a cache hit: the lookup), for a sweep's train vs explain share
        record("blackbox_train_s", round(time.perf_counter() - start, 3))
        record("blackbox_train_steps", int(trainer.global_step))
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


def _fit(trainer: L.Trainer, blackbox: L.LightningModule, data, resume_from: str | None,
         record) -> L.LightningModule:
    """`trainer.fit`, then the best checkpoint's weights (when one was kept)."""
    # Lightning reads resume_from itself: without code execution (checked by safe_load before training).
    trainer.fit(blackbox, datamodule=data, ckpt_path=resume_from, weights_only=True)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best:
        blackbox = load_blackbox_weights(blackbox, best, "best checkpoint")
        record("best_checkpoint", best)
    return blackbox


def _fit_cached(cache: CacheEntry, trainer: L.Trainer, blackbox: L.LightningModule, data, record,
                stage) -> L.LightningModule:
    """Under the key's lock: load the entry (hit), or fit and publish it (miss). A second job with the same key
    waits for the first and then hits. A corrupt entry is set aside and retrained (it is derived data: the key's
    config reproduces it, so stopping the sweep would only cost the user a manual delete)."""
    record("blackbox_cache_key", cache.key)
    with cache.lock():
        try:
            hit = cache.load(blackbox)
        except CacheCorrupt as err:
            record("blackbox_cache_refused", str(cache.set_aside(str(err)[:300])))
            hit = False
        if hit:
            log.info("black-box cache hit: %s (training skipped)", cache.path)
            record("blackbox_cache", "hit")
            record("best_checkpoint", str(cache.path))
            return blackbox.eval()
        stage("training (black-box cache miss)")
        blackbox = _fit(trainer, blackbox, data, None, record)
        if trainer.is_global_zero:
            cache.publish(blackbox, trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else "")
        record("blackbox_cache", "miss")
        log.info("black-box cache miss: trained and published %s", cache.path)
    return blackbox
