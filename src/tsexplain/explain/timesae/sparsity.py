"""Sparsifying activations for TimeSAE: JumpReLU (learned thresholds) and TopK with a γ-annealed k.

Both map encoder pre-activations `[B, d]` to non-negative concept activations `[B, d]`, track how often
each latent fires (dead-latent window, firing frequency) and return their own sparsity penalty.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------------------------
# Straight-through estimators with a rectangle kernel (Rajamanoharan et al. 2024, arXiv 2407.14435)
# torch has no JumpReLU/Heaviside with pseudo-derivatives w.r.t. the threshold, hence these Functions.
# ----------------------------------------------------------------------------------------------


def rectangle(u: torch.Tensor) -> torch.Tensor:
    """K(u) = 1[|u| < 1/2]."""
    return (u.abs() < 0.5).to(u.dtype)


class JumpReLUFunction(torch.autograd.Function):
    """f = pre·H(pre − θ); ∂f/∂pre = H(pre − θ); ∂f/∂θ = −(θ/ε)·K((pre − θ)/ε)."""

    @staticmethod
    def forward(ctx, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        pre, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_pre = grad_out * (pre > threshold).to(pre.dtype)
        grad_theta = -(threshold / eps) * rectangle((pre - threshold) / eps) * grad_out
        grad_theta = grad_theta.sum_to_size(threshold.shape)
        return grad_pre, grad_theta, None


class HeavisideSTE(torch.autograd.Function):
    """H(pre − θ); ∂H/∂pre = 0; ∂H/∂θ = −(1/ε)·K((pre − θ)/ε). Used by the L0 penalty."""

    @staticmethod
    def forward(ctx, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        pre, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_theta = -(1.0 / eps) * rectangle((pre - threshold) / eps) * grad_out
        return torch.zeros_like(pre), grad_theta.sum_to_size(threshold.shape), None


def jumprelu(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    return JumpReLUFunction.apply(pre, threshold, bandwidth)


def heaviside_step(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    return HeavisideSTE.apply(pre, threshold, bandwidth)


# ----------------------------------------------------------------------------------------------
# Decoder-scale handling (Gao et al. 2024): unit-norm dictionary columns.
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def remove_parallel_grad_(weight: torch.Tensor) -> None:
    """Remove from `weight.grad` the component parallel to each column (dim 0 indexes the features)."""
    if weight.grad is None:
        return
    w = weight / weight.norm(dim=0, keepdim=True).clamp_min(1e-8)
    weight.grad -= (weight.grad * w).sum(0, keepdim=True) * w


@torch.no_grad()
def normalize_columns_(weight: torch.Tensor) -> None:
    """Rescale every column of `weight` ([features, n_latents]) to unit L2 norm, in place."""
    weight /= weight.norm(dim=0, keepdim=True).clamp_min(1e-8)


# ----------------------------------------------------------------------------------------------
# Sparsity modules
# ----------------------------------------------------------------------------------------------


class Sparsity(nn.Module):
    """Shared bookkeeping: steps since each latent last fired (dead window) and firing counts per epoch."""

    #: whether the dictionary columns are kept at unit norm after each optimiser step
    unit_norm_decoder: bool = False

    def __init__(self, d_latent: int, dead_window: int = 100, k_aux: int = 32, aux_coef: float = 0.0) -> None:
        super().__init__()
        self.k_aux, self.aux_coef = k_aux, aux_coef
        if d_latent < 1:
            raise ValueError(f"d_latent={d_latent} must be ≥ 1; raise explainer.module.r.")
        self.d_latent = d_latent
        self.dead_window = dead_window
        self.register_buffer("steps_since_fired", torch.zeros(d_latent, dtype=torch.long))
        self.register_buffer("fire_count", torch.zeros(d_latent, dtype=torch.long))
        self.register_buffer("n_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update_stats(self, c: torch.Tensor) -> None:
        """Call once per training step with the activations `[B, d]`."""
        fired = (c > 0).any(0)
        self.steps_since_fired += 1
        self.steps_since_fired[fired] = 0
        self.fire_count += (c > 0).sum(0)
        self.n_seen += c.shape[0]
        self.step += 1

    def dead_mask(self) -> torch.Tensor:
        """Latents that have not fired in the last `dead_window` training steps."""
        return self.steps_since_fired > self.dead_window

    @torch.no_grad()
    def pop_firing_frequency(self) -> torch.Tensor:
        """Firing frequency per latent since the last call (fraction of samples), then reset the counts."""
        freq = self.fire_count.float() / self.n_seen.clamp_min(1).float()
        self.fire_count.zero_()
        self.n_seen.zero_()
        return freq

    def sparsity_loss(
        self, pre: torch.Tensor, c: torch.Tensor, residual: torch.Tensor, dictionary: torch.Tensor
    ) -> torch.Tensor:
        """The sparsity term s(E(x)): `residual [B, F]` = x − x̂, `dictionary [F, d]` = first-order atoms."""
        raise NotImplementedError

    def near_threshold_fraction(self, pre: torch.Tensor) -> float:
        return float("nan")

    @property
    def l0_target(self) -> float | None:
        """The L0 this sparsity aims at (None: no target), checked by the health gate."""
        return None

    def aux_loss(self, pre: torch.Tensor, residual: torch.Tensor, dictionary: torch.Tensor) -> torch.Tensor:
        """AuxK (Gao et al. 2024): reconstruct the (detached) residual `[B, F]` from the top-k_aux *dead* latents'
        ReLU'd pre-activations, so a latent that stopped firing still gets a gradient towards being useful.

        `dictionary` is `[F, d]` (columns = first-order atoms). Zero when no latent is dead or `aux_coef` is 0.
        Normalised MSE as in openai/sparse_autoencoder, times `aux_coef`.
        """
        if not self.aux_coef:
            return pre.new_zeros(())
        dead = self.dead_mask()
        n_dead = int(dead.sum())
        if n_dead == 0:
            return pre.new_zeros(())
        k_aux = min(self.k_aux, n_dead)
        act = F.relu(pre).masked_fill(~dead, float("-inf"))
        vals, idx = act.topk(k_aux, dim=-1)
        vals = vals.clamp_min(0)  # rows whose dead pre-activations are all ≤ 0 contribute nothing
        c_aux = torch.zeros_like(pre).scatter(-1, idx, vals)
        recon = c_aux @ dictionary.t()
        target = residual.detach()
        denom = (target - target.mean(0, keepdim=True)).pow(2).sum(-1).mean().clamp_min(1e-8)
        loss = (recon - target).pow(2).sum(-1).mean() / denom
        return self.aux_coef * torch.nan_to_num(loss, nan=0.0)


class JumpReLU(Sparsity):
    """JumpReLU_θ(pre) = pre·H(pre − θ) with a learnable log-threshold per latent.

    Sparsity term: with `target_l0` (default), (L0/target_l0 − 1)² on the batch-mean L0 (dictionary_learning's
    `JumpReluTrainer`), so the codes are held near a chosen sparsity instead of being pushed towards zero by a
    coefficient whose meaning changes with d; with `target_l0=None`, the plain mean L0 of the paper's Eq. 2.
    The decoder columns are kept at unit norm (as in dictionary_learning), so shrinking the codes while growing
    the dictionary cannot fake sparsity. ε = `bandwidth`; SAELens' θ_init 0.01, ε 0.05 (the paper's
    0.001/0.001 need very many steps, REFERENCE §4).
    """

    unit_norm_decoder = True

    def __init__(
        self,
        d_latent: int,
        theta_init: float = 0.01,
        bandwidth: float = 0.05,
        target_l0: float | None = None,
        dead_window: int = 100,
        k_aux: int = 32,
        aux_coef: float = 0.0,
    ) -> None:
        super().__init__(d_latent, dead_window, k_aux, aux_coef)
        if theta_init <= 0 or bandwidth <= 0:
            raise ValueError(
                f"JumpReLU needs theta_init > 0 and bandwidth > 0; got {theta_init}, {bandwidth}. "
                "Use e.g. theta_init=0.01, bandwidth=0.05 (SAELens defaults)."
            )
        if target_l0 is not None and not 0 < target_l0 <= d_latent:
            raise ValueError(
                f"JumpReLU target_l0={target_l0} must lie in (0, d={d_latent}]; lower "
                "explainer.module.sparsity.target_l0 or set it to null for the plain L0 penalty."
            )
        self.bandwidth = float(bandwidth)
        self.target_l0 = None if target_l0 is None else float(target_l0)
        self.log_threshold = nn.Parameter(torch.full((d_latent,), math.log(theta_init)))

    @property
    def l0_target(self) -> float | None:
        return self.target_l0

    @property
    def threshold(self) -> torch.Tensor:
        return self.log_threshold.exp()

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        return jumprelu(pre, self.threshold, self.bandwidth)

    def l0(self, pre: torch.Tensor) -> torch.Tensor:
        """Per-latent Heaviside `[B, d]` with straight-through gradients to θ."""
        return heaviside_step(pre, self.threshold, self.bandwidth)

    def sparsity_loss(
        self, pre: torch.Tensor, c: torch.Tensor, residual: torch.Tensor, dictionary: torch.Tensor
    ) -> torch.Tensor:
        """(L0/target_l0 − 1)² with `target_l0`, else the mean L0 (gradients reach θ through the STE), plus AuxK
        with `aux_coef` > 0: on noise-dominated data (LowVar) the latents were switched off within the first steps
        and, below θ, got no gradient back (97.5 % dead, L0 1.7 for a target of 8)."""
        l0 = self.l0(pre).sum(-1).mean()
        penalty = l0 if self.target_l0 is None else (l0 / self.target_l0 - 1.0).pow(2)
        return penalty + self.aux_loss(pre, residual, dictionary)

    @torch.no_grad()
    def near_threshold_fraction(self, pre: torch.Tensor) -> float:
        """Fraction of pre-activations within ε/2 of θ: only those give θ a gradient."""
        return float(((pre - self.threshold).abs() < self.bandwidth / 2).float().mean())


def gamma_linear(step: int, anneal_steps: int, gamma_max: float) -> float:
    """γ(t) = γ_max − (t/T)(γ_max − 1), clamped at 1 once t ≥ T (paper Eq. 19, without its rounding)."""
    if anneal_steps <= 0:
        return 1.0
    p = min(max(step, 0) / anneal_steps, 1.0)
    return max(1.0, gamma_max - p * (gamma_max - 1.0))


class TopK(Sparsity):
    """Keep the k_t largest ReLU'd pre-activations per sample; AuxK revives dead latents.

    γ schedule — one reading, chosen because the paper gives two that disagree: Eq. 19 (App. B.8) is a
    linear, integer-rounded γ(t) from γ_max down to 1, while the B.12 pseudo-code decays γ exponentially and
    applies it as `clamp(γ·topk_mask, max=1)`, which is a no-op for every γ ≥ 1 (the mask is 0/1), so the
    pseudo-code's γ never changes the selection. We anneal the *number kept*: k_t = round(γ(t)·k) with the
    linear γ(t) of Eq. 19 (rounding applied to k_t, not γ), reaching exactly k after `anneal_steps`, as in
    dictionary_learning's `k_anneal_steps` (REFERENCE §4).
    """

    unit_norm_decoder = True

    def __init__(
        self,
        d_latent: int,
        k: int = 8,
        gamma_max: float = 10.0,
        anneal_steps: int | None = None,
        anneal_fraction: float = 0.5,
        k_aux: int = 32,
        aux_coef: float = 1.0 / 32.0,
        dead_window: int = 100,
    ) -> None:
        super().__init__(d_latent, dead_window, k_aux, aux_coef)
        if not 1 <= k <= d_latent:
            raise ValueError(f"TopK k={k} must lie in [1, d={d_latent}]; lower explainer.module.sparsity.k.")
        if gamma_max < 1:
            raise ValueError(f"gamma_max={gamma_max} must be ≥ 1 (γ anneals down to 1).")
        self.k = k
        self.gamma_max = float(gamma_max)
        self.anneal_steps = anneal_steps
        self.anneal_fraction = anneal_fraction

    @property
    def l0_target(self) -> float:
        return float(self.k)

    def k_at(self, step: int) -> int:
        steps = self.anneal_steps or 0
        return int(min(self.d_latent, max(self.k, round(gamma_linear(step, steps, self.gamma_max) * self.k))))

    def current_k(self) -> int:
        return self.k_at(int(self.step)) if self.training else self.k

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        act = F.relu(pre)
        vals, idx = act.topk(self.current_k(), dim=-1)
        return torch.zeros_like(act).scatter(-1, idx, vals)

    def sparsity_loss(
        self, pre: torch.Tensor, c: torch.Tensor, residual: torch.Tensor, dictionary: torch.Tensor
    ) -> torch.Tensor:
        """L0 is fixed at k_t, so a TopK SAE's sparsity term is the AuxK loss (revives dead latents)."""
        return self.aux_loss(pre, residual, dictionary)
