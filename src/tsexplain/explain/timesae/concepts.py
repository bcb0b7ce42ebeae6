"""TimeSAE's decompositional decoder (paper Eq. 14–15), concept effects (CaCE) and concept alignment (CAR).

g(c) = ψ0 + Σ_{k=1..K} Σ_j h_k(c_j, …, c_{j+k−1}) ⊙ m_k^j  [+ ψ_d(c) ⊙ m_d]

- order 1: h_1(c_j) = c_j·a_j with a_j ∈ R^{C×T} a dictionary atom (the SAE decoder column of Eq. 1);
- order k ≥ 2 (contiguous k-tuples, as in Eq. 14): h_k = (Π_i c_{j+i})·a^k_j, non-zero only when all k
  concepts co-fire;
- the last, all-concept term ψ_d(c) is the mirrored network decoder (App. B.5), optional;
- every term is gated element-wise by a Bernoulli mask m ∈ {0,1}^{C×T}: relaxed (binary-concrete,
  straight-through hard sample) at train time, deterministic (p > ½) at eval.

Because c ≥ 0, the per-concept decoded contributions are c_j·(a_j ⊙ m_j), and the saliency mask is the
sum of their magnitudes (plus |ψ_d(c) − ψ_d(0)| ⊙ m_d for the network term).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def sample_gate(logits: torch.Tensor, temperature: float, training: bool) -> torch.Tensor:
    """Bernoulli gate: straight-through binary-concrete sample when training, 1[p > ½] at eval."""
    if not training:
        return (logits > 0).to(logits.dtype)
    u = torch.rand_like(logits).clamp(1e-6, 1 - 1e-6)
    soft = torch.sigmoid((logits + u.log() - (-u).log1p()) / temperature)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + soft - soft.detach()


def tuple_products(c: torch.Tensor, order: int) -> torch.Tensor:
    """Products of contiguous `order`-tuples of concepts: `[B, d − order + 1]`."""
    d = c.shape[-1]
    out = c[:, : d - order + 1]
    for i in range(1, order):
        out = out * c[:, i : d - order + 1 + i]
    return out


class ConceptDecoder(nn.Module):
    """g(c) of Eq. 14 up to interaction order `order`, with Bernoulli-gated terms; see module docstring.

    `atoms[k-1]` is `[C·T, d − k + 1]` (columns are atoms, so unit-norm handling is column-wise).
    """

    def __init__(
        self,
        d_latent: int,
        out_channels: int,
        seq_len: int,
        order: int = 2,
        network: nn.Module | None = None,
        gate_init: float = 0.95,
        temperature: float = 2.0 / 3.0,
    ) -> None:
        super().__init__()
        if not 1 <= order <= d_latent:
            raise ValueError(f"concept order={order} must lie in [1, d={d_latent}]; use order=1 or 2.")
        if not 0 < gate_init < 1:
            raise ValueError(f"gate_init={gate_init} is a probability; use a value in (0, 1), e.g. 0.95.")
        self.d, self.C, self.T, self.order = d_latent, out_channels, seq_len, order
        self.temperature = temperature
        n_feat = out_channels * seq_len
        self.psi0 = nn.Parameter(torch.zeros(out_channels, seq_len))
        atoms = []
        for k in range(1, order + 1):
            a = torch.randn(n_feat, d_latent - k + 1)
            atoms.append(nn.Parameter(a / a.norm(dim=0, keepdim=True)))
        self.atoms = nn.ParameterList(atoms)
        logit0 = math.log(gate_init / (1 - gate_init))
        self.gate_logits = nn.ParameterList(
            [nn.Parameter(torch.full_like(a, logit0)) for a in atoms]
        )
        self.network = network
        self.net_gate_logits = nn.Parameter(torch.full((out_channels, seq_len), logit0)) if network else None

    # -- pieces ----------------------------------------------------------------------------------
    @property
    def dictionary(self) -> torch.Tensor:
        """First-order atoms `[C·T, d]`."""
        return self.atoms[0]

    def column_norms(self) -> torch.Tensor:
        return self.dictionary.norm(dim=0)

    def gated_atoms(self) -> list[torch.Tensor]:
        return [a * sample_gate(g, self.temperature, self.training)
                for a, g in zip(self.atoms, self.gate_logits, strict=True)]

    def gate_open_fraction(self) -> torch.Tensor:
        """Expected fraction of open gates (mean Bernoulli probability): the gate sparsity penalty."""
        logits = [g.flatten() for g in self.gate_logits]
        if self.net_gate_logits is not None:
            logits.append(self.net_gate_logits.flatten())
        return torch.sigmoid(torch.cat(logits)).mean()

    def _network_term(self, c: torch.Tensor) -> torch.Tensor:
        gate = sample_gate(self.net_gate_logits, self.temperature, self.training)
        return self.network(c) * gate

    # -- decoding ----------------------------------------------------------------------------------
    def forward(self, c: torch.Tensor) -> torch.Tensor:
        """x̂ = g(c): `[B, d]` → `[B, C, T]`."""
        out = self.psi0.reshape(1, -1)
        for k, a in enumerate(self.gated_atoms(), start=1):
            out = out + tuple_products(c, k) @ a.t()
        out = out.reshape(-1, self.C, self.T)
        if self.network is not None:
            out = out + self._network_term(c)
        return out

    def contributions(self, c: torch.Tensor) -> torch.Tensor:
        """Per-concept first-order decoded contribution over time: `[B, d, C, T]` (c_j·a_j ⊙ m_j)."""
        a = self.gated_atoms()[0].t().reshape(self.d, self.C, self.T)
        return c[:, :, None, None] * a[None]

    def saliency(self, c: torch.Tensor) -> torch.Tensor:
        """Non-negative `[B, C, T]` mask: Σ over all gated terms of |decoded contribution|."""
        out = 0
        for k, a in enumerate(self.gated_atoms(), start=1):
            out = out + tuple_products(c, k).abs() @ a.abs().t()
        out = out.reshape(-1, self.C, self.T)
        if self.network is not None:
            delta = self.network(c) - self.network(torch.zeros_like(c))
            gate = sample_gate(self.net_gate_logits, self.temperature, self.training)
            out = out + delta.abs() * gate
        return out


# ---------------------------------------------------------------------------------------------
# Causal concept effect (paper Def. 2): effect on f of removing each concept.
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def cace(
    decode: Callable[[torch.Tensor], torch.Tensor],
    predict: Callable[[torch.Tensor], torch.Tensor],
    c: torch.Tensor,
    concepts: list[int] | None = None,
    chunk: int = 16,
) -> torch.Tensor:
    """CaCE_k = E_x[f(g(c | do(c_k = 0)))] − E_x[f(g(c))] for each k in `concepts` (default: all).

    `predict` maps decoded inputs to black-box outputs (probabilities for classification). Returns
    `[len(concepts), K]`.
    """
    concepts = list(range(c.shape[1])) if concepts is None else list(concepts)
    base = predict(decode(c)).mean(0)
    out = []
    for s in range(0, len(concepts), chunk):
        ks = concepts[s : s + chunk]
        cc = c.unsqueeze(0).repeat(len(ks), 1, 1)
        cc[torch.arange(len(ks)), :, torch.as_tensor(ks)] = 0.0
        y = predict(decode(cc.reshape(-1, c.shape[1]))).reshape(len(ks), c.shape[0], -1)
        out.append(y.mean(1) - base)
    return torch.cat(out) if out else c.new_zeros(0, base.numel())


# ---------------------------------------------------------------------------------------------
# Concept alignment (paper §3.4, Alg. 2, App. B.7.1)
# ---------------------------------------------------------------------------------------------


def car_classify(
    pos_codes: np.ndarray | torch.Tensor,
    neg_codes: np.ndarray | torch.Tensor,
    kernel: str = "rbf",
    test_size: float = 0.3,
    seed: int = 0,
) -> dict:
    """CAR with an SVC on latent codes of concept-positive vs -negative samples.

    Score = held-out accuracy of the kernel SVC (§3.4: kernel SVM, no linear-separability assumption);
    direction = unit weight vector of a linear SVM fitted on all codes (the CAV of App. B.7.1).
    """
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC, LinearSVC

    pos, neg = np.asarray(pos_codes, dtype=np.float64), np.asarray(neg_codes, dtype=np.float64)
    if len(pos) < 2 or len(neg) < 2:
        raise ValueError(f"CAR needs ≥ 2 positive and ≥ 2 negative samples; got {len(pos)} and {len(neg)}.")
    X = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    clf = SVC(kernel=kernel).fit(Xtr, ytr)
    lin = LinearSVC(dual="auto").fit(X, y)
    w = lin.coef_.ravel()
    return {"score": float(clf.score(Xte, yte)), "direction": w / max(np.linalg.norm(w), 1e-12), "model": clf}


def car_regress(
    codes: np.ndarray | torch.Tensor,
    values: np.ndarray | torch.Tensor,
    kernel: str = "rbf",
    test_size: float = 0.3,
    seed: int = 0,
) -> dict:
    """CAR for a continuous concept: held-out R² of a kernel SVR; direction from a linear SVR."""
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVR, LinearSVR

    X, v = np.asarray(codes, dtype=np.float64), np.asarray(values, dtype=np.float64).ravel()
    Xtr, Xte, vtr, vte = train_test_split(X, v, test_size=test_size, random_state=seed)
    reg = SVR(kernel=kernel).fit(Xtr, vtr)
    w = LinearSVR(dual="auto", max_iter=5000).fit(X, v).coef_.ravel()
    return {"score": float(reg.score(Xte, vte)), "direction": w / max(np.linalg.norm(w), 1e-12), "model": reg}


def ablation_saliency(
    decode: Callable[[torch.Tensor], torch.Tensor],
    c: torch.Tensor,
    weights: torch.Tensor | None = None,
    chunk: int = 8,
) -> torch.Tensor:
    """Σ_j w_j·|g(c) − g(c | c_j = 0)| over the active concepts j: each concept's decoded footprint.

    Unlike the gated-term magnitudes (`ConceptDecoder.saliency`), this also attributes the non-linear
    all-concept term ψ_d(c). `weights [B, d]` (default 1) can carry each concept's effect on the target.
    Cost: one decode per active concept (L0 per sample), batched.
    """
    b, d = c.shape
    base = decode(c)
    out = torch.zeros_like(base)
    active = (c > 0).any(0).nonzero().flatten().tolist()
    for s in range(0, len(active), chunk):
        ks = torch.as_tensor(active[s : s + chunk], device=c.device)
        cc = c.unsqueeze(0).repeat(len(ks), 1, 1)  # [n, B, d]
        cc[torch.arange(len(ks)), :, ks] = 0.0
        diff = (decode(cc.reshape(-1, d)).reshape(len(ks), *base.shape) - base).abs()
        w = (c[:, ks] > 0).float().t() if weights is None else weights[:, ks].t() * (c[:, ks] > 0).float().t()
        out = out + (w[:, :, None, None] * diff).sum(0)
    return out
