"""Deletion / insertion faithfulness: does removing the points a map ranks highest change the model?

Deletion replaces the top-k % points of each sample's map by a baseline; insertion keeps only them and
replaces the rest. A faithful map makes accuracy fall fast under deletion (low `del_auc`, large
`drop_at_20` — the fusion paper's "accuracy drop when masking the top 20 %") and rise fast under
insertion (high `ins_auc`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.integrate import trapezoid
from scipy.ndimage import gaussian_filter1d

from tsexplain.utils import progress
from tsexplain.utils.tensors import batched

DEFAULT_FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
BASELINES = ("zero", "mean", "blur")
TASKS = ("multiclass", "multilabel", "regression")


def make_baseline(x: torch.Tensor, baseline: str = "zero", sigma: float = 2.0) -> torch.Tensor:
    """Replacement values `[N, C, T]` for removed points: zeros, each sample-channel's time mean, or a blur."""
    if baseline == "zero":
        return torch.zeros_like(x)
    if baseline == "mean":
        return x.mean(dim=-1, keepdim=True).expand_as(x).clone()
    if baseline == "blur":
        if sigma <= 0:
            raise ValueError(f"blur baseline needs sigma > 0 (got {sigma}); pass e.g. sigma=2.0.")
        blurred = gaussian_filter1d(x.detach().cpu().double().numpy(), sigma=sigma, axis=-1)
        return torch.as_tensor(blurred, dtype=x.dtype, device=x.device)
    raise ValueError(f"baseline={baseline!r} is unknown; use one of {BASELINES}.")


