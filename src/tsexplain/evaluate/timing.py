"""Wall-clock cost of an explainer: milliseconds per instance, with GPU work synchronised."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def _sync(x: torch.Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def time_per_instance(fn: Callable[[torch.Tensor], object], x: torch.Tensor, repeats: int = 3,
                      warmup: int = 1) -> dict[str, float]:
    """Time `fn(x)` over `repeats` calls after `warmup` untimed ones; returns ms_per_instance and total_s.

    `total_s` is the timed wall time of all repeats; `ms_per_instance` = total_s / (repeats · N) · 1000.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats ≥ 1 and warmup ≥ 0 (got {repeats}, {warmup}); e.g. repeats=3, warmup=1.")
    if len(x) == 0:
        raise ValueError("x is empty; time at least one instance.")
    for _ in range(warmup):
        fn(x)
    _sync(x)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    _sync(x)
    total = time.perf_counter() - start
    return {"ms_per_instance": total / (repeats * len(x)) * 1000.0, "total_s": total,
            "n_instances": len(x), "repeats": repeats}
