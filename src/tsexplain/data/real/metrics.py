"""Dataset-specific metrics named in `DataMeta.extra_metrics`: pure functions and torchmetrics objects.

- `macro_auroc`: PTB-XL's benchmark measure (helme/ecg_ptbxl_benchmarking: sklearn `roc_auc_score(average="macro")`),
  the mean over labels of one-vs-rest AUROC. Labels with no positive or no negative in the evaluated set have no
  AUROC; they are left out of the mean (sklearn would raise, torchmetrics would count them as 0).
- `challenge_f1`: the PhysioNet/CinC Challenge 2017 score, the mean of the per-class F1 of N (normal), A (AF) and
  O (other rhythm); the noisy class ~ is predicted and counted in the others' errors but not averaged.

Both take what `BlackBox` feeds its metrics: probabilities [N, K] (softmax for multiclass, sigmoid for multilabel)
and targets (class indices [N] or 0/1 indicators [N, K]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torchmetrics as tm
from torchmetrics.functional.classification import binary_auroc, multiclass_f1_score

from tsexplain.data.meta import DataMeta

CHALLENGE_CLASSES = ("N", "A", "O")


def _indicators(target: torch.Tensor, n: int) -> torch.Tensor:
    """Targets as 0/1 indicators [N, K] (class indices are one-hot encoded)."""
    if target.ndim == 1:
        return torch.nn.functional.one_hot(target.long(), n)
    return target.long()


def macro_auroc(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean one-vs-rest AUROC over the labels that have both positives and negatives in `target` (NaN if none)."""
    probs = torch.as_tensor(probs, dtype=torch.float32)
    ind = _indicators(torch.as_tensor(target), probs.shape[1])
    if ind.shape != probs.shape:
        raise ValueError(f"macro_auroc: probs have shape {tuple(probs.shape)} but targets {tuple(ind.shape)}; give "
                         "one score per label and sample.")
    scores = [binary_auroc(probs[:, k], ind[:, k]) for k in range(probs.shape[1])
              if 0 < int(ind[:, k].sum()) < len(ind)]
    return torch.stack(scores).mean() if scores else torch.tensor(float("nan"))


def challenge_f1(probs_or_pred: torch.Tensor, target: torch.Tensor, class_names: Sequence[str]) -> torch.Tensor:
    """CinC 2017 score: mean F1 of N, A and O (predictions: class indices [N] or probabilities [N, K])."""
    idx = challenge_indices(class_names)
    pred = torch.as_tensor(probs_or_pred)
    if pred.ndim == 2:
        pred = pred.argmax(dim=1)
    f1 = multiclass_f1_score(pred.long(), torch.as_tensor(target).long(), num_classes=len(class_names),
                             average="none", zero_division=0)
    return f1[list(idx)].mean()


def challenge_indices(class_names: Sequence[str] | None) -> tuple[int, int, int]:
    names = list(class_names or [])
    missing = [c for c in CHALLENGE_CLASSES if c not in names]
    if missing:
        raise ValueError(f"challenge_f1 needs the classes N, A and O; the dataset's classes are {names} "
                         f"(missing {missing}). Keep them in dataset.classes.")
    return tuple(names.index(c) for c in CHALLENGE_CLASSES)  # type: ignore[return-value]


class MacroAUROC(tm.Metric):
    """`macro_auroc` accumulated over batches (scores and targets kept; the benchmark's test sets are small)."""

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("probs", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, probs: torch.Tensor, target: torch.Tensor) -> None:
        self.probs.append(probs.detach().float())
        self.target.append(_indicators(target, probs.shape[1]))

    def compute(self) -> torch.Tensor:
        probs = torch.cat(self.probs) if isinstance(self.probs, list) else self.probs
        target = torch.cat(self.target) if isinstance(self.target, list) else self.target
        return macro_auroc(probs, target)


class ChallengeF1(tm.Metric):
    """`challenge_f1` accumulated over batches through a per-class F1 (torchmetrics' confusion counts)."""

    full_state_update = False

    def __init__(self, class_names: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.indices = list(challenge_indices(class_names))
        self.f1 = tm.F1Score(task="multiclass", num_classes=len(class_names), average="none", zero_division=0)

    def update(self, probs: torch.Tensor, target: torch.Tensor) -> None:
        self.f1.update(probs.argmax(dim=1) if probs.ndim == 2 else probs, target.long())

    def compute(self) -> torch.Tensor:
        return self.f1.compute()[self.indices].mean()

    def reset(self) -> None:
        super().reset()
        self.f1.reset()


METRICS: dict[str, Callable[[DataMeta], tm.Metric]] = {
    "macro_auroc": lambda meta: MacroAUROC(),
    "challenge_f1": lambda meta: ChallengeF1(meta.class_names or []),
}


def build_metrics(meta: DataMeta) -> dict[str, tm.Metric]:
    """One fresh metric per name in `meta.extra_metrics` (for a `MetricCollection`; one set per split)."""
    unknown = [m for m in meta.extra_metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"meta.extra_metrics has unknown metric(s) {unknown}; known: {sorted(METRICS)}.")
    return {name: METRICS[name](meta) for name in meta.extra_metrics}
