"""Grad-CAM for 1-D conv backbones via captum `LayerGradCam`, upsampled linearly to the input length."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from captum._utils.gradient import compute_layer_gradients_and_eval
from captum.attr import LayerAttribution, LayerGradCam

from tsexplain.explain.base import Explainer
from tsexplain.models.backbones.base import HasGradCamLayer


class GradCAM(Explainer):
    """`L(t) = ReLU(Σ_k α_k A_k(t))`, `α_k = mean_t ∂y/∂A_k(t)` on `backbone.gradcam_layer(layer)`.

    The layer output is `[B, K, T']` (set `channels_last=True` for `[B, T', K]`); the map is upsampled
    to T with linear interpolation and broadcast to every channel (Grad-CAM has no channel axis) → `[B, C, T]`.
    `relu_attributions=False` keeps the signed map in `raw_map` and returns `|L|` from `attribute`.
    Regression models are explained through output index 0 (the base class's default target).
    """

    name = "gradcam"
    requires = (HasGradCamLayer,)
    supported_models = ("resnet", "resnet_tf")

    def __init__(
        self, layer: str | None = None, relu_attributions: bool = True, channels_last: bool = False,
        batch_size: int = 64,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.layer, self.relu_attributions, self.channels_last = layer, relu_attributions, channels_last

    def raw_map(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Grad-CAM at the layer's resolution, `[B, 1, T']` (signed unless `relu_attributions`)."""
        backbone = getattr(self.blackbox, "backbone", self.blackbox)
        layer = backbone.gradcam_layer(self.layer)
        x = x.detach().clone().requires_grad_(True)
        if not self.channels_last:
            cam = LayerGradCam(self.blackbox, layer).attribute(
                x, target=target, relu_attributions=self.relu_attributions
            )
        else:
            # LayerGradCam averages gradients over dims ≥ 2, which on [B, T', K] would average away the
            # features; take captum's gradients and activations and apply the formula on the permuted layout.
            (grads,), (acts,) = compute_layer_gradients_and_eval(self.blackbox, layer, (x,), target)
            grads, acts = grads.transpose(1, 2), acts.transpose(1, 2)
            cam = (grads.mean(-1, keepdim=True) * acts).sum(1, keepdim=True)
            cam = F.relu(cam) if self.relu_attributions else cam
        if cam.ndim != 3:
            raise ValueError(
                f"Grad-CAM layer output must be [B, K, T'] (3-D); got {cam.ndim}-D. "
                "Pick a 1-D conv layer with gradcam_layer(name)."
            )
        return cam.detach()

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        cam = self.raw_map(x, target)
        cam = LayerAttribution.interpolate(cam, (x.shape[-1],), "linear")
        # without the ReLU, negative evidence counts as importance too (|L|) rather than being clamped away
        cam = cam if self.relu_attributions else cam.abs()
        return cam.expand(-1, x.shape[1], -1)
