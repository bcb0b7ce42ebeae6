"""Training health of a fitted TimeSAE (SAELens-style: FVU, L0, dead latents) and the gate that refuses a collapse.

A collapsed SAE (latents switched off, reconstruction at the data mean) still returns maps — usually constant or
the decoder bias — and those maps score like a random explainer. The gate compares the fit against two
references that need no tuning per dataset: the target sparsity, and PCA with as many components as the target
L0 (a k-sparse code over d ≫ k atoms should reconstruct at least about as well as the best rank-k projection;
on noise-dominated data such as LowVar both are close to 1, so an absolute FVU bound alone would misjudge it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.decomposition import PCA

log = logging.getLogger(__name__)


def fvu_np(x: np.ndarray, x_hat: np.ndarray, ref: np.ndarray) -> float:
    """Σ‖x − x̂‖² / Σ‖x − mean(ref)‖² over flattened samples."""
    return float(((x - x_hat) ** 2).sum() / max(((x - ref.mean(0, keepdims=True)) ** 2).sum(), 1e-12))


def pca_fvu(x_train: np.ndarray, x_eval: np.ndarray, n_components: int) -> float:
    """FVU on `x_eval` of a rank-`n_components` PCA fitted on `x_train` (both `[N, F]`)."""
    k = int(max(1, min(n_components, x_train.shape[0] - 1, x_train.shape[1])))
    pca = PCA(n_components=k, svd_solver="full").fit(x_train)
    return fvu_np(x_eval, pca.inverse_transform(pca.transform(x_eval)), x_train)


@dataclass
class Health:
    """Health numbers of one fit and the problems the gate found (empty = healthy)."""

    fvu: float
    pca_fvu: float
    dead_fraction: float
    l0: float
    l0_target: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_metrics(self) -> dict[str, float]:
        out = {"health_fvu": self.fvu, "health_pca_fvu": self.pca_fvu, "health_dead_fraction": self.dead_fraction,
               "health_l0": self.l0, "healthy": float(self.healthy)}
        if self.l0_target is not None:
            out["health_l0_target"] = self.l0_target
        return out


@dataclass
class HealthGate:
    """Thresholds of a healthy fit; `on_unhealthy`: `raise` (the run fails before any score is written) or `warn`.

    - FVU below `max_fvu` and below `fvu_vs_pca` × the FVU of PCA with round(target L0) components (or below
      `fvu_floor`, healthy whatever PCA does on low-rank data);
    - at most `max_dead_fraction` of the latents never firing on the training sample;
    - the mean L0 within `l0_band` × its target (JumpReLU's `target_l0`, TopK's k).
    """

    max_fvu: float = 0.98
    fvu_vs_pca: float = 1.25
    fvu_floor: float = 0.2
    max_dead_fraction: float = 0.9
    l0_band: tuple[float, float] = (0.25, 4.0)
    on_unhealthy: str = "raise"

    def __post_init__(self) -> None:
        if self.on_unhealthy not in ("raise", "warn"):
            raise ValueError(f"explainer.health.on_unhealthy={self.on_unhealthy!r}; use 'raise' or 'warn'.")
        self.l0_band = tuple(self.l0_band)

    @torch.no_grad()
    def measure(self, module, x_train: torch.Tensor, x_eval: torch.Tensor) -> Health:
        """Health of `module` (a TimeSAEModule in eval mode): dead latents on `x_train`, FVU and L0 on `x_eval`."""
        dev = module.x_scale.device
        xt, xe = x_train.float().to(dev), x_eval.float().to(dev)
        c_train = torch.cat([module.encode(xt[i : i + 512]) for i in range(0, len(xt), 512)])
        c_eval = module.encode(xe)
        xe_hat = module.decode(c_eval)
        flat = lambda a: a.detach().cpu().double().flatten(1).numpy()  # noqa: E731
        target = module.sparsity.l0_target
        k = round(target) if target is not None else max(1, round(float((c_eval > 0).sum(-1).float().mean())))
        h = Health(
            fvu=fvu_np(flat(xe), flat(xe_hat), flat(xt)),
            pca_fvu=pca_fvu(flat(xt), flat(xe), k),
            dead_fraction=float(((c_train > 0).sum(0) == 0).float().mean()),
            l0=float((c_eval > 0).sum(-1).float().mean()),
            l0_target=target,
        )
        fvu_bound = min(self.max_fvu, max(self.fvu_floor, self.fvu_vs_pca * h.pca_fvu))
        if not np.isfinite(h.fvu) or h.fvu > fvu_bound:
            h.problems.append(f"FVU {h.fvu:.3f} above {fvu_bound:.3f} ({self.fvu_vs_pca} × PCA-{k}'s {h.pca_fvu:.3f}, "
                              f"at least {self.fvu_floor}, at most {self.max_fvu})")
        if h.dead_fraction > self.max_dead_fraction:
            h.problems.append(f"{h.dead_fraction:.1%} of the {c_train.shape[1]} latents never fire "
                              f"(max {self.max_dead_fraction:.0%})")
        if target is not None and not self.l0_band[0] * target <= h.l0 <= self.l0_band[1] * target:
            h.problems.append(f"L0 {h.l0:.2f} outside {self.l0_band[0]}–{self.l0_band[1]} × its target {target:g}")
        return h

    def enforce(self, health: Health) -> None:
        """Raise (or warn loudly) when the fit is unhealthy; the message names what to change."""
        if health.healthy:
            log.info("TimeSAE health: FVU %.3f (PCA %.3f), L0 %.2f, dead %.1f%%", health.fvu, health.pca_fvu,
                     health.l0, 100 * health.dead_fraction)
            return
        msg = ("TimeSAE training collapsed or is unhealthy: " + "; ".join(health.problems) + ". Its maps would "
               "score like noise, so no explanation score is reported from it. Try more explainer.max_epochs, a "
               "lower explainer.module.lr, explainer.module.sparsity.target_l0 (JumpReLU) or .k (TopK) nearer the "
               "data's complexity, or explainer.health.on_unhealthy=warn to inspect the fit anyway.")
        if self.on_unhealthy == "raise":
            raise RuntimeError(msg)
        log.warning("UNHEALTHY FIT — %s", msg)
