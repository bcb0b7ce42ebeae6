"""The typed values that travel between a run's steps, and the explanation step (4–5) itself.

    TestSet      the samples to explain: inputs, labels, masks, the black box's predictions and the targets
    Explanation  a TestSet with the explainer's maps (the headline map and any component maps) and its costs
    Scores       what evaluation measured: flat `metrics` and the faithfulness `curves` behind them
    Narration    the narratives, the regions each talks about (what the report draws) and the text scores

Each value lives on one device (the explanation device); the report moves what it writes to the CPU.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from tsexplain.data.meta import DataMeta
from tsexplain.evaluate.timing import Timing
from tsexplain.explain.base import Explainer, TrainerFactory
from tsexplain.tasks import Task, task_for
from tsexplain.utils.tensors import batched_forward, device_of, take

log = logging.getLogger(__name__)


@dataclass
class TestSet:
    """The test samples a run explains (the first `max_samples`), with what the black box made of them."""

    __test__ = False  # not a pytest class

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    mask: torch.Tensor | None
    pred: torch.Tensor
    target: torch.Tensor
    meta: DataMeta

    @property
    def task(self) -> Task:
        return task_for(self.meta)

    def __len__(self) -> int:
        return len(self.x)

    def take(self, n: int | None) -> TestSet:
        """The first `n` samples."""
        x, y, index, mask, pred, target = take(n, self.x, self.y, self.index, self.mask, self.pred, self.target)
        return replace(self, x=x, y=y, index=index, mask=mask, pred=pred, target=target)

    def with_inputs(self, x: torch.Tensor) -> TestSet:
        """The same samples and targets with other inputs (noise for the robustness study)."""
        return replace(self, x=x)

    def predictions(self, n: int | None = None) -> list[int | float]:
        """The predictions as plain numbers (class index, or value for regression), as the narratives get them."""
        return [self.task.prediction_value(p) for p in take(n, self.pred).cpu()]


def explained_samples(data, blackbox: nn.Module, max_samples: int | None = None, target: str = "pred") -> TestSet:
    """The first `max_samples` test samples of `data` on the black box's device, with its predictions and the
    targets to explain (`target`: `pred` or, for multiclass, `label`)."""
    arrays = data.split_arrays("test")
    n = None if max_samples is None else int(max_samples)
    device = device_of(blackbox)
    x, y, index, mask = take(n, arrays["x"], arrays["y"], arrays["index"], arrays.get("mask"))
    x = x.to(device)
    task = task_for(data.meta)
    outputs = batched_forward(blackbox, x)
    return TestSet(x=x, y=y.to(device), index=index.to(device), mask=None if mask is None else mask.to(device),
                   pred=task.predict(outputs), target=task.explained_target(outputs, y, target), meta=data.meta)


@dataclass
class Explanation:
    """What the explainer found on a TestSet: the headline `saliency` [N, C, T] and any component `maps`."""

    test: TestSet
    saliency: torch.Tensor
    maps: dict[str, torch.Tensor] = field(default_factory=dict)
    ms_per_instance: float = float("nan")
    fit_s: float = 0.0

    def arrays(self) -> dict[str, np.ndarray]:
        """What `saliency.npz` holds: sample index, map [N, C, T], target, prediction, label, GT mask if any, and
        each component map as `map_<name>`."""
        t = self.test
        arrays = {"index": t.index.cpu().numpy(), "saliency": self.saliency.cpu().numpy().astype(np.float32),
                  "target": t.target.cpu().numpy(), "prediction": t.pred.cpu().numpy(), "label": t.y.cpu().numpy()}
        if t.mask is not None:
            arrays["mask"] = t.mask.cpu().numpy()
        for name, m in self.maps.items():
            arrays[f"map_{name}"] = m.cpu().numpy().astype(np.float32)
        return arrays


@dataclass
class Scores:
    """Evaluation's output: `metrics` (flat, as in metrics.json) and the faithfulness `curves` per map."""

    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Narration:
    """Narratives of the first samples: one record each, the regions each talks about, and BLEU/ROUGE."""

    records: list[dict] = field(default_factory=list)
    regions: list[list] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


def fit_explainer(explainer: Explainer, blackbox: nn.Module, data, trainers: TrainerFactory | None = None) -> float:
    """Step 4: fit the explainer (a no-op for post-hoc ones); returns the seconds it took."""
    t0 = time.perf_counter()
    explainer.fit(blackbox, data, trainers)
    return time.perf_counter() - t0


def explain(explainer: Explainer, test: TestSet, timing: Timing | None = None, fit_s: float = 0.0) -> Explanation:
    """Step 5: attribute every sample of `test` (timed, synchronised) and read the explainer's component maps."""
    timing = timing or Timing()
    saliency, ms = timing(lambda x: explainer.attribute(x, test.target[: len(x)]), test.x)
    maps = {k: v.detach() for k, v in explainer.maps(test.x, test.target).items()} if explainer.has_maps else {}
    return Explanation(test=test, saliency=saliency, maps=maps, ms_per_instance=ms, fit_s=fit_s)
