"""TimeSAE loss terms (paper Eq. 2, 8, 9, 10), one function each; all return a scalar (mean over the batch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _LimitGrad(torch.autograd.Function):
    """Identity forward; backward rescales each sample's gradient to at most `ref [B]` in L2 norm."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(ref)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (ref,) = ctx.saved_tensors
        norm = grad.flatten(1).norm(dim=-1).clamp_min(1e-12)
        scale = (ref / norm).clamp(max=1.0)
        return grad * scale.reshape(-1, *([1] * (grad.ndim - 1))), None


def limit_grad(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """`x` unchanged, but the gradient that reaches it through this call is capped per sample at `ref [B]`.

    Used on the decoded series that the black box sees (L_fid, L_cf): input gradients of a strong classifier are
    orders of magnitude larger than the reconstruction's, and even a hinge at weight 1, started after a healthy
    half of training, took SeqComb-UV's FVU from 0.6 to 1.1–1.3. Capped at a fraction of the reconstruction
    gradient's norm they steer the reconstruction without outweighing it (gradient balancing, cf. GradNorm).
    """
    return _LimitGrad.apply(x, ref.detach())


def reconstruction(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """‖x − g(E(x))‖² summed over (C, T), mean over the batch (inputs normalised to E‖x‖² = 1)."""
    return (x - x_hat).pow(2).flatten(1).sum(-1).mean()


def fvu(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Fraction of variance unexplained: Σ‖x − x̂‖² / Σ‖x − mean_batch(x)‖²."""
    return (x - x_hat).pow(2).sum() / (x - x.mean(0, keepdim=True)).pow(2).sum().clamp_min(1e-12)


def warmup(coef: float, step: int, warmup_steps: int) -> float:
    """Linear warm-up of a loss weight from 0 to `coef` over `warmup_steps` (REFERENCE §4)."""
    if warmup_steps <= 0:
        return coef
    return coef * min(1.0, step / warmup_steps)


def sparsity(penalty: torch.Tensor, coef: float, step: int, warmup_steps: int) -> torch.Tensor:
    """η_t · s(E(x)) with η warmed up linearly."""
    return warmup(coef, step, warmup_steps) * penalty


def outputs_to_probs(out: torch.Tensor, task: str) -> torch.Tensor:
    """Softmax (multiclass), sigmoid (multilabel) or identity (regression)."""
    if task == "multiclass":
        return out.softmax(-1)
    if task == "multilabel":
        return out.sigmoid()
    return out


def label_fidelity(f_x: torch.Tensor, f_xhat: torch.Tensor, task: str) -> torch.Tensor:
    """‖f(x) − f(g(E(x)))‖² on *probabilities* (softmax/sigmoid; raw outputs for regression): the paper's
    label-fidelity measure, bounded. `f_x` is the target and is detached."""
    p, q = outputs_to_probs(f_x.detach(), task), outputs_to_probs(f_xhat, task)
    return (p - q).pow(2).sum(-1).mean()


def fidelity_loss(f_x: torch.Tensor, f_xhat: torch.Tensor, task: str, margin: float = 1.0) -> torch.Tensor:
    """The label-fidelity *training* term: f must give x̂ the label it gives x, by a logit `margin` — a multiclass
    hinge max(0, max_{k≠y} z_k − z_y + margin) with y = argmax f(x); per label for multilabel; MSE for regression.

    Why not a distance between output distributions: matching a saturated softmax needs extreme logits, which a
    strong black box grants to off-manifold, adversarial reconstructions (SeqComb-UV, resnet_tf: KL took label
    fidelity to 0.03 at FVU 1.10, worse than the mean), and the squared probability gap's gradient vanishes once
    a reconstruction is labelled confidently wrong (fidelity stayed at 0.77–0.93). The hinge is zero as soon as
    the label holds with the margin, so it asks no more of the reconstruction than the label.
    """
    t = f_x.detach()
    if task == "multiclass":
        y = t.argmax(-1, keepdim=True)
        z_y = f_xhat.gather(1, y).squeeze(1)
        z_other = f_xhat.scatter(1, y, float("-inf")).amax(-1)
        return F.relu(z_other - z_y + margin).mean()
    if task == "multilabel":
        sign = (t > 0).to(f_xhat.dtype) * 2 - 1
        return F.relu(margin - sign * f_xhat).sum(-1).mean()
    return (f_xhat - t).pow(2).sum(-1).mean()


def recombine_concepts(c: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """c′ for L_cc: per concept, take the activation of this sample or of a random other sample of the batch.

    Follows §3.3 (Wiedemer et al. 2024): new, possibly out-of-distribution combinations composed from
    in-distribution concepts E(x). Detached: c′ is a target.
    """
    b = c.shape[0]
    perm = torch.randperm(b, generator=generator, device="cpu").to(c.device)
    pick = torch.rand(c.shape, generator=generator, device="cpu").to(c.device) < 0.5
    return torch.where(pick, c, c[perm]).detach()


def compositional_consistency(c_prime: torch.Tensor, c_reencoded: torch.Tensor) -> torch.Tensor:
    """L_cc = ‖E(g(c′)) − c′‖², summed over concepts, mean over the batch (paper Eq. 9).

    Not divided by ‖c′‖²: with the inputs at E‖x‖² = 1 and unit-norm atoms the codes are already O(1), and the
    ratio grows as the codes shrink, so it rewarded all-zero codes (measured: SeqComb-UV collapsed to chance).
    """
    return (c_reencoded - c_prime).pow(2).sum(-1).mean()


def intervene(c: torch.Tensor, concepts: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """All single-concept interventions I_m: c_{concepts[m]} ↦ values[m] for every sample: `[B, M, d]`."""
    b, d = c.shape
    m = len(concepts)
    out = c.unsqueeze(1).repeat(1, m, 1)
    out[:, torch.arange(m, device=c.device), concepts] = values.to(c.dtype).unsqueeze(0).expand(b, m)
    return out


def choose_interventions(
    c: torch.Tensor, n_interventions: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick M concepts active somewhere in the batch; intervention m toggles concept k_m.

    Value: the batch maximum of concept k_m (switch it on at a typical strength) — samples where it is
    already at that level are still valid positives. Returns (concepts [M], values [M]).
    """
    active = torch.nonzero(c.detach().amax(0) > 0).flatten()
    pool = active if len(active) >= 2 else torch.arange(c.shape[1], device=c.device)
    m = min(n_interventions, len(pool))
    idx = torch.randperm(len(pool), generator=generator, device="cpu")[:m].to(pool.device)
    ks = pool[idx]
    vals = c.detach().amax(0)[ks]
    vals = torch.where(vals > 0, vals, torch.ones_like(vals))
    return ks, vals


def counterfactual_infonce(z: torch.Tensor, tau: float = 0.1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Counterfactual InfoNCE (Eq. 8) on black-box outputs `z [B, M, K]` of B samples × M interventions.

    Anchor f(x̃^cf_{I_m}) of sample i; positive: the same intervention I_m on another sample i′ (a random
    pairing of the batch); negatives: the other interventions I_j (j ≠ m) on i′. Cosine similarity of
    outputs (logits: probabilities are all positive, so their cosines crowd near 1), temperature τ.
    """
    b, m, _ = z.shape
    if m < 2 or b < 2:
        return z.new_zeros(())
    perm = torch.randperm(b, generator=generator, device="cpu").to(z.device)
    same = perm == torch.arange(b, device=z.device)
    perm = torch.where(same, (perm + 1) % b, perm)  # never pair a sample with itself
    a = F.normalize(z, dim=-1)
    p = a[perm]
    logits = torch.einsum("bmk,bjk->bmj", a, p) / tau
    target = torch.arange(m, device=z.device).expand(b, m)
    return F.cross_entropy(logits.reshape(b * m, m), target.reshape(-1))


def total(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """Σ_name w_name · term_name over the computed terms."""
    return sum(weights.get(k, 1.0) * v for k, v in terms.items())

