"""Sanity checks every explainer must pass: model-parameter randomisation and captum's infidelity / sensitivity.

- **Model-parameter randomisation** (Adebayo et al., NeurIPS 2018, "Sanity Checks for Saliency Maps"): explain
  the same samples (same target class) with a copy of the black box whose weights are re-initialised, all at
  once and cascading from the head down (the backbone's top-level children in reverse order, cumulatively),
  and compare the maps with the trained model's by Spearman rank correlation of their absolute values, per
  sample, averaged. Low = the explainer follows the model; a model-blind map (amplitude) scores 1.
- **Infidelity** (Yeh et al. 2019, `captum.metrics.infidelity`): E‖Iᵀφ(x) − (f(x) − f(x − I))‖² under Gaussian
  perturbations I, with captum's `normalize=True` (the map is rescaled by its best scalar first, so a map's
  arbitrary scale does not count). Our maps are non-negative importance, so it scores |φ|, not signed φ.
- **Sensitivity-max** (`captum.metrics.sensitivity_max`): max over uniform perturbations in an L∞ ball of
  ‖φ(x + δ) − φ(x)‖ / ‖φ(x)‖.
Perturbation sizes are relative to each sample's standard deviation, so one setting fits every dataset.

Why captum and not Quantus (0.6, checked from its wheel): its `MPRT` and `MaxSensitivity` do declare time-series
support, but they take numpy batches and an `explain_func(model, inputs, targets)` of their own returning numpy,
so every call round-trips our batched torch explainers through numpy; MPRT cascades over *every* module with a
`reset_parameters` (about 60 steps on resnet_tf, one re-explanation each) where one step per backbone child is
what we can afford; and its `Infidelity` declares images only. It would also be a new dependency. captum's
metrics work on our tensors and `attribute(x, target)` directly, and captum is already the attribution library;
the randomisation itself (deep copy, seeded `reset_parameters()`, Spearman) is a few lines here.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import torch
from captum.metrics import infidelity, sensitivity_max
from scipy.stats import rankdata
from torch import nn

from tsexplain.utils import progress

log = logging.getLogger(__name__)


# -- pure functions ---------------------------------------------------------------------------------
def spearman_per_sample(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> np.ndarray:
    """Spearman rank correlation of |a| and |b| per sample (over the flattened [C, T]); NaN where either map is
    constant (no ranking). Ties get average ranks."""
    a = np.abs(np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64))
    b = np.abs(np.asarray(b.detach().cpu() if isinstance(b, torch.Tensor) else b, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"spearman_per_sample needs maps of one shape; got {a.shape} and {b.shape}.")
    ra = rankdata(a.reshape(len(a), -1), axis=1)
    rb = rankdata(b.reshape(len(b), -1), axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra**2).sum(1) * (rb**2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def _backbone(model: nn.Module) -> nn.Module:
    return getattr(model, "backbone", model)


def cascade_layers(model: nn.Module) -> list[str]:
    """The backbone's top-level children that hold parameters, from the head down (reverse registration order)."""
    return [name for name, child in _backbone(model).named_children()
            if any(True for _ in child.parameters())][::-1]


def reinitialize_(module: nn.Module, generator_seed: int = 0) -> nn.Module:
    """Re-initialise every parameter of `module` in place, seeded: each submodule's own `reset_parameters()`
    (or `_reset_parameters()`, e.g. `nn.MultiheadAttention`), and N(0, 0.02²) for parameters no submodule resets
    (positional embeddings, CLS tokens, raw `nn.Parameter`s). BatchNorm running statistics are reset too."""
    params = list(module.parameters())
    devices = sorted({p.device for p in params if p.device.type == "cuda"}, key=str)
    covered: set[int] = set()
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(generator_seed)
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None) or getattr(sub, "_reset_parameters", None)
            if callable(reset):
                reset()
                covered.update(id(p) for p in sub.parameters())
        for p in params:
            if id(p) not in covered:
                p.normal_(0.0, 0.02)
    return module


