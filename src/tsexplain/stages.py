"""Stages 4–8 of a run (explain, evaluate, narrate, report), each reading only what the previous produced."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from tsexplain.data.meta import DataMeta
from tsexplain.evaluate.faithfulness import deletion_curve
from tsexplain.evaluate.groundtruth import gt_scores_per_sample, gt_scores_pooled
from tsexplain.evaluate.robustness import deltas_vs_clean, perturb
from tsexplain.explain.base import Explainer

log = logging.getLogger(__name__)


@dataclass
class Explained:
    """The test samples a run explained and what it found (stage 5's output)."""

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    pred: torch.Tensor
    target: torch.Tensor
    saliency: torch.Tensor
    mask: torch.Tensor | None
    maps: dict[str, torch.Tensor] = field(default_factory=dict)
    ms_per_instance: float = float("nan")
    fit_s: float = 0.0


@torch.no_grad()
def predict(blackbox: torch.nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Black-box outputs for `x`, batched."""
    return torch.cat([blackbox(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def predict_and_target(blackbox: torch.nn.Module, x: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The prediction (class index, or output 0 for regression) and the class an explainer should explain."""
    outputs = predict(blackbox, x)
    if task == "regression":
        pred = outputs[:, 0]
        return pred, torch.zeros(len(x), dtype=torch.long, device=x.device)
    pred = outputs.argmax(-1)
    return pred, pred.long()


def explain_test_set(cfg: DictConfig, data, blackbox: torch.nn.Module, explainer: Explainer,
                     trainer_factory=None, eval_data=None) -> Explained:
    """Stages 4–5: fit the explainer on `data`, then attribute every test sample (up to evaluation.max_samples)
    of `eval_data` (default `data`; another dataset for out-of-distribution evaluation)."""
    t0 = time.perf_counter()
    explainer.fit(blackbox, data, trainer_factory)
    fit_s = time.perf_counter() - t0
    device = next(blackbox.parameters()).device
    data = eval_data if eval_data is not None else data
    arrays = data.split_arrays("test")
    n = len(arrays["x"]) if cfg.evaluation.get("max_samples") is None else int(cfg.evaluation.max_samples)
    x = arrays["x"][:n].to(device)
    y = arrays["y"][:n]
    mask = arrays.get("mask")
    pred, target = predict_and_target(blackbox, x, data.meta.task)
    if cfg.evaluation.get("target", "pred") == "label" and data.meta.task == "multiclass":
        target = y.to(device).long()
    explainer.attribute(x[:2], target[:2])  # warm-up (JIT compilation, lazy init) kept out of the timing
    t0 = time.perf_counter()
    saliency = explainer.attribute(x, target)
    ms = (time.perf_counter() - t0) / len(x) * 1000
    maps: dict[str, torch.Tensor] = {}
    if hasattr(explainer, "maps"):
        maps = {k: v.detach().cpu() for k, v in explainer.maps(x, target).items()}
    return Explained(x=x, y=y, index=arrays["index"][:n], pred=pred.cpu(), target=target.cpu(),
                     saliency=saliency.cpu(), mask=None if mask is None else mask[:n].cpu(), maps=maps,
                     ms_per_instance=ms, fit_s=fit_s)


def score_saliency(saliency: torch.Tensor, ex: Explained, meta: DataMeta, blackbox, cfg: DictConfig,
                   prefix: str = "explain") -> tuple[dict[str, float], dict[str, Any]]:
    """Stage 6 for one map: ground-truth scores (both definitions) and deletion/insertion faithfulness."""
    metrics: dict[str, float] = {}
    curves: dict[str, Any] = {}
    labels = ex.y.numpy()
    scorable = ex.mask is not None and meta.task == "multiclass" and any(
        ex.mask[i].any() and (meta.scored_classes is None or int(labels[i]) in meta.scored_classes)
        for i in range(len(labels)))
    if scorable:
        per = gt_scores_per_sample(saliency.numpy(), ex.mask.numpy(), labels, meta.scored_classes)
        pooled = gt_scores_pooled(saliency.numpy(), ex.mask.numpy(), labels, meta.scored_classes)
        metrics.update({f"{prefix}/{k}": float(v) for k, v in {**per, **pooled}.items()})
    elif ex.mask is not None:
        log.warning("no explained sample has a scored class and a non-empty mask: ground-truth metrics skipped")
    faith = cfg.evaluation.get("faithfulness") or {}
    if faith.get("enabled", True):
        kwargs = dict(target=ex.target.to(ex.x.device), fractions=list(faith.fractions), baseline=faith.baseline,
                      task=meta.task)
        sal = saliency.to(ex.x.device)
        for mode in ("deletion", "insertion"):
            curve = deletion_curve(blackbox, ex.x, sal, mode=mode, **kwargs)
            curves[mode] = curve
            key = "del" if mode == "deletion" else "ins"
            if mode == "deletion":
                metrics[f"{prefix}/del_drop20"] = float(curve["drop_at_20"])
            for name in (f"{key}_auc", f"{key}_auc_prob"):
                if curve.get(name) is not None:
                    metrics[f"{prefix}/{name}"] = float(curve[name])
    return metrics, curves


def evaluate_explanations(ex: Explained, meta: DataMeta, blackbox, cfg: DictConfig) -> tuple[dict, dict]:
    """Stage 6: score the explainer's map and, for fusion, each component map under its own name."""
    metrics, curves = score_saliency(ex.saliency, ex, meta, blackbox, cfg)
    metrics["explain/ms_per_instance"] = ex.ms_per_instance
    metrics["explain/fit_s"] = ex.fit_s
    all_curves = {"explainer": curves}
    for name, m in ex.maps.items():
        if m.shape == ex.saliency.shape and name != "fused":
            sub, sub_curves = score_saliency(m, ex, meta, blackbox, cfg, prefix=f"explain_{name}")
            metrics.update(sub)
            all_curves[name] = sub_curves
    return metrics, all_curves


def build_sanity_checks(cfg: DictConfig):
    """The configured sanity checks (`evaluation.sanity`, a `SanityChecks`), or None when the node is absent.
    Built before training so a bad value fails at start."""
    node = cfg.evaluation.get("sanity")
    if not node or "_target_" not in node:
        return None
    return instantiate(node)


def sanity_checks(checks, ex: Explained, blackbox, explainer: Explainer) -> dict[str, float]:
    """Stage 6c: model-randomisation Spearman, infidelity and sensitivity-max of the explainer's map."""
    if checks is None:
        return {}
    t0 = time.perf_counter()
    out = checks(explainer, blackbox, ex.x, ex.target.to(ex.x.device), ex.saliency.to(ex.x.device))
    if out:
        out["explain/sanity_s"] = time.perf_counter() - t0
    return out


def reference_ig(cfg: DictConfig, ex: Explained, meta: DataMeta, blackbox, explainer: Explainer) -> dict[str, float]:
    """Integrated gradients on the first `evaluation.reference_ig.max_samples` explained samples, scored like the
    explainer (`explain_ig_ref/…`), so the summary can say whether the headline map beats plain IG on this run.
    Skipped when the explainer is IG itself or max_samples is 0/null."""
    node = cfg.evaluation.get("reference_ig") or {}
    n = int(node.get("max_samples") or 0)
    if n <= 0 or getattr(explainer, "name", "") == "integrated_gradients":
        return {}
    from tsexplain.explain.captum_baselines import IntegratedGradients

    n = min(n, len(ex.x))
    ig = IntegratedGradients(n_steps=int(node.get("n_steps", 50))).fit(blackbox)
    sub = Explained(x=ex.x[:n], y=ex.y[:n], index=ex.index[:n], pred=ex.pred[:n], target=ex.target[:n],
                    saliency=ex.saliency[:n], mask=None if ex.mask is None else ex.mask[:n])
    sal = ig.attribute(sub.x, sub.target.to(sub.x.device)).cpu()
    metrics, _ = score_saliency(sal, sub, meta, blackbox, cfg, prefix="explain_ig_ref")
    metrics["explain_ig_ref/n_samples"] = float(n)
    return metrics


def robustness_study(cfg: DictConfig, ex: Explained, meta: DataMeta, blackbox, explainer: Explainer,
                     narrator=None) -> dict[str, float]:
    """Stage 6b: Gaussian noise σ on the test inputs → change in AUPRC, deletion drop and text scores."""
    sigmas = list(cfg.evaluation.get("robustness_sigmas") or [])
    if not sigmas:
        return {}
    by_sigma: dict[float, dict[str, float]] = {}
    for sigma in [0.0, *sigmas]:
        x = perturb(ex.x, sigma, seed=cfg.seed)
        sal = explainer.attribute(x, ex.target.to(x.device)).cpu()
        noisy = Explained(x=x, y=ex.y, index=ex.index, pred=ex.pred, target=ex.target, saliency=sal, mask=ex.mask)
        m, _ = score_saliency(sal, noisy, meta, blackbox, cfg, prefix="r")
        if narrator is not None:
            m.update(narrate_samples(narrator, noisy, meta, cfg)[0])
        by_sigma[float(sigma)] = m
    out = {}
    for sigma, deltas in deltas_vs_clean(by_sigma).items():
        if sigma == 0:
            continue
        for k, v in deltas.items():
            out[f"robust/sigma{sigma:g}/delta_{k.split('/', 1)[-1]}"] = v
    return out


def narrate_samples(narrator, ex: Explained, meta: DataMeta, cfg: DictConfig) -> tuple[dict, list[dict]]:
    """Stage 7: narratives for the first `evaluation.n_narratives` samples; BLEU/ROUGE against GT references."""
    from tsexplain.narrate.text_metrics import text_scores

    n = min(len(ex.x), int(cfg.evaluation.get("n_narratives", 100)))
    x_np = ex.x[:n].detach().cpu().numpy()
    labels = [int(p) if meta.task != "regression" else float(p) for p in ex.pred[:n]]
    counts = (getattr(narrator, "fallbacks", 0), getattr(narrator, "generated", 0))
    texts_all = narrator.narrate_batch(ex.saliency[:n].numpy(), meta, labels, x=x_np)  # batched for T5
    texts, refs, records = [], [], []
    for i, text in enumerate(texts_all):
        record = {"index": int(ex.index[i]), "prediction": labels[i], "narrative": text}
        if ex.mask is not None and meta.task == "multiclass" and _scored(meta, int(ex.y[i])) and ex.mask[i].any():
            # The reference names the true class and the true regions: a narrative is only right if both are.
            ref = narrator.reference_narrative(ex.mask[i].numpy(), meta, int(ex.y[i]), x=x_np[i])
            texts.append(text)
            refs.append(ref)
            record["reference"] = ref
        records.append(record)
    metrics = {f"narrate/{k}": float(v) for k, v in text_scores(texts, refs).items()} if texts else {}
    generated = getattr(narrator, "generated", 0) - counts[1]
    if generated:  # this call's share only: the narrator's counters add up over calls
        metrics["narrate/fallback_rate"] = (narrator.fallbacks - counts[0]) / generated
    return metrics, records


def _scored(meta: DataMeta, label: int) -> bool:
    return meta.scored_classes is None or label in meta.scored_classes


def build_narrator(cfg: DictConfig, data, explainer: Explainer, blackbox: torch.nn.Module):
    """Stage 7 set-up: the configured narrator; a T5 without `pretrained_path` first learns to verbalise the
    explainer's maps of *training* samples (`narrator.fit_samples`), so no test sample is seen in training."""
    if not cfg.get("narrator") or "_target_" not in cfg.narrator:
        return None
    narrator = instantiate(cfg.narrator)
    if hasattr(narrator, "fit_maps") and not cfg.narrator.get("pretrained_path"):
        train = data.split_arrays("train")
        device = next(blackbox.parameters()).device
        x = train["x"][: narrator.fit_samples].to(device)
        labels, target = predict_and_target(blackbox, x, data.meta.task)
        sal = explainer.attribute(x, target).cpu().numpy()
        preds = [int(v) if data.meta.task != "regression" else float(v) for v in labels.cpu()]
        narrator.fit_maps(sal, data.meta, preds, x=x.cpu().numpy())
        log.info("T5 narrator trained on %d training-sample maps (last loss %.3f)", len(x),
                 narrator.losses[-1] if narrator.losses else float("nan"))
    return narrator


def saliency_arrays(ex: Explained) -> dict[str, np.ndarray]:
    """What `saliency.npz` holds: sample index, map [N, C, T], target, prediction, label, GT mask if any."""
    arrays = {"index": ex.index.numpy(), "saliency": ex.saliency.numpy().astype(np.float32),
              "target": ex.target.numpy(), "prediction": ex.pred.numpy(), "label": ex.y.numpy()}
    if ex.mask is not None:
        arrays["mask"] = ex.mask.numpy()
    for name, m in ex.maps.items():
        arrays[f"map_{name}"] = m.numpy().astype(np.float32)
    return arrays


def ood_datamodule(cfg: DictConfig, explainer: Explainer, meta: DataMeta):
    """The dataset an explainer with `ood_dataset` is evaluated on: that dataset config, with the run's dataset
    settings it shares (sizes, seed, cache) and the explainer's `ood_overrides` on top. None without one."""
    name = getattr(explainer, "ood_dataset", None)
    if not name:
        return None
    conf_dir = Path(__file__).resolve().parents[2] / "conf" / "dataset"
    path = conf_dir / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in conf_dir.glob("*.yaml"))
        raise ValueError(f"explainer.ood_dataset={name!r} is not a dataset config; use one of {options}.")
    node = OmegaConf.load(path)
    shared = {k: cfg.dataset[k] for k in node if k in cfg.dataset and k not in ("_target_", "name", "path")}
    merged = OmegaConf.merge(node, shared, getattr(explainer, "ood_overrides", None) or {})
    with open_dict(cfg):
        cfg.ood_dataset = merged  # resolved against the run's config (seed, paths)
    ood = instantiate(cfg.ood_dataset)
    ood.prepare_data()
    ood.setup("test")
    got = (ood.meta.n_channels, ood.meta.seq_len)
    if got != (meta.n_channels, meta.seq_len):
        raise ValueError(f"explainer.ood_dataset={name} has [C, T] = {list(got)} but the black box and explainer "
                         f"were built for {[meta.n_channels, meta.seq_len]}; OOD evaluation needs data of the "
                         "same shape (another split, noise level or file: explainer.ood_overrides).")
    return ood
