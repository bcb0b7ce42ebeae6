"""The tensor helpers every stage and explainer shares: freeze a model, run it batched, the default target,
per-sample min–max, the first n rows. One copy each, so a fix lands everywhere."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from tsexplain.tasks import task_of

A = TypeVar("A", torch.Tensor, np.ndarray)


def device_of(model: nn.Module) -> torch.device:
    """Where a model's parameters live (CPU for a parameter-free module)."""
    return next(model.parameters(), torch.empty(0)).device


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and `requires_grad=False` inside the block; the flags, the mode and the device are restored after
    (a Lightning fit of a module holding `model` may move it)."""
    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    device = device_of(model)
    model.eval().requires_grad_(False)
    try:
        yield model
    finally:
        for p, f in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(f)
        model.to(device).train(was_training)


def batched(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """`fn` over aligned slices of `tensors` of `batch_size` rows, concatenated."""
    n = len(tensors[0])
    return torch.cat([fn(*(t[i : i + batch_size] for t in tensors)) for i in range(0, n, batch_size)])


@torch.no_grad()
def batched_forward(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                    batch_size: int = 256) -> torch.Tensor:
    """The model's outputs for `x`, batched, without autograd."""
    return batched(model, x, batch_size=batch_size)


@torch.no_grad()
def default_target(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The output index to explain when none is given (the model's task decides: the predicted class, or 0)."""
    return task_of(model).default_target(batched_forward(model, x, batch_size))


def minmax_per_sample(a: A, constant: float = 0.0, eps: float = 0.0) -> A:
    """Each sample (row of the first axis) min–max scaled over all its other axes to [0, 1]; a sample whose span
    is at most `eps` becomes `constant` everywhere (never NaN). numpy in, float64 numpy out; torch in, torch out."""
    if isinstance(a, torch.Tensor):
        flat = a.reshape(len(a), -1)
        lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
        span = hi - lo
        out = torch.where(span > eps, (flat - lo) / span.clamp_min(max(eps, 1e-30)), torch.full_like(flat, constant))
        return out.reshape(a.shape)
    flat = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    lo = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - lo
    out = np.divide(flat - lo, span, out=np.full_like(flat, constant), where=span > eps)
    return out.reshape(np.shape(a))


def take(n: int | None, *tensors):
    """The first `n` rows of each tensor (all with `n=None`; None stays None)."""
    out = tuple(None if t is None else (t if n is None else t[:n]) for t in tensors)
    return out[0] if len(out) == 1 else out
