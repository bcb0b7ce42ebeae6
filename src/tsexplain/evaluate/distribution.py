"""Distribution alignment of explanation-embedded instances x̃ with the data (TimeX++/TimeSAE Table 2).

Pure functions on arrays `[N, ...]` (flattened per instance): KL of value histograms, RBF-MMD with the
median heuristic, and KDE log-likelihood of x̃ under a density fitted on the data.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import entropy


def _flat(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(len(a), -1)


def _subsample(a: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(a) <= n:
        return a
    return a[np.random.default_rng(seed).choice(len(a), n, replace=False)]


def kl_histogram(data, other, bins: int = 50, eps: float = 1e-8) -> float:
    """KL(P_data ‖ P_other) of the pooled value histograms on shared bins (additive smoothing `eps`)."""
    a, b = np.asarray(data, dtype=np.float64).ravel(), np.asarray(other, dtype=np.float64).ravel()
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    if hi <= lo:
        return 0.0
    p, edges = np.histogram(a, bins=bins, range=(lo, hi))
    q, _ = np.histogram(b, bins=edges)
    p = p / p.sum() + eps
    q = q / q.sum() + eps
    return float(entropy(p, q))


def mmd_rbf(x, y, bandwidth: float | None = None, max_n: int = 1000, seed: int = 0) -> float:
    """Biased (V-statistic) MMD² with an RBF kernel; bandwidth = median pairwise distance of the pooled sample.

    Own code: neither scipy, scikit-learn nor torchmetrics ships a two-sample MMD.
    """
    x, y = _subsample(_flat(x), max_n, seed), _subsample(_flat(y), max_n, seed + 1)
    z = np.concatenate([x, y])
    if bandwidth is None:
        d = cdist(z, z)
        bandwidth = float(np.median(d[np.triu_indices(len(z), 1)])) or 1.0
    gamma = 1.0 / (2.0 * bandwidth**2)
    kxx = np.exp(-gamma * cdist(x, x, "sqeuclidean")).mean()
    kyy = np.exp(-gamma * cdist(y, y, "sqeuclidean")).mean()
    kxy = np.exp(-gamma * cdist(x, y, "sqeuclidean")).mean()
    return float(max(kxx + kyy - 2 * kxy, 0.0))


def kde_loglik(data, other, bandwidth: float | str = "scott", max_n: int = 2000, seed: int = 0) -> float:
    """Mean log-likelihood of `other` instances under a Gaussian KDE fitted on `data` (sklearn)."""
    from sklearn.neighbors import KernelDensity

    kde = KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(_subsample(_flat(data), max_n, seed))
    return float(kde.score_samples(_subsample(_flat(other), max_n, seed + 1)).mean())


def distribution_scores(embedded, data, bins: int = 50) -> dict[str, float]:
    """KL (histogram), MMD (RBF, median heuristic) and KDE log-likelihood of `embedded` vs `data`."""
    return {
        "kl": kl_histogram(data, embedded, bins=bins),
        "mmd": mmd_rbf(embedded, data),
        "kde_loglik": kde_loglik(data, embedded),
    }
