"""`LearnedFusion`: a 1×1-conv fusion of two normalised maps, trained for faithfulness to a frozen black box.

Objective per batch (soft mask M = the fused map in [0, 1], baseline b = per-channel time mean or 0):
    L = (1 − s(x·M + b·(1−M)))  +  s(x·(1−M) + b·M)  +  λ·mean(M)
where s is the black box's score of the explained target (softmax probability, sigmoid for multilabel,
1 − tanh|Δy| for regression): keeping the map's top must preserve the prediction (insertion), deleting it
must destroy it (deletion), and the area term keeps the map sparse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.tasks import Regression, task_of
from tsexplain.utils.tensors import default_target

#: Its training logs `fusion/train/...`, `fusion/val/...`, apart from the black box's own `train/` and `val/` keys.
LOG_NAMESPACE = "fusion"
MONITOR = f"{LOG_NAMESPACE}/val/loss"

MapFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class LearnedFusion(L.LightningModule):
    """Fuses `(gradcam, rollout) [B, C, T]` → `[B, C, T]` with a 1×1 conv and a sigmoid/softplus output."""

    def __init__(
        self,
        activation: Literal["sigmoid", "softplus"] = "sigmoid",
        area_weight: float = 0.1,
        baseline: Literal["mean", "zeros"] = "mean",
        lr: float = 5e-2,
    ) -> None:
        super().__init__()
        if activation not in ("sigmoid", "softplus"):
            raise ValueError(f"activation={activation!r} is unknown; use 'sigmoid' or 'softplus'.")
        if baseline not in ("mean", "zeros"):
            raise ValueError(f"baseline={baseline!r} is unknown; use 'mean' or 'zeros'.")
        self.save_hyperparameters()
        self.conv = nn.Conv2d(2, 1, kernel_size=1)
        with torch.no_grad():  # start as an even mix of the two maps
            self.conv.weight.fill_(1.0)
            self.conv.bias.fill_(-1.0)
        self._bound: dict = {}  # black box and map function live outside the module (not trained, not saved)

    def bind(self, blackbox: nn.Module, map_fn: MapFn) -> LearnedFusion:
        """Attach the frozen black box and `map_fn(x, target) -> (gradcam, rollout)` (normalised, aligned)."""
        self._bound = {"blackbox": blackbox, "map_fn": map_fn}
        return self

    def forward(self, gradcam: torch.Tensor, rollout: torch.Tensor) -> torch.Tensor:
        z = self.conv(torch.stack([gradcam, rollout], 1))[:, 0]
        return torch.sigmoid(z) if self.hparams.activation == "sigmoid" else F.softplus(z)

    def mask(self, fused: torch.Tensor) -> torch.Tensor:
        """Soft keep-mask in [0, 1] from the fused map (softplus maps [0, ∞) through 1 − e^(−m))."""
        return fused if self.hparams.activation == "sigmoid" else 1 - torch.exp(-fused)

    def _score(self, x: torch.Tensor, target: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        out = self._bound["blackbox"](x)
        task = task_of(self._bound["blackbox"])
        if isinstance(task, Regression):  # no probability: closeness to the clean output
            return 1 - torch.tanh((out - ref).abs()).gather(1, target[:, None])[:, 0]
        return task.probabilities(out).gather(1, target[:, None])[:, 0]

    def objective(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Insertion, deletion and area terms and their sum `loss` for one batch."""
        if not self._bound:
            raise RuntimeError("LearnedFusion.bind(blackbox, map_fn) must be called before training.")
        gradcam, rollout = self._bound["map_fn"](x, target)
        m = self.mask(self(gradcam.to(x), rollout.to(x)))
        base = x.mean(-1, keepdim=True) if self.hparams.baseline == "mean" else torch.zeros_like(x)
        with torch.no_grad():
            ref = self._bound["blackbox"](x)
        keep = self._score(m * x + (1 - m) * base, target, ref)
        delete = self._score((1 - m) * x + m * base, target, ref)
        terms = {"insertion": (1 - keep).mean(), "deletion": delete.mean(), "area": m.mean()}
        terms["loss"] = terms["insertion"] + terms["deletion"] + self.hparams.area_weight * terms["area"]
        return terms

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        return default_target(self._bound["blackbox"], x, len(x))

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        x = batch["x"].float()
        terms = self.objective(x, self._target(x))
        self.log_dict({f"{LOG_NAMESPACE}/{stage}/{k}": v for k, v in terms.items()}, on_step=False, on_epoch=True,
                      batch_size=len(x))
        return terms["loss"]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        # Grad-CAM needs autograd, which Lightning's validation inference mode switches off
        with torch.inference_mode(False), torch.enable_grad():
            self._step({"x": batch["x"].clone()}, "val")

    def on_fit_start(self) -> None:
        self._bound["blackbox"].to(self.device)

    def configure_optimizers(self):
        return torch.optim.Adam(self.conv.parameters(), lr=self.hparams.lr)
