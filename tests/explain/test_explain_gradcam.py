"""Grad-CAM against a hand computation with torch autograd."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.explain.gradcam import GradCAM
from tsexplain.models.backbones.base import HasGradCamLayer

C, T, B = 2, 20, 4


def _hand_cam(model, x, target, relu=True):
    """α_k = mean_t ∂y/∂A_k(t); L = ReLU(Σ_k α_k A_k); written without captum."""
    x = x.clone().requires_grad_(True)
    acts = model.conv(x)
    y = model.head(torch.tanh(acts).mean(-1)).gather(1, target[:, None]).sum()
    (grads,) = torch.autograd.grad(y, acts)
    cam = (grads.mean(-1, keepdim=True) * acts).sum(1, keepdim=True).detach()
    return F.relu(cam) if relu else cam


def test_gradcam_matches_hand_computation(tiny):
    model, x = tiny.TinyConv(C), torch.randn(B, C, T)
    target = torch.tensor([0, 1, 2, 0])
    gc = GradCAM().fit(model)
    sal = gc.attribute(x, target)
    cam = _hand_cam(model, x, target)
    assert cam.shape[-1] == 10  # the layer is strided: upsampling does something
    expect = tiny.interp_linear(cam, T).expand(B, C, T)
    assert sal.shape == (B, C, T)
    assert torch.allclose(sal, expect, atol=1e-6)
    assert torch.allclose(sal[:, 0], sal[:, 1])  # one map over time, broadcast to channels


def test_relu_option_changes_negatives(tiny):
    torch.manual_seed(1)
    model, x = tiny.TinyConv(C), torch.randn(B, C, T)
    target = torch.zeros(B, dtype=torch.long)
    signed = GradCAM(relu_attributions=False).fit(model)
    raw = signed.raw_map(x, target)
    assert (raw < 0).any(), "test needs a map with negative evidence"
    assert torch.allclose(raw, _hand_cam(model, x, target, relu=False), atol=1e-6)
    relu_map = GradCAM().fit(model).attribute(x, target)
    abs_map = signed.attribute(x, target)
    assert torch.allclose(abs_map, tiny.interp_linear(raw, T).abs().expand(B, C, T), atol=1e-6)
    assert not torch.allclose(relu_map, abs_map)


class ChannelsLast(nn.Module, HasGradCamLayer):
    """A layer with output [B, T, K]: Grad-CAM must average gradients over time, not over features."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(C, 3)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(torch.tanh(self.proj(x.transpose(1, 2))).mean(1))

    def gradcam_layer(self, name=None):
        return self.proj


def test_channels_last_layer_is_permuted():
    model, x = ChannelsLast(), torch.randn(B, C, T)
    target = torch.ones(B, dtype=torch.long)
    xr = x.clone().requires_grad_(True)
    acts = model.proj(xr.transpose(1, 2))  # [B, T, K]
    y = model.head(torch.tanh(acts).mean(1)).gather(1, target[:, None]).sum()
    (g,) = torch.autograd.grad(y, acts)
    expect = F.relu((g.mean(1, keepdim=True) * acts).sum(-1)).detach()  # [B, T]
    sal = GradCAM(channels_last=True).fit(model).attribute(x, target)
    assert torch.allclose(sal[:, 0], expect, atol=1e-6)


def test_regression_uses_output_zero(tiny):
    model, x = tiny.TinyConv(C, n_out=1), torch.randn(B, C, T)
    model.task = "regression"
    sal = GradCAM().fit(model).attribute(x)
    assert torch.allclose(sal, tiny.interp_linear(_hand_cam(model, x, torch.zeros(B, dtype=torch.long)), T)
                          .expand(B, C, T), atol=1e-6)


def test_gradcam_rejects_models_without_a_conv_layer(tiny):
    with pytest.raises(ValueError, match="resnet"):
        GradCAM().fit(tiny.TinyLSTM(C))


def _hand_grads(model, x, target):
    """Layer activations A and gradients ∂y/∂A of TinyConv, by torch autograd."""
    x = x.clone().requires_grad_(True)
    acts = model.conv(x)
    y = model.head(torch.tanh(acts).mean(-1)).gather(1, target[:, None]).sum()
    (grads,) = torch.autograd.grad(y, acts)
    return grads.detach(), acts.detach()


def test_hirescam_is_elementwise_gradient_times_activation(tiny):
    model, x = tiny.TinyConv(C), torch.randn(B, C, T)
    target = torch.tensor([0, 1, 2, 0])
    g, a = _hand_grads(model, x, target)
    expect = tiny.interp_linear(F.relu((g * a).sum(1, keepdim=True)), T).expand(B, C, T)
    sal = GradCAM(variant="hirescam").fit(model).attribute(x, target)
    assert torch.allclose(sal, expect, atol=1e-6)
    assert not torch.allclose(sal, GradCAM().fit(model).attribute(x, target), atol=1e-4)  # not Grad-CAM


def test_gradcampp_matches_the_closed_form(tiny):
    model, x = tiny.TinyConv(C), torch.randn(B, C, T)
    target = torch.tensor([2, 1, 0, 1])
    g, a = _hand_grads(model, x, target)
    alpha = g**2 / (2 * g**2 + a.sum(-1, keepdim=True) * g**3)  # Chattopadhyay et al. 2018, Eq. 19
    weights = (alpha * F.relu(g)).sum(-1, keepdim=True)  # [B, K, 1]
    expect = tiny.interp_linear(F.relu((weights * a).sum(1, keepdim=True)), T).expand(B, C, T)
    for name in ("gradcampp", "gradcam++"):
        sal = GradCAM(variant=name).fit(model).attribute(x, target)
        assert torch.allclose(sal, expect, atol=1e-5), name
    assert not torch.allclose(sal, GradCAM().fit(model).attribute(x, target), atol=1e-4)


def test_unknown_cam_variant_names_the_choices():
    with pytest.raises(ValueError, match="gradcam, hirescam, gradcampp"):
        GradCAM(variant="scorecam")


def test_rebind_swaps_the_black_box_and_checks_it(tiny):
    a, b, x = tiny.TinyConv(C), tiny.TinyConv(C), torch.randn(B, C, T)
    target = torch.zeros(B, dtype=torch.long)
    gc = GradCAM(variant="hirescam").fit(a)
    other = gc.rebind(b)
    assert other is not gc and other.blackbox is b and gc.blackbox is a and other.variant == "hirescam"
    assert torch.allclose(other.attribute(x, target), GradCAM(variant="hirescam").fit(b).attribute(x, target))
    assert not torch.allclose(other.attribute(x, target), gc.attribute(x, target))
    with pytest.raises(ValueError, match="resnet"):
        gc.rebind(tiny.TinyLSTM(C))
