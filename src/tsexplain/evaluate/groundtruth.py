"""Ground-truth explanation metrics: AUPRC, AUP and AUR of a saliency map against a known mask.

Two definitions exist in the literature and give different numbers; they are named apart here:

| function               | definition                                  | used by                         |
|------------------------|---------------------------------------------|---------------------------------|
| `gt_scores_per_sample` | one PR curve per sample, mean ± std/√n      | TimeX, TimeX++, TimeSAE tables  |
| `gt_scores_pooled`     | all scored samples pooled into one PR curve | Dynamask, tint (white_box)      |

Both min–max normalise each sample's (C×T) map first (no absolute value), so AUP and AUR — areas over
*threshold values* in [0, 1] — are comparable. Published tables (REFERENCE §2) are per-sample.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import auc, average_precision_score, precision_recall_curve

from tsexplain.utils.tensors import minmax_per_sample  # noqa: F401 - each sample's map to [0, 1], constant → 0

ArrayLike = np.ndarray | torch.Tensor
log = logging.getLogger(__name__)


def _to_numpy(a: ArrayLike | Sequence) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().float().cpu().numpy()
    return np.asarray(a)




def _validate(saliency, mask, labels, scored_classes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check shapes/values and return (normalised saliency [N, C*T], binary mask [N, C*T], keep [N])."""
    s = _to_numpy(saliency)
    m = _to_numpy(mask)
    if s.ndim != 3 or s.shape != m.shape:
        raise ValueError(
            f"saliency {s.shape} and mask {m.shape} must both be [N, C, T] with the same shape; "
            "pass the explanation and the ground-truth mask of the same samples."
        )
    if not np.all(np.isfinite(s)):
        raise ValueError("saliency contains NaN or inf; fix the explainer (or nan_to_num the map) first.")
    if not np.all((m == 0) | (m == 1)):
        raise ValueError("mask must be binary (0/1 or bool); threshold a soft ground truth before scoring.")
    n = len(s)
    keep = np.ones(n, dtype=bool)
    if scored_classes is not None:
        if labels is None:
            raise ValueError("scored_classes needs labels (one class index per sample); pass labels=y.")
        y = _to_numpy(labels).reshape(-1)
        if len(y) != n:
            raise ValueError(f"labels has {len(y)} entries for {n} samples; pass one label per sample.")
        keep &= np.isin(y, np.asarray(list(scored_classes)))
    s = minmax_per_sample(s).reshape(n, -1)
    m = m.reshape(n, -1).astype(np.int64)
    return s, m, keep


def _select(saliency, mask, labels, scored_classes) -> tuple[np.ndarray, np.ndarray, dict]:
    s, m, keep_class = _validate(saliency, mask, labels, scored_classes)
    nonempty = m.sum(axis=1) > 0
    keep = keep_class & nonempty
    counts = {
        "n_scored": int(keep.sum()),
        "n_skipped_class": int((~keep_class).sum()),
        "n_skipped_empty": int((keep_class & ~nonempty).sum()),
    }
    if counts["n_scored"] == 0:
        raise ValueError(
            f"no sample left to score ({counts}): every mask is empty or every class excluded; "
            "check the mask and scored_classes (TimeX excludes class 0, whose mask is empty)."
        )
    return s[keep], m[keep], counts


def _pr_areas(gt: np.ndarray, e: np.ndarray) -> tuple[float, float, float]:
    """(AUPRC, AUP, AUR) of one score vector; AUP/AUR are 0 when there is a single threshold (constant map)."""
    auprc = float(average_precision_score(gt, e))
    prec, rec, thr = precision_recall_curve(gt, e)
    if len(thr) < 2:  # constant map: the PR "curve" is one point, its area over thresholds is zero (as TimeX)
        return auprc, 0.0, 0.0
    return auprc, float(auc(thr, prec[:-1])), float(auc(thr, rec[:-1]))


def gt_scores_per_sample(
    saliency: ArrayLike,
    mask: ArrayLike,
    labels: ArrayLike | None = None,
    scored_classes: Sequence[int] | None = None,
) -> dict[str, float]:
    """TimeX ground-truth metrics: per-sample AUPRC/AUP/AUR averaged over scored samples, with std/√n.

    Samples whose mask is empty, or whose label is not in `scored_classes`, are skipped and counted.
    A constant map scores AUPRC = its GT fraction (sklearn) and AUP = AUR = 0 (one threshold, zero area).
    The std is the population std (ddof=0), so `*_sem` is 0 for a single sample.
    """
    s, m, counts = _select(saliency, mask, labels, scored_classes)
    vals = np.array([_pr_areas(m[i], s[i]) for i in range(len(s))])
    sem = vals.std(axis=0) / np.sqrt(len(vals))
    mean = vals.mean(axis=0)
    return {
        "auprc": float(mean[0]),
        "aup": float(mean[1]),
        "aur": float(mean[2]),
        "auprc_sem": float(sem[0]),
        "aup_sem": float(sem[1]),
        "aur_sem": float(sem[2]),
        **counts,
    }


def gt_scores_pooled(
    saliency: ArrayLike,
    mask: ArrayLike,
    labels: ArrayLike | None = None,
    scored_classes: Sequence[int] | None = None,
) -> dict[str, float]:
    """Dynamask/tint ground-truth metrics: every scored sample's normalised map pooled into one PR curve.

    Scores the same samples as `gt_scores_per_sample` (empty masks and excluded classes left out).
    """
    s, m, counts = _select(saliency, mask, labels, scored_classes)
    auprc, aup, aur = _pr_areas(m.reshape(-1), s.reshape(-1))
    return {"pooled_auprc": auprc, "pooled_aup": aup, "pooled_aur": aur, "n_scored": counts["n_scored"]}


class GroundTruth:
    """Ground-truth scores of a map (`evaluation.ground_truth`): both definitions above, for tasks whose masks are
    per class (`Task.scores_ground_truth`), over the samples with a scored class and a non-empty mask."""

    def __call__(self, saliency: torch.Tensor, mask: torch.Tensor | None, labels: torch.Tensor, task,
                 scored_classes: Sequence[int] | None = None) -> dict[str, float]:
        if mask is None or not task.scores_ground_truth:
            return {}
        y = _to_numpy(labels).reshape(-1)
        m = _to_numpy(mask)
        if not any(m[i].any() and (scored_classes is None or int(y[i]) in scored_classes) for i in range(len(y))):
            log.warning("no explained sample has a scored class and a non-empty mask: ground-truth metrics skipped")
            return {}
        s = _to_numpy(saliency)
        per = gt_scores_per_sample(s, m, y, scored_classes)
        pooled = gt_scores_pooled(s, m, y, scored_classes)
        return {k: float(v) for k, v in {**per, **pooled}.items()}