def randomized_copy(model: nn.Module, layers: Sequence[str] | None = None, seed: int = 0) -> nn.Module:
    """A deep copy of `model` (in eval mode) with the named top-level backbone children re-initialised, or every
    parameter when `layers` is None. The original is untouched."""
    clone = copy.deepcopy(model).eval()
    if layers is None:
        reinitialize_(clone, seed)
        return clone
    children = dict(_backbone(clone).named_children())
    unknown = [n for n in layers if n not in children]
    if unknown:
        raise ValueError(f"cannot randomise {unknown}: the backbone's top-level children are {list(children)}.")
    for i, name in enumerate(layers):
        reinitialize_(children[name], seed + i)
    return clone


def _scale(x: torch.Tensor) -> torch.Tensor:
    """Per-sample standard deviation over [C, T], broadcastable to x (1 where a sample is constant)."""
    s = x.reshape(len(x), -1).std(1)
    return torch.where(s > 0, s, torch.ones_like(s)).reshape(-1, *([1] * (x.ndim - 1)))


def infidelity_score(blackbox: nn.Module, x: torch.Tensor, saliency: torch.Tensor, target: torch.Tensor,
                     n_perturb_samples: int = 16, noise_std: float = 0.1, seed: int = 0,
                     batch_size: int = 2048) -> float:
    """Mean captum infidelity of `saliency` under Gaussian perturbations I ~ N(0, (noise_std·std(x))²)."""

    def perturb(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = torch.randn_like(inputs) * noise_std * _scale(inputs)
        return noise, inputs - noise

    with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []), torch.no_grad():
        torch.manual_seed(seed)
        scores = infidelity(blackbox, perturb, x.detach(), saliency.to(x).detach(), target=target.to(x.device),
                            n_perturb_samples=n_perturb_samples, normalize=True,
                            max_examples_per_batch=max(len(x), min(batch_size, len(x) * n_perturb_samples)))
    return float(scores.mean())


def _explain_tuple(explain_fn):
    """captum's sensitivity_max passes inputs as a tuple, expects a tuple back and runs under no_grad; gradient
    explainers need autograd, so it is switched back on."""

    def fn(inputs, target):
        with torch.enable_grad():
            return (explain_fn(inputs[0] if isinstance(inputs, tuple) else inputs, target),)

    return fn


def sensitivity_score(explain_fn, x: torch.Tensor, target: torch.Tensor, n_perturb_samples: int = 4,
                      radius: float = 0.02, seed: int = 0) -> float:
    """Mean captum sensitivity_max of `explain_fn(x, target)` for δ ~ U[−r, r]ⁿ with r = radius·std(x)."""

    def perturb(inputs: torch.Tensor, perturb_radius: float) -> torch.Tensor:
        r = perturb_radius * _scale(inputs)
        return inputs + (torch.rand_like(inputs) * 2 - 1) * r

    with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
        torch.manual_seed(seed)
        scores = sensitivity_max(_explain_tuple(explain_fn), x.detach(), perturb_func=perturb,
                                 perturb_radius=radius, n_perturb_samples=n_perturb_samples,
                                 target=target.to(x.device))
    return float(scores.mean())


def _mean(rho: np.ndarray) -> float:
    return float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan")


