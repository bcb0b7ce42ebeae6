"""One run: DESIGN.md's eight steps. This module is the only one that reads the run config; every step below
gets the objects Hydra built from its own group and the typed values of the step before."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from tsexplain.evaluate.evaluator import Evaluator
from tsexplain.explain.base import Explainer
from tsexplain.narrate.base import Narrator
from tsexplain.narrate.narration import fit_narrator, narrate
from tsexplain.report.explanations import log_figures, print_highlights, write_explanation_report
from tsexplain.report.results import RunFolder, finish_loggers, log_metrics
from tsexplain.report.wandb_log import describe_run, log_explanations
from tsexplain.stages import Explanation, Narration, explain, explained_samples, fit_explainer
from tsexplain.training import load_blackbox_weights, train_and_test
from tsexplain.utils.checkpoint import safe_load
from tsexplain.utils.compose import compose_option
from tsexplain.utils.guards import as_interruption, interruptible
from tsexplain.utils.instantiate import Trainers, instantiate_group, log_hyperparameters
from tsexplain.utils.model_cache import KEY_NODES, CacheEntry
from tsexplain.utils.rich_config import print_config_tree, print_summary

__all__ = ["run", "preflight", "load_blackbox_weights"]
log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> float | None:
    """Run the job described by `cfg`; returns `metrics[cfg.optimized_metric]` for Hydra sweepers."""
    if cfg.get("print_config"):
        print_config_tree(cfg)
    L.seed_everything(cfg.seed, workers=True)
    reads = [cfg.get("resume_from"), cfg.model.get("ckpt_path"), (cfg.get("explainer") or {}).get("ckpt_path")]
    folder = RunFolder(Path(cfg.paths.output_dir), _resolved_yaml(cfg), str(cfg.get("existing_results", "refuse")),
                       reads)
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
    run = set_up(cfg, folder, loggers)                                              # 0–2: checks, data, models
    folder.stage = "training"                                                       # 3: train (or reuse) and test
    blackbox, metrics, trainer = train_and_test(
        run.trainers, run.blackbox, run.data, train=cfg.get("train", True), test=cfg.get("test", True),
        ckpt_path=cfg.model.get("ckpt_path"), resume_from=cfg.get("resume_from"), record=folder.record,
        stage=lambda name: setattr(folder, "stage", name), cache=blackbox_cache(cfg))
    if not trainer.is_global_zero:  # DDP workers: rank 0 explains, reports and writes metrics.json
        return metrics
    if run.study is not None:                                                       # an analysis of the model
        folder.stage = "study"
        run.study.run(blackbox.eval(), run.data, folder.path)
        folder.record("study", str(folder.path / run.study.output_name))
    if run.explainer is not None:
        # on one device; a forecaster is explained through one scalar of its forecast (model.explained_target)
        blackbox = blackbox.to(trainer.strategy.root_device).eval().explained_model()
        folder.stage = "explanation"
        fit_s = fit_explainer(run.explainer, blackbox, run.data, run.trainers)      # 4: fit the explainer
        test = explained_samples(run.eval_data, blackbox, run.evaluator.max_samples, run.evaluator.target)
        explanation = explain(run.explainer, test, run.evaluator.timing, fit_s)     # 5: explain the test set
        narrator = fit_narrator(run.narrator, run.explainer, blackbox, run.data) if run.narrator else None
        folder.stage = "evaluation"
        text = (lambda e: narrate(narrator, e, run.evaluator.n_narratives).metrics) if narrator else None
        scores = run.evaluator.evaluate(explanation, blackbox, run.explainer, text)  # 6: evaluate
        narration = narrate(narrator, explanation, run.evaluator.n_narratives) if narrator else Narration()  # 7
        folder.stage = "report"                                                      # 8: report
        metrics.update({**scores.metrics, **narration.metrics})
        _report(cfg, folder, loggers, run, explanation, scores, narration)
    return finish(cfg, folder, loggers, metrics, run)


@dataclass
class Run:
    """What a run builds before anything trains, so that a bad option fails in seconds."""

    data: object
    blackbox: L.LightningModule
    trainers: Trainers
    explainer: Explainer | None = None
    study: object = None
    evaluator: Evaluator | None = None
    narrator: Narrator | None = None
    eval_data: object = None


def set_up(cfg: DictConfig, folder: RunFolder, loggers: list) -> Run:
    """Steps 0–2: every option and file checked, the data validated, the black box, the explainer (checked against
    it), the evaluator, the narrator and an OOD dataset built."""
    folder.stage = "checks before training"
    preflight(cfg)
    folder.stage = "data preparation"
    data = instantiate(cfg.dataset)
    data.prepare_data()
    data.setup("fit")
    folder.stage = "model and explainer set-up"
    blackbox = instantiate(cfg.model, meta=data.meta)
    log.info("black box %s: %d parameters", type(blackbox.backbone).__name__, blackbox.n_params)
    run = Run(data, blackbox, Trainers(cfg.trainer, cfg.get("callbacks"), loggers, cfg.paths.output_dir))
    run.study = instantiate(cfg.study) if _has_target(cfg.get("study")) else None
    if _has_target(cfg.get("explainer")):
        run.explainer = instantiate(cfg.explainer)
        run.explainer.check_compatible(blackbox)
        run.evaluator = instantiate(cfg.evaluation)  # a bad evaluation value fails here, before training
        run.narrator = instantiate(cfg.narrator) if _has_target(cfg.get("narrator")) else None
        run.eval_data = ood_data(cfg, data.meta) or data  # a wrong OOD dataset fails here, not after training
        if run.eval_data is not data:
            folder.record("ood_dataset", run.eval_data.meta.name)
    return run


def _report(cfg: DictConfig, folder: RunFolder, loggers: list, run: Run, explanation: Explanation, scores,
            narration: Narration) -> None:
    """Step 8: saliency.npz, curves, narratives and figures (also sent to the loggers), the explainer's own figures."""
    figures = write_explanation_report(folder, explanation, scores, narration, loggers, int(cfg.get("n_figures", 3)),
                                       run.evaluator.save_saliency)
    test = explanation.test
    own = run.explainer.figures(test.x, test.target, test.meta, folder.path / "figures")
    folder.record("figures", [str(p) for p in figures + own])
    log_figures(loggers, own)
    log_explanations(loggers, explanation, narration, figures, folder.extra.get("saliency_file"), run.explainer.name)
    if run.explainer.best_ckpt_path:  # reuse it with explainer.ckpt_path=…
        folder.record("explainer_checkpoint", run.explainer.best_ckpt_path)


