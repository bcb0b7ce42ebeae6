"""Captum baselines on models whose attributions are known in closed form."""

import numpy as np
import pytest
import torch

from tsexplain.explain.captum_baselines import (
    AmplitudeExplainer,
    FeatureAblation,
    GradientShap,
    IntegratedGradients,
    Occlusion,
    RandomExplainer,
    Saliency,
    SmoothGrad,
)

C, T, B = 2, 16, 3


def _check(sal, x):
    assert sal.shape == x.shape
    assert torch.isfinite(sal).all() and (sal >= 0).all()
    assert sal.std() > 0  # not a constant map


def test_saliency_equals_abs_weight(tiny):
    model, x = tiny.LinearModel(C, T), torch.randn(B, C, T)
    sal = Saliency().fit(model).attribute(x, target=0)
    _check(sal, x)
    assert torch.allclose(sal, model.w.detach().abs().expand(B, C, T))


def test_integrated_gradients_completeness_on_linear_model(tiny):
    model, x = tiny.LinearModel(C, T), torch.randn(B, C, T)
    sal = IntegratedGradients(n_steps=8).fit(model).attribute(x, target=torch.tensor([0, 1, 0]))
    _check(sal, x)
    assert torch.allclose(sal, (model.w.detach() * x).abs(), atol=1e-5)


def test_positive_part_keeps_only_positive_evidence(tiny):
    model, x = tiny.LinearModel(C, T), torch.randn(B, C, T)
    pos = IntegratedGradients(n_steps=8, sign="positive").fit(model).attribute(x, target=0)
    wx = model.w.detach() * x
    assert torch.allclose(pos, wx.clamp_min(0), atol=1e-5)
    assert (pos[wx < 0] == 0).all()
    with pytest.raises(ValueError, match="abs"):
        Saliency(sign="both")


def test_smoothgrad_and_gradient_shap_on_linear_model(tiny):
    model, x = tiny.LinearModel(C, T), torch.randn(B, C, T)
    sg = SmoothGrad(nt_samples=4, stdevs=0.5).fit(model).attribute(x, target=0)
    _check(sg, x)
    assert torch.allclose(sg, model.w.detach().abs().expand(B, C, T), atol=1e-5)  # constant gradient
    gs = GradientShap(n_samples=8).fit(model).attribute(x, target=0)  # zero baseline: E[∇]·x = w·x
    assert torch.allclose(gs, (model.w.detach() * x).abs(), atol=1e-4)


def test_gradient_shap_uses_training_baselines(tiny):
    model, x = tiny.LinearModel(C, T), torch.randn(B, C, T)
    train = torch.randn(10, C, T)
    gs = GradientShap(n_samples=64, n_baselines=10).fit(model, tiny.DictLoader(train, torch.zeros(10)))
    assert gs.baselines.shape == (10, C, T)
    a = gs.attribute(x, target=0)
    b = gs.attribute(x, target=0)
    assert torch.equal(a, b)  # seeded
    assert not torch.allclose(a, (model.w.detach() * x).abs(), atol=1e-3)  # baseline is not zero


@pytest.mark.parametrize("per_channel", [True, False])
def test_occlusion_highlights_the_window_the_model_reads(tiny, per_channel):
    model, x = tiny.WindowModel(10, 15), torch.randn(B, C, 32) + 2.0
    sal = Occlusion(width=3, stride=1, per_channel=per_channel).fit(model).attribute(x, target=0)
    _check(sal, x)
    profile = sal[:, 0]
    assert ((profile.argmax(-1) >= 10) & (profile.argmax(-1) < 15)).all()
    assert (profile[:, :8] == 0).all() and (profile[:, 17:] == 0).all()  # windows not touching [10, 15)
    if per_channel:
        assert (sal[:, 1] == 0).all()
    else:
        assert torch.allclose(sal[:, 1], sal[:, 0])  # one window over all channels


def test_feature_ablation_segments(tiny):
    model, x = tiny.WindowModel(10, 15), torch.randn(B, C, 32) + 2.0
    fa = FeatureAblation(segment_len=5).fit(model)
    mask = fa.feature_mask(C, 32)
    assert mask.shape == (1, C, 32) and mask.unique().numel() == C * 7
    sal = fa.attribute(x, target=0)
    expect = torch.zeros_like(x)
    expect[:, 0, 10:15] = (x[:, 0, 10:15] ** 2).sum(-1, keepdim=True)  # ablating the segment removes all of y
    assert torch.allclose(sal, expect, atol=1e-4)
    shared = FeatureAblation(segment_len=5, per_channel=False).feature_mask(C, 32)
    assert torch.equal(shared[0, 0], shared[0, 1])


def test_random_is_seeded_and_reproducible():
    x = torch.randn(B, C, T)
    a = RandomExplainer(seed=3).attribute(x)
    assert torch.equal(a, RandomExplainer(seed=3).attribute(x))
    r = RandomExplainer(seed=3)
    assert torch.equal(r.attribute(x), r.attribute(x))  # repeated calls agree too
    assert not torch.equal(a, RandomExplainer(seed=4).attribute(x))
    assert ((a >= 0) & (a < 1)).all()


def test_amplitude_matches_numpy():
    x = torch.randn(B, C, T + 1)  # odd and even lengths differ in how the median is taken
    for xx in (x, x[..., :T]):
        sal = AmplitudeExplainer().attribute(xx)
        ref = np.abs(xx.numpy() - np.median(xx.numpy(), axis=-1, keepdims=True))
        np.testing.assert_allclose(sal.numpy(), ref, atol=1e-6)


def test_attribute_before_fit_fails_loudly(tiny):
    with pytest.raises(RuntimeError, match="fit"):
        Saliency().attribute(torch.randn(1, C, T))
