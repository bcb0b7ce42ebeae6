"""Dynamask (Crabbé & van der Schaar, ICML 2021): a per-instance mask m ∈ [0, 1]^{C×T} learned by gradient descent.

Written here because no maintained library has it (tint, which had a port, is unmaintained; captum has none).
Follows the paper and its public code (JonathanCrabbe/Dynamask, `attribution/mask_group.py`): the perturbation
blurs each entry with a Gaussian whose width grows as its mask value falls (σ = σ_max (1 + ε − m)); the loss is
the preservation error of the explained output + λ_a‖sort(m) − r_a‖² (the area regulariser: exactly a fraction a of
the entries at 1, its weight dilated ×δ over the optimisation) + λ_c·(mean |m_t − m_{t−1}|); SGD with momentum,
m clamped to [0, 1] after each step. A group of masks, one per area in `areas`, is fitted at once, and each
instance's map is its *extremal* mask (the reference's `get_extremal_mask`): the smallest area whose preservation
error stays within `threshold` of the unperturbed input's — for classifiers a drop of the target's log-probability of
at most `threshold` (0.1: the perturbed input keeps ≥ 90 % of p), for regression a squared change of the target
output of at most `threshold` × its value² — and the largest area when none does.

Batched: the masks of every instance and area are one tensor [A, B, C, T] and the loss a sum of per-instance terms,
so each instance's optimisation is exactly the per-instance one of the reference code, only vectorised; nothing in it
is random (the masks start at a constant), so no seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tsexplain.explain.base import Explainer
from tsexplain.tasks import Regression, task_of
from tsexplain.utils.tensors import frozen


def gaussian_blur(x: torch.Tensor, mask: torch.Tensor, sigma_max: float, eps: float = 1e-7) -> torch.Tensor:
    """Dynamask's Gaussian-blur perturbation: entry (c, t) becomes a Gaussian average over time of channel c with
    width σ_max (1 + ε − m[c, t]); m = 1 keeps it (σ ≈ 0), m = 0 blurs it most. x [B, C, T], mask [..., B, C, T]."""
    t = x.shape[-1]
    axis = torch.arange(t, device=x.device, dtype=x.dtype)
    sigma = (sigma_max * ((1 + eps) - mask)).unsqueeze(-2)  # [..., B, C, 1, T]: one width per output time
    dist2 = (axis[:, None] - axis[None, :]) ** 2  # [T_src, T_out]
    weights = torch.exp(-dist2 / (2.0 * sigma**2))  # [..., B, C, T_src, T_out]
    weights = weights / weights.sum(-2, keepdim=True)
    return torch.einsum("...bcst,bcs->...bct", weights, x)


class Dynamask(Explainer):
    """Dynamask baseline: learned perturbation masks, one optimisation per instance (batched)."""

    name = "dynamask"

    def __init__(
        self,
        areas: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.5),
        n_epochs: int = 500,
        lr: float = 0.1,
        momentum: float = 0.9,
        initial_mask_coeff: float = 0.5,
        size_reg_init: float = 0.5,
        size_reg_dilation: float = 100.0,
        time_reg: float = 0.0,
        sigma_max: float = 2.0,
        threshold: float = 0.1,
        batch_size: int = 16,
    ) -> None:
        super().__init__(batch_size=batch_size)
        areas = sorted(float(a) for a in areas)
        if not areas or areas[0] <= 0 or areas[-1] > 1:
            raise ValueError(f"explainer.areas={list(areas)} must be fractions in (0, 1], e.g. [0.05, 0.1, 0.2].")
        if int(n_epochs) < 1 or lr <= 0 or sigma_max <= 0 or size_reg_dilation <= 0:
            raise ValueError(f"explainer.n_epochs={n_epochs}, lr={lr}, sigma_max={sigma_max} and "
                             f"size_reg_dilation={size_reg_dilation} must be positive.")
        if threshold <= 0:
            raise ValueError(f"explainer.threshold={threshold} must be > 0: the preservation error an extremal mask "
                             "may add (0.1: keep at least ~90 % of the target's probability).")
        self.areas, self.n_epochs, self.lr, self.momentum = areas, int(n_epochs), float(lr), float(momentum)
        self.initial_mask_coeff, self.size_reg_init = float(initial_mask_coeff), float(size_reg_init)
        self.size_reg_dilation, self.time_reg = float(size_reg_dilation), float(time_reg)
        self.sigma_max, self.threshold = float(sigma_max), float(threshold)

    def _error(self, out: torch.Tensor, clean: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-(area, instance) preservation error of the explained output: −log p(target) for classifiers (the
        reference code's log-loss with the target), squared change of the target output for regression."""
        idx = target.expand(out.shape[:-1]).unsqueeze(-1)
        if isinstance(task_of(self.blackbox), Regression):
            return (out.gather(-1, idx) - clean.gather(-1, target[:, None]))[..., 0] ** 2
        probs = task_of(self.blackbox).probabilities(out)
        return -torch.log(probs.gather(-1, idx)[..., 0].clamp_min(1e-12))

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        model = self.blackbox
        a, (b, c, t) = len(self.areas), x.shape
        with torch.no_grad():
            clean = model(x)
        n = c * t
        # r_a: the sorted reference of each area, (1 − a)·n zeros then ones (the paper's area constraint)
        ref = torch.ones(a, n, device=x.device, dtype=x.dtype)
        for i, area in enumerate(self.areas):
            ref[i, : int((1 - area) * n)] = 0.0
        mask = torch.full((a, b, c, t), self.initial_mask_coeff, device=x.device, dtype=x.dtype, requires_grad=True)
        opt = torch.optim.SGD([mask], lr=self.lr, momentum=self.momentum)
        grow = self.size_reg_dilation ** (1.0 / self.n_epochs)
        reg = self.size_reg_init
        with frozen(model), torch.enable_grad():  # the black box is only called: no gradients accumulate in it
            for _ in range(self.n_epochs):
                out = model(gaussian_blur(x, mask, self.sigma_max).reshape(a * b, c, t)).reshape(a, b, -1)
                error = self._error(out, clean, target)  # [A, B]
                size = ((ref[:, None] - mask.reshape(a, b, n).sort(-1).values) ** 2).mean(-1)
                smooth = (mask[..., 1:] - mask[..., :-1]).abs().mean((-1, -2))
                loss = (error + reg * size + self.time_reg * smooth).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    mask.clamp_(0.0, 1.0)
                reg *= grow
        with torch.no_grad():
            out = model(gaussian_blur(x, mask, self.sigma_max).reshape(a * b, c, t)).reshape(a, b, -1)
            error = self._error(out, clean, target)  # [A, B], areas ascending
            base = self._error(clean[None], clean, target)[0]  # [B]: 0 for regression, −log p(target) otherwise
        return mask.detach()[self._extremal(error, base, clean, target), torch.arange(b, device=x.device)]

    def _extremal(self, error: torch.Tensor, base: torch.Tensor, clean: torch.Tensor,
                  target: torch.Tensor) -> torch.Tensor:
        """Per instance, the index of the smallest area whose error is within the tolerance (else the largest)."""
        if isinstance(task_of(self.blackbox), Regression):
            tolerance = self.threshold * clean.gather(-1, target[:, None])[:, 0] ** 2
        else:
            tolerance = torch.full_like(base, self.threshold)
        ok = error <= base + tolerance
        ok[-1] = True  # no area within tolerance: the largest
        return ok.float().argmax(0)  # the first True along the ascending areas

