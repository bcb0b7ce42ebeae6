"""Fusion of Grad-CAM (ResNet branch) and attention rollout (Transformer branch), after arXiv 2507.00234.

Pipeline per sample: both maps → per-sample min–max to [0, 1] → rollout warped onto Grad-CAM's time
axis by DTW → fusion. Strategies (G = Grad-CAM, R = aligned rollout, both normalised):
    multiply   G·R                 the paper's choice: a consensus filter
    mean       (G + R)/2
    weighted   α·G + (1−α)·R
    max        max(G, R)
    geometric  sqrt(G·R)
    concat     (G + R)/2           our reading of the paper's "concatenation" baseline: stack [G; R] as two
                                   channels and project back to one map with a fixed, equal-weight 1×1
                                   projection (the paper compares H_cat with H* directly, so it must be one
                                   map; with no learned weights the projection is the mean)
    learned    LearnedFusion       the same 1×1 projection, trained for faithfulness (see learned_fusion.py)
A constant map carries no ranking (e.g. an all-zero Grad-CAM after its ReLU, common on layer4 of an
untrained or unsure ResNet): it is set to the fusion's neutral element (1, or 0 for max) so the other
map decides and no strategy returns NaN or an empty map.
"""

from __future__ import annotations

import copy
from typing import Literal

import lightning as L
import torch
from torch import nn

from tsexplain.explain.align import Align, align_maps
from tsexplain.explain.base import Explainer, TrainerFactory
from tsexplain.explain.gradcam import GradCAM
from tsexplain.explain.learned_fusion import MONITOR, LearnedFusion
from tsexplain.explain.rollout import AttentionRollout
from tsexplain.models.backbones.base import HasAttention, HasGradCamLayer
from tsexplain.utils.tensors import frozen, minmax_per_sample

Fusion = Literal["multiply", "mean", "weighted", "max", "geometric", "concat", "learned"]
FIXED_FUSIONS = ("multiply", "mean", "weighted", "max", "geometric", "concat")


