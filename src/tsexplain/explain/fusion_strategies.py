"""How `FusionExplainer` turns two normalised maps into one: one small object per strategy, built by Hydra from
`conf/explainer/fusion_strategy/<name>.yaml` (`explainer/fusion_strategy=mean`). G = Grad-CAM, R = (aligned)
rollout, both min–max normalised `[B, C, T]`:

    Multiply   G·R                 the paper's choice: a consensus filter
    Mean       (G + R)/2
    Weighted   α·G + (1−α)·R
    Max        max(G, R)
    Geometric  sqrt(G·R)
    Concat     (G + R)/2           our reading of the paper's "concatenation" baseline: stack [G; R] as two
                                   channels and project back to one map with a fixed, equal-weight 1×1
                                   projection (the paper compares H_cat with H* directly, so it must be one
                                   map; with no learned weights the projection is the mean)
    Learned    LearnedFusion       the same 1×1 projection, trained for faithfulness (see learned_fusion.py)

`neutral` is what a constant map is normalised to (1, or 0 for Max), so that the other map decides.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from tsexplain.explain.base import TrainerFactory, default_trainer
from tsexplain.explain.learned_fusion import MONITOR, LearnedFusion, MapFn
from tsexplain.utils.tensors import frozen


class FusionStrategy:
    """`strategy(gradcam, rollout) -> fused`, all `[B, C, T]`; fixed strategies learn nothing in `fit`."""

    name: ClassVar[str]
    #: The value a constant (rank-free) map is normalised to: the strategy's neutral element.
    neutral: ClassVar[float] = 1.0

    def __call__(self, gradcam: torch.Tensor, rollout: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fit(self, blackbox: nn.Module, map_fn: MapFn, datamodule=None,
            trainer_factory: TrainerFactory | None = None) -> FusionStrategy:
        """Learn from data (only `Learned` does); `map_fn(x, target)` gives the two normalised maps."""
        return self

    def rebind(self, blackbox: nn.Module, map_fn: MapFn) -> FusionStrategy:
        """This strategy for a fusion rebound to another black box (a fixed strategy holds nothing to rebind)."""
        return self

    def health(self, fused: Callable[[], torch.Tensor]) -> dict[str, float]:
        """Scores of the fit itself (`explain/<key>`); `fused()` computes the fused maps when one is needed."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Multiply(FusionStrategy):
    name = "multiply"

    def __call__(self, gradcam, rollout):
        return gradcam * rollout


class Mean(FusionStrategy):
    name = "mean"

    def __call__(self, gradcam, rollout):
        return 0.5 * (gradcam + rollout)


class Concat(Mean):
    """[G; R] projected by a fixed equal-weight 1×1 map: the mean (see the module docstring)."""

    name = "concat"


class Weighted(FusionStrategy):
    name = "weighted"

    def __init__(self, alpha: float = 0.5) -> None:
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha={alpha} must lie in [0, 1] (explainer.fusion_strategy.alpha: Grad-CAM's weight).")
        self.alpha = alpha

    def __call__(self, gradcam, rollout):
        return self.alpha * gradcam + (1 - self.alpha) * rollout

    def __repr__(self) -> str:
        return f"Weighted(alpha={self.alpha})"


class Max(FusionStrategy):
    name = "max"
    neutral = 0.0

    def __call__(self, gradcam, rollout):
        return torch.maximum(gradcam, rollout)


class Geometric(FusionStrategy):
    name = "geometric"

    def __call__(self, gradcam, rollout):
        return (gradcam * rollout).clamp_min(0).sqrt()


class Learned(FusionStrategy):
    """A 1×1-conv `LearnedFusion` trained `max_epochs` epochs on the train split with the black box frozen."""

    name = "learned"
    #: A fit whose maps are constant (span < this) on more than half the samples has collapsed.
    collapse_tol: ClassVar[float] = 1e-3

    def __init__(self, module: LearnedFusion | None = None, max_epochs: int = 3) -> None:
        self.module = module if module is not None else LearnedFusion()
        self.max_epochs = max_epochs
        self.trained = False

    def fit(self, blackbox, map_fn, datamodule=None, trainer_factory=None):
        """Fit the 1×1 fusion on the train split (the val split, when there is one, logs `fusion/val/loss` for
        callbacks), then restore the black box's `requires_grad` flags and device."""
        if datamodule is None:
            raise ValueError("explainer/fusion_strategy=learned trains on data: call fit(blackbox, datamodule) "
                             "with a datamodule.")
        with frozen(blackbox):
            self.module.bind(blackbox, map_fn)
            val = datamodule.val_dataloader() if hasattr(datamodule, "val_dataloader") else None
            trainer = (trainer_factory or default_trainer)(max_epochs=self.max_epochs,
                                                           monitor=MONITOR if val is not None else None)
            trainer.fit(self.module, train_dataloaders=datamodule.train_dataloader(), val_dataloaders=val)
        self.module.eval()
        self.trained = True
        return self

    def rebind(self, blackbox, map_fn):
        """A copy with the same trained 1×1 weights (it reads only the two maps, so it follows the new black box
        through them)."""
        clone = copy.copy(self)
        clone.module = copy.deepcopy(self.module)
        if self.module._bound:
            clone.module.bind(blackbox, map_fn)
        return clone

    def __call__(self, gradcam, rollout):
        if not self.trained:
            raise RuntimeError("explainer/fusion_strategy=learned is untrained: call fit(blackbox, datamodule) first.")
        with torch.no_grad():
            return self.module.to(gradcam.device)(gradcam, rollout)

    def health(self, fused):
        """The 1×1 weights and the fraction of samples whose fused map is constant; a collapsed fit (more than half
        constant) raises instead of letting its scores be reported."""
        if not self.trained:
            return {}
        maps = fused()
        flat = maps.reshape(len(maps), -1)
        collapsed = float(((flat.amax(1) - flat.amin(1)) < self.collapse_tol).float().mean())
        w, b = self.module.conv.weight.detach().flatten().cpu(), float(self.module.conv.bias.detach())
        out = {"learned_w_gradcam": float(w[0]), "learned_w_rollout": float(w[1]), "learned_bias": b,
               "learned_collapsed_fraction": collapsed}
        if collapsed > 0.5:
            raise RuntimeError(
                f"the learned fusion collapsed: {collapsed:.0%} of the explained samples get a constant map "
                f"(weights gradcam {w[0]:.3g}, rollout {w[1]:.3g}, bias {b:.3g}), so its scores would mean nothing "
                "and are not reported. Lower explainer.fusion_strategy.module.area_weight or lr, train longer "
                "(explainer.fusion_strategy.max_epochs), or use a fixed fusion "
                "(explainer/fusion_strategy=mean|multiply).")
        return out

    def __repr__(self) -> str:
        return f"Learned(max_epochs={self.max_epochs}, trained={self.trained})"
