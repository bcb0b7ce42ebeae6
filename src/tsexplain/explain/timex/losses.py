"""The terms of TimeX's objective, as in its public code (mims-harvard/TimeX, `txai/utils/predictors/loss*.py`).

Written here: no maintained library has them. Reference quirks kept on purpose (so the weights of the published
settings mean what they meant there) are noted at each function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mask_size_loss(p: torch.Tensor, r: float) -> torch.Tensor:
    """GSAT's information bottleneck: mean KL(Bernoulli(p) ‖ Bernoulli(r)) over every mask entry; pulls the keep
    probabilities towards r (not towards 0), so consistency alone decides which entries rise above it."""
    return (p * torch.log(p / (r + 1e-6) + 1e-6) + (1 - p) * torch.log((1 - p) / (1 - r + 1e-6) + 1e-6)).mean()


def connect_loss(p: torch.Tensor) -> torch.Tensor:
    """Smoothness over time of the mask `[B, C, T]`: the L2 norm of all successive differences divided by their
    number (the reference's scaling, one norm over the whole batch, so it shrinks as 1/√(B·C·T))."""
    d = p[..., 1:] - p[..., :-1]
    return d.norm(p=2) / d.numel()


def embedding_consistency(z: torch.Tensor, z_tilde: torch.Tensor) -> torch.Tensor:
    """Model-behaviour consistency: mean squared difference of the in-batch cosine-similarity matrices of the black
    box's embeddings `z [B, d]` and of the surrogate's on the masked inputs `z_tilde [B, d]`."""
    z, z_tilde = F.normalize(z, dim=-1), F.normalize(z_tilde, dim=-1)
    return (z @ z.T - z_tilde @ z_tilde.T).pow(2).mean()


def _pairwise_js(log_p: torch.Tensor) -> torch.Tensor:
    """Per-class Jensen-Shannon terms `[P, K]` of every unordered pair of rows of `log_p [B, K]` (log-probabilities),
    as the reference computes them: `F.kl_div(log p, m)`, i.e. KL(m ‖ p) with m the pair's mixture."""
    i, j = torch.triu_indices(len(log_p), len(log_p), offset=1, device=log_p.device)
    a, b = log_p[i], log_p[j]
    m = 0.5 * (a.exp() + b.exp())
    return 0.5 * F.kl_div(a, m, reduction="none") + 0.5 * F.kl_div(b, m, reduction="none")


def label_consistency(logits_tilde: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Label consistency: pairs of samples should be as far apart in predicted-label distribution (JS divergence)
    on the masked inputs as the black box has them on the originals; mean squared difference over all pairs (the
    paper's Eq.; the reference code squares the difference of the batch means, a much weaker constraint)."""
    if len(logits) < 2:
        return logits.new_zeros(())
    js_tilde = _pairwise_js(logits_tilde.log_softmax(-1)).mean(-1)
    js = _pairwise_js(logits.log_softmax(-1)).mean(-1)
    return (js_tilde - js).pow(2).mean()