def finish(cfg: DictConfig, folder: RunFolder, loggers: list, metrics: dict, run: Run) -> dict:
    """The optimized metric checked, metrics.json written last, the metrics sent to the loggers, the summary."""
    folder.stage = "final checks"
    metric = cfg.get("optimized_metric")
    if metric and metric not in metrics:
        raise KeyError(f"optimized_metric={metric!r} is not among the run's metrics: {sorted(metrics)}; "
                       "pick one of them or set optimized_metric=null.")
    folder.write_metrics(metrics)
    # Sent at the end, with the final metrics: a CSV logger touched before a spawn strategy's workers start
    # breaks its header in them (Lightning's writer then holds no keys for the file they append to).
    config = OmegaConf.to_container(_without_hydra(cfg), resolve=True)
    log_hyperparameters(loggers, config, run.blackbox)
    describe_run(loggers, config, cfg)  # W&B only: the labels and swept overrides a W&B Report groups by
    log_metrics(loggers, metrics)
    meta = run.eval_data.meta if run.eval_data is not None else run.data.meta
    print_summary(metrics, title=f"{cfg.task_name}: {meta.name} / {cfg.model.get('name', '')}",
                  headline=run.explainer.name if run.explainer is not None else None)
    print_highlights(folder.extra)
    log.info("run folder: %s", folder.path)
    return metrics


def preflight(cfg: DictConfig) -> None:
    """Check the options and files the run will need, so a bad one fails in seconds, not after training:
    checkpoints are read (safely) now, trainer numbers must be numbers, the optimized metric must be produced."""
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
    metric = cfg.get("optimized_metric")
    if metric and str(metric).startswith("test/") and not cfg.get("test", True):
        raise ValueError(f"optimized_metric={metric} needs the test stage, but test=false; set "
                         "optimized_metric=null (or a val/ or explain/ metric) or drop test=false.")


def ood_data(cfg: DictConfig, meta):
    """The dataset an explainer with `ood_dataset` is evaluated on (None without one): that option of the `dataset`
    group composed by Hydra, with the run's dataset settings it shares (sizes, seed, cache) and the explainer's
    `ood_overrides` on top; written to the run config as `ood_dataset`."""
    explainer = cfg.get("explainer") or {}
    name = explainer.get("ood_dataset")
    if not name:
        return None
    try:
        node = compose_option("dataset", str(name))
    except ValueError as err:
        raise ValueError(f"explainer.ood_dataset={err}") from None
    shared = {k: cfg.dataset[k] for k in node if k in cfg.dataset and k not in ("_target_", "name", "path")}
    with open_dict(cfg):
        cfg.ood_dataset = OmegaConf.merge(node, shared, explainer.get("ood_overrides") or {})  # resolved in cfg
    ood = instantiate(cfg.ood_dataset)
    ood.prepare_data()
    ood.setup("test")
    got = (ood.meta.n_channels, ood.meta.seq_len)
    if got != (meta.n_channels, meta.seq_len):
        raise ValueError(f"explainer.ood_dataset={name} has [C, T] = {list(got)} but the black box and explainer "
                         f"were built for {[meta.n_channels, meta.seq_len]}; OOD evaluation needs data of the "
                         "same shape (another split, noise level or file: explainer.ood_overrides).")
    return ood


def _has_target(node) -> bool:
    return bool(node) and "_target_" in node


def _without_hydra(cfg: DictConfig) -> DictConfig:
    return OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])


def _resolved_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(_without_hydra(cfg), resolve=True)


def cache_nodes(cfg: DictConfig) -> dict:
    """The config nodes that decide the trained black box (what the black-box cache hashes), and `paths`."""
    return {name: cfg.get(name) for name in (*KEY_NODES, "paths")}


def blackbox_cache(cfg: DictConfig) -> CacheEntry | None:
    """This run's black-box cache entry from its `blackbox_cache` node (built by Hydra), or None when it is off."""
    node = cfg.get("blackbox_cache")
    if not node or not node.get("enabled"):
        return None
    from_scratch = cfg.get("train", True) and not cfg.model.get("ckpt_path") and not cfg.get("resume_from")
    return instantiate(node).entry(cache_nodes(cfg), bool(from_scratch))
