"""One run: data → black box → train/test → explain → evaluate → narrate → report (DESIGN.md's eight steps)."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tsexplain import stages
from tsexplain.report.explanations import log_figures, print_highlights, write_explanation_report
from tsexplain.report.results import RunFolder, finish_loggers
from tsexplain.utils.checkpoint import safe_load
from tsexplain.utils.guards import as_interruption, interruptible
from tsexplain.utils.instantiate import explainer_callbacks, instantiate_group, make_trainer
from tsexplain.utils.rich_config import print_config_tree, print_summary

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> float | None:
    """Run the job described by `cfg`; returns `metrics[cfg.optimized_metric]` for Hydra sweepers."""
    if cfg.get("print_config"):
        print_config_tree(cfg)
    L.seed_everything(cfg.seed, workers=True)
    folder = RunFolder(Path(cfg.paths.output_dir), cfg)
    failed = True
    loggers: list = []
    with interruptible():  # SIGTERM/Ctrl+C → RunInterrupted (exit 143/130), wherever the run is
        try:
            loggers = instantiate_group(cfg.get("logger"))
            metrics = _run(cfg, folder, loggers)
            failed = False
        except BaseException as err:
            interrupted = as_interruption(err, folder.stage)
            folder.mark_failed(interrupted or err)
            if interrupted is not None:
                log.error("%s", interrupted)
                if interrupted is not err:
                    raise interrupted from err
            raise
        finally:
            finish_loggers(loggers, failed=failed)
    return metrics.get(cfg.optimized_metric) if cfg.get("optimized_metric") else None


def _run(cfg: DictConfig, folder: RunFolder, loggers: list) -> dict:
    # 0. every option and path the run will need, before anything is built or trained.
    folder.stage = "checks before training"
    preflight(cfg)
    # 1. data: validated here, before anything trains.
    folder.stage = "data preparation"
    data = instantiate(cfg.dataset)
    data.prepare_data()
    data.setup("fit")
    meta = data.meta

    # 2. black box, and the explainer checked against it before any training.
    folder.stage = "model and explainer set-up"
    blackbox = instantiate(cfg.model, meta=meta)
    explainer = instantiate(cfg.explainer) if cfg.get("explainer") and "_target_" in cfg.explainer else None
    ood = None
    if explainer is not None:
        explainer.check_compatible(blackbox)
        sanity = stages.build_sanity_checks(cfg)  # a bad evaluation.sanity value fails here, before training
        ood = stages.ood_datamodule(cfg, explainer, meta)  # a wrong OOD dataset fails here, not after training
    metric = cfg.get("optimized_metric")
    if metric and str(metric).startswith("test/") and not cfg.get("test", True):
        raise ValueError(f"optimized_metric={metric} needs the test stage, but test=false; set "
                         "optimized_metric=null (or a val/ or explain/ metric) or drop test=false.")
    log.info("black box %s: %d parameters", type(blackbox.backbone).__name__, blackbox.n_params)

    # 3. train (or reuse a checkpoint) and test.
    folder.stage = "training"
    trainer = make_trainer(cfg, loggers)
    ckpt_path = cfg.model.get("ckpt_path")
    if ckpt_path:
        blackbox = load_blackbox_weights(blackbox, ckpt_path)
    elif cfg.get("train", True):
        # Lightning reads resume_from itself: without code execution (checked by safe_load in preflight).
        trainer.fit(blackbox, datamodule=data, ckpt_path=cfg.get("resume_from"), weights_only=True)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best:
            blackbox = load_blackbox_weights(blackbox, best, "best checkpoint")
            folder.record("best_checkpoint", best)
    metrics: dict = {}
    folder.stage = "validation and test"
    if cfg.get("train", True) and not ckpt_path:
        # Validation scores of the model kept: what sweepers should optimise (optimized_metric=val/f1), not test.
        # Spawn strategies would start their worker processes once more for this; one device suffices.
        spawn = "spawn" in str(cfg.trainer.get("strategy", ""))
        validator = make_trainer(cfg, [], OmegaConf.create({}), devices=1, num_nodes=1, strategy="auto",
                                 enable_progress_bar=False) if spawn else trainer
        validator.validate(blackbox, datamodule=data, verbose=False)
        metrics.update({k: float(v) for k, v in validator.callback_metrics.items() if k.startswith("val/")})
    if cfg.get("test", True):
        trainer.test(blackbox, datamodule=data, verbose=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
    if not trainer.is_global_zero:
        return metrics

    # 4–5. fit the explainer (a no-op for post-hoc ones) and explain the test set (rank 0 only).
    folder.stage = "explanation"
    if explainer is not None:
        blackbox = blackbox.to(_explain_device(cfg)).eval()
        explained = stages.explain_test_set(cfg, data, blackbox, explainer, _trainer_factory(cfg, loggers), ood)
        if ood is not None:
            meta = ood.meta
            folder.record("ood_dataset", meta.name)
        folder.stage = "evaluation"
        # 6. evaluate: ground truth, faithfulness, timing, method-specific scores, robustness.
        scores, curves = stages.evaluate_explanations(explained, meta, blackbox, cfg)
        metrics.update(scores)
        extra = explainer.explanation_metrics(explained.x, explained.target.to(explained.x.device), meta)
        metrics.update({f"explain/{k}": v for k, v in extra.items()})
        metrics.update(stages.sanity_checks(sanity, explained, blackbox, explainer))
        metrics.update(stages.reference_ig(cfg, explained, meta, blackbox, explainer))
        if getattr(explainer, "best_ckpt_path", None):  # reuse it with explainer.ckpt_path=…
            folder.record("explainer_checkpoint", explainer.best_ckpt_path)
        # 7. narrate the salient regions.
        narrator = stages.build_narrator(cfg, data, explainer, blackbox)
        narratives: list[dict] = []
        if narrator is not None:
            text_metrics, narratives = stages.narrate_samples(narrator, explained, meta, cfg)
            metrics.update(text_metrics)
        metrics.update(stages.robustness_study(cfg, explained, meta, blackbox, explainer, narrator))
        folder.stage = "report"
        # 8. report: saliency.npz, curves, narratives, figures (also sent to the loggers).
        figures = write_explanation_report(cfg, folder, explained, meta, curves, narratives, loggers)
        own = explainer.figures(explained.x, explained.target, meta, folder.path / "figures")
        folder.record("figures", [str(p) for p in figures + own])
        log_figures(loggers, own)
    folder.stage = "final checks"
    if metric and metric not in metrics:
        raise KeyError(f"optimized_metric={metric!r} is not among the run's metrics: {sorted(metrics)}; "
                       "pick one of them or set optimized_metric=null.")
    folder.write_metrics(metrics)
    print_summary(metrics, title=f"{cfg.task_name}: {meta.name} / {cfg.model.get('name', '')}",
                  headline=getattr(explainer, "name", None))
    print_highlights(folder.extra)
    log.info("run folder: %s", folder.path)
    return metrics


def preflight(cfg: DictConfig) -> None:
    """Check the options and files the run will need, so a bad one fails in seconds, not after training:
    checkpoints are read (safely) now, trainer numbers must be numbers."""
    for key in ("max_epochs", "min_epochs", "max_steps", "check_val_every_n_epoch", "log_every_n_steps",
                "accumulate_grad_batches"):
        value = cfg.trainer.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"trainer.{key}={value!r} must be a whole number (e.g. trainer.{key}=20).")
    for key in ("max_epochs", "check_val_every_n_epoch"):
        value = cfg.trainer.get(key)
        if value is not None and value < (0 if key == "max_epochs" else 1):
            raise ValueError(f"trainer.{key}={value} is out of range; give a positive number.")
    if cfg.get("resume_from"):
        if cfg.model.get("ckpt_path"):
            raise ValueError("resume_from and model.ckpt_path are both set: resume_from continues a training, "
                             "model.ckpt_path skips it; keep one.")
        safe_load(cfg.resume_from, "resume_from", require=("state_dict", "loops", "optimizer_states"))
    if cfg.model.get("ckpt_path"):
        safe_load(cfg.model.ckpt_path, "model.ckpt_path")
    explainer = cfg.get("explainer") or {}
    if explainer.get("ckpt_path"):
        safe_load(explainer.ckpt_path, "explainer.ckpt_path")


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


def _explain_device(cfg: DictConfig) -> torch.device:
    accel = str(cfg.trainer.get("accelerator", "auto"))
    use_gpu = torch.cuda.is_available() and accel in ("auto", "gpu", "cuda")
    return torch.device("cuda" if use_gpu else "cpu")


def _trainer_factory(cfg: DictConfig, loggers: list):
    """Trainers for explainers that learn: the run's trainer config, their own checkpoints folder."""

    def factory(subdir: str = "explainer_checkpoints", monitor: str | None = "val/loss", mode: str = "min",
                **overrides):
        return make_trainer(cfg, loggers, explainer_callbacks(cfg, subdir, monitor, mode), **overrides)

    return factory