def saliency_ranks(saliency: torch.Tensor) -> torch.Tensor:
    """Rank `[N, C, T]` of every point within its sample, 0 = most salient; ties go to the lower flat index."""
    n = saliency.shape[0]
    order = torch.argsort(saliency.reshape(n, -1), dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return ranks.reshape(saliency.shape)


def top_k_mask(saliency: torch.Tensor, fraction: float) -> torch.Tensor:
    """Boolean `[N, C, T]`: the round(fraction·C·T) most salient points of each sample."""
    k = int(round(fraction * saliency[0].numel()))
    return saliency_ranks(saliency) < k


def _check(x, saliency, fractions, baseline, mode, task) -> np.ndarray:
    if x.ndim != 3 or saliency.shape != x.shape:
        raise ValueError(
            f"x {tuple(x.shape)} and saliency {tuple(saliency.shape)} must both be [N, C, T] with equal "
            "shapes; pass one map per input sample."
        )
    if not torch.isfinite(saliency).all():
        raise ValueError("saliency contains NaN or inf; fix the explainer (or nan_to_num the map) first.")
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or len(f) < 2 or np.any(np.diff(f) <= 0) or f[0] < 0 or f[-1] > 1:
        raise ValueError(
            f"fractions={list(fractions)} must be ≥ 2 strictly increasing values in [0, 1], "
            "e.g. (0.05, 0.1, ..., 0.5)."
        )
    if baseline not in BASELINES:
        raise ValueError(f"baseline={baseline!r} is unknown; use one of {BASELINES}.")
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode={mode!r} is unknown; use 'deletion' or 'insertion'.")
    if task not in TASKS:
        raise ValueError(f"task={task!r} is unknown; use one of {TASKS} (DataMeta.task).")
    return f


def _forward(model: Callable, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    def outputs(xb: torch.Tensor) -> torch.Tensor:
        o = model(xb)
        return o[0] if isinstance(o, tuple | list) else o

    return batched(outputs, x, batch_size=batch_size).reshape(len(x), -1).float()


def _scores(out, clean_out, target, ref, task) -> tuple[float, float]:
    """(accuracy vs `ref`, mean target probability) for classification; (nan, mean |Δoutput|) for regression."""
    idx = torch.arange(len(out), device=out.device)
    if task == "multiclass":
        acc = (out.argmax(dim=1) == ref).float().mean()
        prob = out.softmax(dim=1)[idx, target].mean()
    elif task == "multilabel":
        logit = out[idx, target]
        acc = ((logit > 0).long() == ref).float().mean()
        prob = torch.sigmoid(logit).mean()
    else:
        return float("nan"), float((out - clean_out).abs().mean())
    return float(acc), float(prob)


def _per_sample(v, n: int, device, name: str) -> torch.Tensor:
    v = torch.as_tensor(v, device=device).long().reshape(-1)
    if v.numel() == 1:
        return v.expand(n)
    if v.numel() != n:
        raise ValueError(f"{name} has {v.numel()} entries for {n} samples; pass one per sample (or a scalar).")
    return v


def _area(f: np.ndarray, y: np.ndarray) -> float:
    """Trapezoid area under y(f), divided by the span of f so it reads as the curve's mean level."""
    return float(trapezoid(y, f) / (f[-1] - f[0]))


@torch.no_grad()
def deletion_curve(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    saliency: torch.Tensor,
    target: torch.Tensor | Sequence[int] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    baseline: str = "zero",
    mode: str = "deletion",
    batch_size: int = 256,
    labels: torch.Tensor | None = None,
    sigma: float = 2.0,
    task: str = "multiclass",
) -> dict:
    """Accuracy and target probability as the top-k % of each map is removed (or kept alone).

    `model` is any callable `[B, C, T] -> [B, K]`; it runs on `x.device`. Accuracy is measured against
    the clean prediction, or against `labels` when given (multilabel: the target label's 0/1 value).
    `target` (default: the clean prediction) picks the class whose probability is tracked.
    Regression: `acc`, `clean_acc`, `*_auc` are None; `prob` holds mean |output − clean output| and
    `drop_at_20` is that change at 20 %.
    Returns fractions, acc, prob (arrays), clean_acc, clean_prob, drop_at_20, and `del_auc`/`del_auc_prob`
    (deletion) or `ins_auc`/`ins_auc_prob` (insertion): trapezoid areas over fractions divided by their span.
    """
    saliency = torch.as_tensor(saliency).to(device=x.device, dtype=torch.float32)
    f = _check(x, saliency, fractions, baseline, mode, task)
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    try:
        x = x.detach()
        clean_out = _forward(model, x, batch_size)
        if target is None:
            target = clean_out.argmax(dim=1)
        target = _per_sample(target, len(x), x.device, "target")
        idx = torch.arange(len(x), device=x.device)
        if labels is None:  # reference = the clean prediction
            ref = (clean_out[idx, target] > 0).long() if task == "multilabel" else clean_out.argmax(dim=1)
        elif task == "multilabel":  # labels [N, K] of 0/1: the target label's value
            ref = torch.as_tensor(labels, device=x.device).long().reshape(len(x), -1)[idx, target]
        else:
            ref = _per_sample(labels, len(x), x.device, "labels")
        clean_acc, clean_prob = _scores(clean_out, clean_out, target, ref, task)

        base = make_baseline(x, baseline, sigma)
        ranks = saliency_ranks(saliency)
        n_points = x[0].numel()
        acc, prob = [], []
        for frac in progress.track(f, f"{mode} curve", unit="step"):
            top = ranks < int(round(frac * n_points))
            x_mod = torch.where(top, base, x) if mode == "deletion" else torch.where(top, x, base)
            a, p = _scores(_forward(model, x_mod, batch_size), clean_out, target, ref, task)
            acc.append(a)
            prob.append(p)
    finally:
        if was_training:
            model.train()

    acc_arr, prob_arr = np.asarray(acc), np.asarray(prob)
    key = "del" if mode == "deletion" else "ins"
    if task == "regression":  # no accuracy: the probability slot carries mean |Δoutput|
        return {
            "mode": mode, "baseline": baseline, "task": task, "fractions": f,
            "acc": None, "prob": prob_arr, "prob_label": "mean |output change|",
            "clean_acc": None, "clean_prob": 0.0,
            "drop_at_20": float(np.interp(0.2, f, prob_arr)),
            f"{key}_auc": None, f"{key}_auc_prob": _area(f, prob_arr),
        }
    return {
        "mode": mode, "baseline": baseline, "task": task, "fractions": f,
        "acc": acc_arr, "prob": prob_arr, "prob_label": "mean target probability",
        "clean_acc": clean_acc, "clean_prob": clean_prob,
        "drop_at_20": clean_acc - float(np.interp(0.2, f, acc_arr)),
        f"{key}_auc": _area(f, acc_arr), f"{key}_auc_prob": _area(f, prob_arr),
    }


class Faithfulness:
    """Deletion and insertion curves of a map (`evaluation.faithfulness`), as metrics and the curves behind them:
    `del_drop20`, `del_auc`, `del_auc_prob`, `ins_auc`, `ins_auc_prob` (the `*_auc` are None for regression)."""

    def __init__(self, enabled: bool = True, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                 baseline: str = "zero") -> None:
        self.enabled, self.fractions, self.baseline = enabled, list(fractions), baseline
        _check(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), self.fractions, baseline, "deletion", "multiclass")

    def __call__(self, blackbox: Callable, x: torch.Tensor, saliency: torch.Tensor, target: torch.Tensor,
                 task: str) -> tuple[dict[str, float], dict]:
        if not self.enabled:
            return {}, {}
        metrics: dict[str, float] = {}
        curves: dict = {}
        for mode, key in (("deletion", "del"), ("insertion", "ins")):
            curve = deletion_curve(blackbox, x, saliency.to(x.device), target=target, fractions=self.fractions,
                                   baseline=self.baseline, mode=mode, task=task)
            curves[mode] = curve
            if mode == "deletion":
                metrics["del_drop20"] = float(curve["drop_at_20"])
            for name in (f"{key}_auc", f"{key}_auc_prob"):
                if curve.get(name) is not None:
                    metrics[name] = float(curve[name])
        return metrics, curves
