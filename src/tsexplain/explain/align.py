"""Bring a map onto another's time axis: DTW (tslearn, Sakoe–Chiba band) on the maps' time profiles.

The first `tslearn.metrics.dtw_path` call in a process JIT-compiles (~7 s on 2 cores): call `warmup()`
once before timing anything that aligns.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from tslearn.metrics import dtw_path

from tsexplain.utils import progress
from tsexplain.utils.tensors import minmax_per_sample

Align = Literal["dtw", "none"]


def warmup() -> None:
    """Trigger tslearn's one-off JIT compilation so it does not land in a timed loop."""
    dtw_path(np.arange(3.0), np.arange(3.0), global_constraint="sakoe_chiba", sakoe_chiba_radius=1)


def _minmax(v: np.ndarray) -> np.ndarray:
    return minmax_per_sample(v[None])[0]


def dtw_time_path(moving: np.ndarray, reference: np.ndarray, radius: int | None) -> list[tuple[int, int]]:
    """DTW path `[(i_moving, j_reference), ...]` between two 1-D profiles (min–max scaled first)."""
    kw = {} if radius is None else {"global_constraint": "sakoe_chiba", "sakoe_chiba_radius": int(radius)}
    path, _ = dtw_path(_minmax(moving), _minmax(reference), **kw)
    return path


def warp_along_path(moving: np.ndarray, path: list[tuple[int, int]], length: int) -> np.ndarray:
    """`[C, T]` map re-indexed to the reference axis: value at j = mean of moving[:, i] over path pairs (i, j)."""
    i, j = np.asarray(path).T
    out = np.zeros((moving.shape[0], length), dtype=np.float64)
    np.add.at(out.T, j, moving[:, i].T)
    return out / np.bincount(j, minlength=length)  # a DTW path visits every j at least once


def align_maps(
    reference: torch.Tensor, moving: torch.Tensor, align: Align = "dtw", sakoe_chiba_radius: int | None = 10
) -> torch.Tensor:
    """Warp `moving [B, C, T]` onto `reference [B, C, T]` along time (per sample); `align="none"` is identity.

    The time profile of each map is its mean over channels; `sakoe_chiba_radius=None` removes the band.
    """
    if align == "none":
        return moving
    if align != "dtw":
        raise ValueError(f"align={align!r} is unknown; use 'dtw' or 'none'.")
    if reference.shape != moving.shape:
        raise ValueError(
            f"align_maps needs maps of one shape; got {tuple(reference.shape)} and {tuple(moving.shape)}. "
            "Bring both to [B, C, T] first."
        )
    ref = reference.detach().double().cpu().numpy()
    mov = moving.detach().double().cpu().numpy()
    out = np.empty_like(mov)
    for b in progress.track(range(len(mov)), "DTW alignment", unit="map"):
        path = dtw_time_path(mov[b].mean(0), ref[b].mean(0), sakoe_chiba_radius)
        out[b] = warp_along_path(mov[b], path, mov.shape[-1])
    return torch.as_tensor(out, dtype=moving.dtype, device=moving.device)