def minmax(m: torch.Tensor, constant: float = 0.0, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample min–max over `[C, T]` to [0, 1]; a constant sample becomes `constant` everywhere (not NaN)."""
    return minmax_per_sample(m, constant, eps)


def fuse(gradcam: torch.Tensor, rollout: torch.Tensor, fusion: str = "multiply", alpha: float = 0.5) -> torch.Tensor:
    """One of the fixed strategies above on two maps of one shape."""
    if fusion == "multiply":
        return gradcam * rollout
    if fusion in ("mean", "concat"):
        return 0.5 * (gradcam + rollout)
    if fusion == "weighted":
        return alpha * gradcam + (1 - alpha) * rollout
    if fusion == "max":
        return torch.maximum(gradcam, rollout)
    if fusion == "geometric":
        return (gradcam * rollout).clamp_min(0).sqrt()
    raise ValueError(f"fusion={fusion!r} is unknown; use one of {', '.join(FIXED_FUSIONS)}, learned.")


def _default_trainer(*, max_epochs: int, monitor: str | None = None, mode: str = "min") -> L.Trainer:
    """A CPU Trainer without logger or checkpoints, for use outside a run (the pipeline passes its own factory)."""
    return L.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False,
                     enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)


class FusionExplainer(Explainer):
    """Grad-CAM × attention rollout on a dual-branch model (`model=resnet_tf`); see the module docstring."""

    name = "fusion"
    has_maps = True
    requires = (HasGradCamLayer, HasAttention)
    supported_models = ("resnet_tf",)

    def __init__(
        self,
        gradcam: GradCAM | None = None,
        rollout: AttentionRollout | None = None,
        fusion: Fusion = "multiply",
        alpha: float = 0.5,
        align: Align = "none",
        normalize: Literal["minmax", "none"] = "minmax",
        sakoe_chiba_radius: int | None = 10,
        learned: LearnedFusion | None = None,
        max_epochs: int = 3,
        batch_size: int = 64,
    ) -> None:
        super().__init__(batch_size=batch_size)
        if fusion not in (*FIXED_FUSIONS, "learned"):
            raise ValueError(f"fusion={fusion!r} is unknown; use one of {', '.join(FIXED_FUSIONS)}, learned.")
        if normalize not in ("minmax", "none"):
            raise ValueError(f"normalize={normalize!r} is unknown; use 'minmax' or 'none'.")
        if align not in ("dtw", "none"):
            raise ValueError(f"align={align!r} is unknown; use 'dtw' or 'none'.")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha={alpha} must lie in [0, 1].")
        # default local map and alignment: the ablation's choice (conf/explainer/fusion.yaml); the paper's
        # recipe is GradCAM(layer="layer4") with align="dtw" (experiment=fusion_paper)
        self.gradcam = gradcam if gradcam is not None else GradCAM(layer="layer2", variant="gradcampp",
                                                                   batch_size=batch_size)
        self.rollout = rollout if rollout is not None else AttentionRollout(batch_size=batch_size)
        self.fusion, self.alpha, self.align, self.normalize = fusion, alpha, align, normalize
        self.sakoe_chiba_radius, self.max_epochs = sakoe_chiba_radius, max_epochs
        self.learned = learned if learned is not None else (LearnedFusion() if fusion == "learned" else None)
        self.trained = False

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, blackbox: nn.Module, datamodule=None, trainer_factory: TrainerFactory | None = None):
        super().fit(blackbox, datamodule, trainer_factory)
        self.gradcam.fit(blackbox)
        self.rollout.fit(blackbox)
        if self.fusion == "learned":
            if datamodule is None:
                raise ValueError("fusion=learned trains on data: call fit(blackbox, datamodule) with a datamodule.")
            self.train_learned(blackbox, datamodule, trainer_factory)
        return self

    def rebind(self, blackbox: nn.Module) -> FusionExplainer:
        """A copy bound to `blackbox` with both component explainers rebound; a trained `learned` fusion keeps
        its 1×1 weights (it reads only the two maps, so it follows the new black box through them)."""
        clone = super().rebind(blackbox)
        clone.gradcam = self.gradcam.rebind(blackbox)
        clone.rollout = self.rollout.rebind(blackbox)
        if self.learned is not None:
            clone.learned = copy.deepcopy(self.learned)
            if self.learned._bound:
                clone.learned.bind(blackbox, clone.input_maps)
        return clone

    def train_learned(self, blackbox: nn.Module, datamodule, trainer_factory: TrainerFactory | None = None):
        """Fit the 1×1 fusion on the train split (val split, when there is one, logs `fusion/val/loss` for callbacks)
        with the black box frozen, then restore its `requires_grad` flags and device."""
        with frozen(blackbox):
            self.learned.bind(blackbox, self.input_maps)
            val = datamodule.val_dataloader() if hasattr(datamodule, "val_dataloader") else None
            trainer = (trainer_factory or _default_trainer)(max_epochs=self.max_epochs,
                                                            monitor=MONITOR if val is not None else None)
            trainer.fit(self.learned, train_dataloaders=datamodule.train_dataloader(), val_dataloaders=val)
        self.learned.eval()
        self.trained = True
        return self

    # -- health of the learned fusion --------------------------------------------------------
    #: A learned fusion whose maps are constant (span < this) on more than half the samples has collapsed.
    collapse_tol: float = 1e-3

    def explanation_metrics(self, x: torch.Tensor, target: torch.Tensor, meta) -> dict[str, float]:
        """fusion=learned only: the 1×1 weights and the fraction of samples whose fused map is constant;
        a collapsed fit (more than half constant) raises instead of letting its scores be reported."""
        if self.fusion != "learned" or not self.trained:
            return {}
        fused = self.attribute(x, target).reshape(len(x), -1)
        collapsed = float(((fused.amax(1) - fused.amin(1)) < self.collapse_tol).float().mean())
        w, b = self.learned.conv.weight.detach().flatten().cpu(), float(self.learned.conv.bias.detach())
        out = {"learned_w_gradcam": float(w[0]), "learned_w_rollout": float(w[1]), "learned_bias": b,
               "learned_collapsed_fraction": collapsed}
        if collapsed > 0.5:
            raise RuntimeError(
                f"fusion=learned collapsed: {collapsed:.0%} of the explained samples get a constant map "
                f"(weights gradcam {w[0]:.3g}, rollout {w[1]:.3g}, bias {b:.3g}), so its scores would mean nothing "
                "and are not reported. Lower explainer.learned.area_weight or lr, train longer "
                "(explainer.max_epochs), or use a fixed fusion (explainer.fusion=mean|multiply).")
        return out

    # -- maps ---------------------------------------------------------------------------------
    def input_maps(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised Grad-CAM and normalised, aligned rollout, both `[B, C, T]`."""
        m = self._maps(x, target)
        return m["gradcam"], m.get("rollout_aligned", m["rollout"])

    def _maps(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        neutral = 0.0 if self.fusion == "max" else 1.0
        norm = (lambda t: minmax(t, neutral)) if self.normalize == "minmax" else (lambda t: t)
        g = norm(self.gradcam.attribute(x, target))
        r = norm(self.rollout.attribute(x, target))
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
        g, r = out["gradcam"], out.get("rollout_aligned", out["rollout"])
        if self.fusion == "learned":
            if not self.trained:
                raise RuntimeError("fusion=learned is untrained: call fit(blackbox, datamodule) first.")
            with torch.no_grad():
                fused = self.learned.to(x.device)(g, r)
        else:
            fused = fuse(g, r, self.fusion, self.alpha)
        out["fused"] = torch.nan_to_num(fused, nan=0.0)
        return out

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.maps(x, target)["fused"]
