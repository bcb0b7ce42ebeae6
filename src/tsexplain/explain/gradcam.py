"""Class-activation maps for 1-D conv backbones, upsampled linearly to the input length.

Variants (`variant=`), with A_k(t) the layer's activations and g_k(t) = ∂y/∂A_k(t):
    gradcam    L(t) = ReLU(Σ_k α_k A_k(t)), α_k = mean_t g_k(t)         captum `LayerGradCam`
    hirescam   L(t) = ReLU(Σ_k g_k(t) A_k(t))  (Draelos & Carin 2020): element-wise, so no time-averaging of
               the gradient blurs the map; captum `LayerGradientXActivation` summed over channels
    gradcampp  Grad-CAM++ (Chattopadhyay et al. 2018): α_k = Σ_t w_k(t) ReLU(g_k(t)) with
               w = g² / (2g² + Σ_t A·g³) (the exponential-output closed form used by pytorch-grad-cam);
               captum has no Grad-CAM++ class, and it needs gradients and activations separately, so it takes
               both from one pass of captum's `compute_layer_gradients_and_eval` (what LayerGradCam uses)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from captum._utils.gradient import compute_layer_gradients_and_eval
from captum.attr import LayerAttribution, LayerGradCam, LayerGradientXActivation

from tsexplain.explain.base import Explainer
from tsexplain.models.backbones.base import HasGradCamLayer

VARIANTS = ("gradcam", "hirescam", "gradcampp")
ALIASES = {"gradcam++": "gradcampp", "grad-cam++": "gradcampp", "grad-cam": "gradcam"}


def cam_from_gradients(grads: torch.Tensor, acts: torch.Tensor, variant: str) -> torch.Tensor:
    """The signed `[B, 1, T']` map of `variant` from layer gradients and activations `[B, K, T']`."""
    if variant == "gradcam":
        return (grads.mean(-1, keepdim=True) * acts).sum(1, keepdim=True)
    if variant == "hirescam":
        return (grads * acts).sum(1, keepdim=True)
    if variant == "gradcampp":
        g2, g3 = grads.pow(2), grads.pow(3)
        denom = 2 * g2 + acts.sum(-1, keepdim=True) * g3
        w = torch.where(grads != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(g2))
        alpha = (w * F.relu(grads)).sum(-1, keepdim=True)
        return (alpha * acts).sum(1, keepdim=True)
    raise ValueError(f"CAM variant={variant!r} is unknown; use one of {', '.join(VARIANTS)}.")


class GradCAM(Explainer):
    """`L(t) = ReLU(Σ_k α_k A_k(t))`, `α_k = mean_t ∂y/∂A_k(t)` on `backbone.gradcam_layer(layer)`
    (`variant="gradcam"`; `hirescam` and `gradcampp` as in the module docstring).

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
        variant: str = "gradcam", batch_size: int = 64,
    ) -> None:
        super().__init__(batch_size=batch_size)
        variant = ALIASES.get(str(variant).lower(), str(variant).lower())
        if variant not in VARIANTS:
            raise ValueError(f"explainer variant={variant!r} is unknown; use one of {', '.join(VARIANTS)} "
                             "(gradcam++ is accepted for gradcampp).")
        self.layer, self.relu_attributions, self.channels_last = layer, relu_attributions, channels_last
        self.variant = variant

    def raw_map(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Grad-CAM at the layer's resolution, `[B, 1, T']` (signed unless `relu_attributions`)."""
        backbone = getattr(self.blackbox, "backbone", self.blackbox)
        layer = backbone.gradcam_layer(self.layer)
        x = x.detach().clone().requires_grad_(True)
        if not self.channels_last and self.variant == "gradcam":
            cam = LayerGradCam(self.blackbox, layer).attribute(
                x, target=target, relu_attributions=self.relu_attributions
            )
        elif not self.channels_last and self.variant == "hirescam":
            cam = LayerGradientXActivation(self.blackbox, layer).attribute(x, target=target).sum(1, keepdim=True)
            cam = F.relu(cam) if self.relu_attributions else cam
        else:
            # LayerGradCam averages gradients over dims ≥ 2, which on [B, T', K] would average away the
            # features; take captum's gradients and activations and apply the formula on the permuted layout.
            # Grad-CAM++ (and any variant on a [B, T', K] layer) needs the raw gradients and activations.
            (grads,), (acts,) = compute_layer_gradients_and_eval(self.blackbox, layer, (x,), target)
            if self.channels_last:
                grads, acts = grads.transpose(1, 2), acts.transpose(1, 2)
            if grads.ndim != 3:
                raise ValueError(f"Grad-CAM layer output must be [B, K, T'] (3-D); got {grads.ndim}-D. "
                                 "Pick a 1-D conv layer with gradcam_layer(name).")
            cam = cam_from_gradients(grads, acts, self.variant)
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