# -- the configured checks (built by Hydra from evaluation.sanity) ---------------------------------------------
class SanityChecks:
    """Runs the checks on the first `max_samples` explained samples; returns `explain/…` metrics:

    `rand_spearman_all` (all weights re-initialised), `rand_spearman_cascade/<layer>` (that child and every one
    above it re-initialised; the last step equals all-at-once when the backbone holds every parameter),
    `rand_spearman_cascade_min`, `rand_n` (samples with a non-constant map under both models), `infidelity`,
    `sensitivity_max` (on the first `sensitivity_max_samples`; it re-explains `n_perturb_sensitivity + 1`
    times). Each check can be switched off; `enabled=false` switches all off.
    """

    def __init__(self, enabled: bool = True, max_samples: int | None = 128, randomization: bool = True,
                 cascade: bool = True, infidelity: bool = True, n_perturb_infidelity: int = 16,
                 noise_std: float = 0.1, sensitivity: bool = True, sensitivity_max_samples: int | None = 32,
                 n_perturb_sensitivity: int = 4, radius: float = 0.02, seed: int = 0) -> None:
        for name, v in (("max_samples", max_samples), ("sensitivity_max_samples", sensitivity_max_samples)):
            if v is not None and int(v) < 1:
                raise ValueError(f"evaluation.sanity.{name}={v} must be ≥ 1 or null (all explained samples).")
        for name, v in (("n_perturb_infidelity", n_perturb_infidelity),
                        ("n_perturb_sensitivity", n_perturb_sensitivity)):
            if int(v) < 1:
                raise ValueError(f"evaluation.sanity.{name}={v} must be ≥ 1.")
        if noise_std <= 0 or radius <= 0:
            raise ValueError(f"evaluation.sanity.noise_std={noise_std} and radius={radius} must both be > 0.")
        self.enabled, self.max_samples, self.randomization, self.cascade = enabled, max_samples, randomization, cascade
        self.infidelity, self.n_perturb_infidelity, self.noise_std = infidelity, int(n_perturb_infidelity), noise_std
        self.sensitivity, self.sensitivity_max_samples = sensitivity, sensitivity_max_samples
        self.n_perturb_sensitivity, self.radius, self.seed = int(n_perturb_sensitivity), radius, seed

    def randomization_scores(self, explainer, blackbox: nn.Module, x: torch.Tensor, target: torch.Tensor,
                             saliency: torch.Tensor) -> dict[str, float]:
        """Spearman(trained map, randomised-model map) for all-at-once and, if `cascade`, each cascade step."""
        out: dict[str, float] = {}
        n_params = sum(p.numel() for p in blackbox.parameters())
        layers = cascade_layers(blackbox) if self.cascade else []
        in_layers = sum(p.numel() for n in layers for p in getattr(_backbone(blackbox), n).parameters())
        last = None
        for k in progress.track(range(len(layers)), "sanity: randomisation cascade", unit="layer"):
            rho = self._rho(explainer, randomized_copy(blackbox, layers[: k + 1], self.seed), x, target, saliency)
            out[f"rand_spearman_cascade/{layers[k]}"] = _mean(rho)
            last = rho
        finite = [v for v in out.values() if np.isfinite(v)]
        if finite:
            out["rand_spearman_cascade_min"] = min(finite)
        if last is not None and in_layers == n_params:  # the last cascade step already randomised every weight
            rho = last
        else:
            rho = self._rho(explainer, randomized_copy(blackbox, None, self.seed), x, target, saliency)
        out["rand_spearman_all"] = _mean(rho)
        out["rand_n"] = float(np.isfinite(rho).sum())
        return out

    @staticmethod
    def _rho(explainer, model: nn.Module, x, target, saliency) -> np.ndarray:
        """Per-sample rank correlation; a trained map without a ranking (constant) is left out (NaN), a randomised
        map without one shares no ranking with the trained map (0)."""
        rebound = explainer.rebind(model)
        rho = spearman_per_sample(saliency, rebound.attribute(x, target))
        flat = saliency.reshape(len(saliency), -1)
        trained_constant = (flat.amax(1) - flat.amin(1) <= 0).cpu().numpy()
        return np.where(trained_constant, np.nan, np.nan_to_num(rho, nan=0.0))

    def __call__(self, explainer, blackbox: nn.Module, x: torch.Tensor, target: torch.Tensor,
                 saliency: torch.Tensor) -> dict[str, float]:
        """`explain/…` metrics for `explainer` (already fitted on `blackbox`), whose maps of `x` are `saliency`."""
        if not self.enabled:
            return {}
        n = len(x) if self.max_samples is None else min(len(x), int(self.max_samples))
        x, target, saliency = x[:n], target[:n].to(x.device), saliency[:n]
        out: dict[str, float] = {}
        if self.randomization:
            out.update(self.randomization_scores(explainer, blackbox, x, target, saliency))
        if self.infidelity:
            out["infidelity"] = infidelity_score(blackbox, x, saliency, target, self.n_perturb_infidelity,
                                                 self.noise_std, self.seed)
        if self.sensitivity:
            m = n if self.sensitivity_max_samples is None else min(n, int(self.sensitivity_max_samples))
            out["sensitivity_max"] = sensitivity_score(explainer.attribute, x[:m], target[:m],
                                                       self.n_perturb_sensitivity, self.radius, self.seed)
        return {f"explain/{k}": v for k, v in out.items()}
