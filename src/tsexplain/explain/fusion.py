"""Fusion of Grad-CAM (ResNet branch) and attention rollout (Transformer branch), after arXiv 2507.00234.

Pipeline per sample: both maps → per-sample min–max to [0, 1] → rollout warped onto Grad-CAM's time axis by DTW
(optional) → a fusion strategy (`fusion_strategies.py`: Multiply, the paper's choice, Mean, Weighted, Max,
Geometric, Concat, Learned; `explainer/fusion_strategy=<name>`). A constant map carries no ranking (e.g. an
all-zero Grad-CAM after its ReLU, common on layer4 of an untrained or unsure ResNet): it is set to the strategy's
neutral element (1, or 0 for Max) so the other map decides and no strategy returns NaN or an empty map.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from tsexplain.explain.align import Align, align_maps
from tsexplain.explain.base import Explainer, TrainerFactory
from tsexplain.explain.fusion_strategies import FusionStrategy, Multiply
from tsexplain.explain.gradcam import GradCAM
from tsexplain.explain.rollout import AttentionRollout, RolloutBase
from tsexplain.models.backbones.base import HasAttention, HasGradCamLayer
from tsexplain.utils.tensors import minmax_per_sample

#: Below this span a normalised map counts as constant (it becomes the strategy's neutral element).
CONSTANT_SPAN = 1e-12


def _refuse_name(fusion_strategy) -> None:
    """The former string switch (`explainer.fusion=mean`) is refused with the config-group syntax that replaced it."""
    if isinstance(fusion_strategy, str):
        raise ValueError(
            f"explainer fusion={fusion_strategy!r} is a name; the fusion strategy is an object chosen by its config "
            f"group now: explainer/fusion_strategy=multiply|mean|weighted|max|geometric|concat|learned "
            f"(conf/explainer/fusion_strategy/), e.g. `python run.py explainer=fusion "
            f"explainer/fusion_strategy={fusion_strategy}`; in Python FusionExplainer(fusion_strategy="
            "tsexplain.explain.fusion_strategies.Mean()).")


def _pair(maps: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The two maps a strategy fuses: Grad-CAM and the rollout, aligned when it was."""
    return maps["gradcam"], maps.get("rollout_aligned", maps["rollout"])


class FusionExplainer(Explainer):
    """Grad-CAM × attention rollout on a dual-branch model (`model=resnet_tf`); see the module docstring."""

    name = "fusion"
    has_maps = True
    requires = (HasGradCamLayer, HasAttention)
    supported_models = ("resnet_tf",)

    def __init__(
        self,
        gradcam: GradCAM | None = None,
        rollout: RolloutBase | None = None,
        fusion_strategy: FusionStrategy | None = None,
        align: Align = "none",
        normalize: Literal["minmax", "none"] = "minmax",
        sakoe_chiba_radius: int | None = 10,
        batch_size: int = 64,
        fusion: str | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size)
        _refuse_name(fusion if fusion is not None else fusion_strategy)
        if normalize not in ("minmax", "none"):
            raise ValueError(f"normalize={normalize!r} is unknown; use 'minmax' or 'none'.")
        if align not in ("dtw", "none"):
            raise ValueError(f"align={align!r} is unknown; use 'dtw' or 'none'.")
        # default local map and alignment: the ablation's choice (conf/explainer/fusion.yaml); the paper's
        # recipe is GradCAM(layer="layer4") with align="dtw" (experiment=fusion_paper)
        self.gradcam = gradcam if gradcam is not None else GradCAM(layer="layer2", variant="gradcampp",
                                                                   batch_size=batch_size)
        self.rollout = rollout if rollout is not None else AttentionRollout(batch_size=batch_size)
        self.strategy = fusion_strategy if fusion_strategy is not None else Multiply()
        self.align, self.normalize, self.sakoe_chiba_radius = align, normalize, sakoe_chiba_radius

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, blackbox: nn.Module, datamodule=None, trainer_factory: TrainerFactory | None = None):
        super().fit(blackbox, datamodule, trainer_factory)
        self.gradcam.fit(blackbox)
        self.rollout.fit(blackbox)
        self.strategy.fit(blackbox, self.input_maps, datamodule, trainer_factory)
        return self

    def rebind(self, blackbox: nn.Module) -> FusionExplainer:
        """A copy bound to `blackbox` with both component explainers and the strategy rebound (a trained learned
        fusion keeps its 1×1 weights)."""
        clone = super().rebind(blackbox)
        clone.gradcam = self.gradcam.rebind(blackbox)
        clone.rollout = self.rollout.rebind(blackbox)
        clone.strategy = self.strategy.rebind(blackbox, clone.input_maps)
        return clone

    def explanation_metrics(self, x: torch.Tensor, target: torch.Tensor, meta) -> dict[str, float]:
        """The strategy's own health (a learned fusion: its weights and collapsed fraction; it raises on collapse)."""
        return self.strategy.health(lambda: self.attribute(x, target))

    # -- maps ---------------------------------------------------------------------------------
    def input_maps(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised Grad-CAM and normalised, aligned rollout, both `[B, C, T]`."""
        return _pair(self._maps(x, target))

    def _normalised(self, m: torch.Tensor) -> torch.Tensor:
        if self.normalize == "none":
            return m
        return minmax_per_sample(m, self.strategy.neutral, CONSTANT_SPAN)

    def _maps(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        g = self._normalised(self.gradcam.attribute(x, target))
        r = self._normalised(self.rollout.attribute(x, target))
        if self.align == "none":
            return {"gradcam": g, "rollout": r}
        return {"gradcam": g, "rollout": r, "rollout_aligned": align_maps(g, r, self.align, self.sakoe_chiba_radius)}

    def maps(self, x: torch.Tensor, target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """`gradcam`, `rollout`, `rollout_aligned` (normalised; only when aligning) and `fused`, each `[B, C, T]`."""
        if self.blackbox is None:
            raise RuntimeError("FusionExplainer.maps called before fit(blackbox, ...).")
        if target is None:
            target = self.predict_target(x)
        target = torch.as_tensor(target, device=x.device).long().reshape(-1).expand(len(x))
        out = self._maps(x, target)
        out["fused"] = torch.nan_to_num(self.strategy(*_pair(out)), nan=0.0)
        return out

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.maps(x, target)["fused"]
