"""Robustness of explanations to input noise: a seeded perturbation and metric deltas versus σ = 0."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from tsexplain.utils import progress


def perturb(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """`x + sigma · std_c · ε`, ε ~ N(0, 1) drawn from `seed`; std_c is channel c's std over samples and time.

    Noise is drawn on the CPU, so the same seed gives the same perturbation on every device.
    """
    if x.ndim != 3:
        raise ValueError(f"perturb expects x of shape [N, C, T]; got {tuple(x.shape)}.")
    if sigma < 0:
        raise ValueError(f"sigma must be ≥ 0 (a fraction of each channel's std); got {sigma}.")
    if sigma == 0:
        return x.clone()
    std = x.detach().float().std(dim=(0, 2), keepdim=True)  # [1, C, 1]
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float32).to(x.device)
    return x + (sigma * std * noise).to(x.dtype)


def deltas_vs_clean(
    metrics_by_sigma: Mapping[float, Mapping[str, float]],
) -> dict[float, dict[str, float]]:
    """For each σ, every numeric metric minus its value at σ = 0 (keys present at both)."""
    if 0 not in metrics_by_sigma:
        raise ValueError(
            f"metrics_by_sigma has σ = {sorted(metrics_by_sigma)} but no 0; include the clean run (σ = 0)."
        )
    clean = metrics_by_sigma[0]
    out: dict[float, dict[str, float]] = {}
    for sigma, metrics in metrics_by_sigma.items():
        out[sigma] = {
            k: float(v) - float(clean[k])
            for k, v in metrics.items()
            if k in clean and isinstance(v, int | float) and isinstance(clean[k], int | float)
        }
    return out


class Robustness:
    """The robustness study (`evaluation.robustness_sigmas`): re-explain the inputs under Gaussian noise σ and report
    each score's change against σ = 0 as `robust/sigma<σ>/delta_<score>`."""

    def __init__(self, sigmas: Sequence[float] = (), seed: int = 0) -> None:
        if any(float(s) < 0 for s in sigmas):
            raise ValueError(f"evaluation.robustness_sigmas={list(sigmas)} must all be ≥ 0.")
        self.sigmas, self.seed = [float(s) for s in sigmas], int(seed)

    def __call__(self, x: torch.Tensor, score: Callable[[torch.Tensor], Mapping[str, float]]) -> dict[str, float]:
        """`score(noisy_x)` re-explains and scores the noisy inputs; its metrics per σ become deltas."""
        if not self.sigmas:
            return {}
        by_sigma = {sigma: dict(score(perturb(x, sigma, seed=self.seed)))
                    for sigma in progress.track([0.0, *self.sigmas], "robustness", unit="σ")}
        out = {}
        for sigma, deltas in deltas_vs_clean(by_sigma).items():
            if sigma == 0:
                continue
            for k, v in deltas.items():
                out[f"robust/sigma{sigma:g}/delta_{k.split('/', 1)[-1]}"] = v
        return out
