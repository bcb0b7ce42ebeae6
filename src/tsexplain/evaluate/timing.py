"""Wall-clock cost of an explainer: milliseconds per instance, with GPU work synchronised."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def _sync(x: torch.Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def time_per_instance(fn: Callable[[torch.Tensor], object], x: torch.Tensor, repeats: int = 3,
                      warmup: int = 1, warmup_samples: int | None = None) -> dict[str, float]:
    """Time `fn(x)` over `repeats` calls after `warmup` untimed ones; returns ms_per_instance and total_s.

    `total_s` is the timed wall time of all repeats; `ms_per_instance` = total_s / (repeats · N) · 1000.
    `warmup_samples`: warm up on the first that many instances only (JIT compilation and lazy set-up need one
    small call, not a whole pass). The last timed call's result is under `output`.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats ≥ 1 and warmup ≥ 0 (got {repeats}, {warmup}); e.g. repeats=3, warmup=1.")
    if len(x) == 0:
        raise ValueError("x is empty; time at least one instance.")
    for _ in range(warmup):
        fn(x if warmup_samples is None else x[:warmup_samples])
    _sync(x)
    start = time.perf_counter()
    for _ in range(repeats):
        output = fn(x)
    _sync(x)
    total = time.perf_counter() - start
    return {"ms_per_instance": total / (repeats * len(x)) * 1000.0, "total_s": total,
            "n_instances": len(x), "repeats": repeats, "output": output}


class Timing:
    """How the explanation step times an explainer (`evaluation.timing`): one synchronised pass over the explained
    samples after a warm-up on the first `warmup_samples`, whose maps are the run's maps (no extra pass)."""

    def __init__(self, warmup_samples: int = 2, repeats: int = 1) -> None:
        if warmup_samples < 0 or repeats < 1:
            raise ValueError(f"evaluation.timing: warmup_samples={warmup_samples} must be ≥ 0 and repeats={repeats} "
                             "≥ 1.")
        self.warmup_samples, self.repeats = warmup_samples, repeats

    def __call__(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """`(fn(x), milliseconds per instance)`."""
        out = time_per_instance(fn, x, repeats=self.repeats, warmup=1 if self.warmup_samples else 0,
                                warmup_samples=self.warmup_samples)
        return out["output"], out["ms_per_instance"]
