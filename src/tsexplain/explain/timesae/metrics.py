"""TimeSAE concept metrics (paper §4, Thm. 1, Fig. 4/6): pure functions, tensors in, numbers/tensors out."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr


def remove_top_concepts(c: torch.Tensor, n: int) -> torch.Tensor:
    """c⁻: the `n` most active concepts of each sample set to 0 (the 'relevant components' of F_x)."""
    n = min(n, c.shape[1])
    idx = c.topk(n, dim=-1).indices
    return c.scatter(-1, idx, 0.0)


def faithfulness_fx(f_x: torch.Tensor, f_removed: torch.Tensor) -> torch.Tensor:
    """F_x = ‖f(x) − f(x̃⁻)‖² per sample (higher = the removed concepts mattered more)."""
    return (f_x - f_removed).pow(2).flatten(1).sum(-1)


def epsilon_rec(f_x: torch.Tensor, f_xhat: torch.Tensor) -> torch.Tensor:
    """ε_rec = |f(x) − f(x̃)|₁ per sample (Thm. 1's reconstruction error on outputs)."""
    return (f_x - f_xhat).abs().flatten(1).sum(-1)


def epsilon_cf(f_cf: torch.Tensor, y_cf: torch.Tensor, task: str = "multiclass") -> torch.Tensor:
    """ε_cf = |f(x̃^cf) − y^cf|₁ per sample; class targets become one-hot for multiclass (Eq. 5)."""
    y = y_cf.to(f_cf.device)
    if task == "multiclass":
        y = y.reshape(-1).expand(len(f_cf)) if y.numel() == 1 else y.reshape(-1)
        y = F.one_hot(y.long(), f_cf.shape[-1])
    return (f_cf - y.to(f_cf.dtype).reshape(f_cf.shape)).abs().sum(-1)


def spearman(a, b) -> float:
    """Spearman rank correlation (scipy); nan when either side is constant."""
    a, b = np.asarray(torch.as_tensor(a).cpu()).ravel(), np.asarray(torch.as_tensor(b).cpu()).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def label_fidelity(f_x: torch.Tensor, f_xhat: torch.Tensor) -> float:
    """Mean ‖f(x) − f(g(E(x)))‖² (outputs as given: probabilities for classification)."""
    return float((f_x - f_xhat).pow(2).flatten(1).sum(-1).mean())


def l0(c: torch.Tensor) -> float:
    """Mean number of active concepts per sample."""
    return float((c > 0).float().sum(-1).mean())


def firing_frequency(c: torch.Tensor) -> torch.Tensor:
    """Fraction of samples on which each concept fires: `[d]`."""
    return (c > 0).float().mean(0)


def dead_fraction(c: torch.Tensor) -> float:
    """Fraction of concepts that never fire on these samples."""
    return float((firing_frequency(c) == 0).float().mean())


def firing_histogram(freq, bins: int = 20, floor: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of log10 firing frequency (dead latents clipped to `floor`), as in SAE health plots."""
    f = np.log10(np.clip(np.asarray(torch.as_tensor(freq).cpu(), dtype=np.float64), floor, 1.0))
    return np.histogram(f, bins=bins, range=(np.log10(floor), 0.0))
