"""Fusion strategies, the FusionExplainer on a tiny dual-branch model, and learned fusion training."""

import pytest
import torch
from hydra.errors import ConfigCompositionException, InstantiationException
from hydra.utils import instantiate

from tsexplain.explain import fusion_strategies as fs
from tsexplain.explain.fusion import FusionExplainer
from tsexplain.explain.gradcam import GradCAM
from tsexplain.explain.learned_fusion import LearnedFusion
from tsexplain.explain.rollout import AttentionRollout
from tsexplain.utils.compose import compose_option
from tsexplain.utils.tensors import minmax_per_sample

C, T, B = 2, 32, 4
FIXED = {"multiply": fs.Multiply(), "mean": fs.Mean(), "concat": fs.Concat(), "weighted": fs.Weighted(alpha=0.25),
         "max": fs.Max(), "geometric": fs.Geometric()}


def minmax(m, constant=0.0):
    return minmax_per_sample(m, constant, 1e-12)  # as the fusion normalises its two maps


def test_each_fixed_strategy_formula():
    g = torch.tensor([[[0.0, 0.5, 1.0, 0.25]]])
    r = torch.tensor([[[1.0, 0.5, 0.0, 1.0]]])
    expect = {
        "multiply": [0.0, 0.25, 0.0, 0.25],
        "mean": [0.5, 0.5, 0.5, 0.625],
        "concat": [0.5, 0.5, 0.5, 0.625],
        "weighted": [0.75, 0.5, 0.25, 0.8125],  # α = 0.25: 0.25·g + 0.75·r
        "max": [1.0, 0.5, 1.0, 1.0],
        "geometric": [0.0, 0.5, 0.0, 0.5],
    }
    for name, e in expect.items():
        assert torch.allclose(FIXED[name](g, r), torch.tensor([[e]])), name
    with pytest.raises(ValueError, match="multiply"):  # the former string form names the new syntax
        FusionExplainer(fusion_strategy="product")
    with pytest.raises(ValueError, match="alpha"):
        fs.Weighted(alpha=1.5)


def test_minmax_is_per_sample_and_constant_maps_give_no_nan():
    m = torch.stack([torch.linspace(0, 4, C * T).reshape(C, T), torch.full((C, T), 3.0)])
    n = minmax(m)
    assert n[0].min() == 0 and n[0].max() == 1
    assert torch.equal(n[1], torch.zeros(C, T))
    assert torch.equal(minmax(m, constant=1.0)[1], torch.ones(C, T))
    for strategy in FIXED.values():
        assert torch.isfinite(strategy(n[1:], n[:1])).all()


def _fusion(tiny, **kw):
    model = tiny.TinyDual(C, T)
    return model, FusionExplainer(GradCAM(), AttentionRollout(), **{"align": "dtw", **kw}).fit(model)


def test_maps_are_normalised_aligned_and_fused(tiny):
    model, fx = _fusion(tiny, fusion_strategy=fs.Multiply(), sakoe_chiba_radius=4)
    x = torch.randn(B, C, T)
    m = fx.maps(x)
    assert set(m) == {"gradcam", "rollout", "rollout_aligned", "fused"}
    for v in m.values():
        assert v.shape == (B, C, T) and torch.isfinite(v).all()
    for k in ("gradcam", "rollout"):
        flat = m[k].reshape(B, -1)
        assert torch.allclose(flat.max(1).values, torch.ones(B)) and (flat.min(1).values == 0).all()
    assert torch.allclose(m["fused"], m["gradcam"] * m["rollout_aligned"])
    assert torch.allclose(fx.attribute(x), m["fused"])
    none = FusionExplainer(GradCAM(), AttentionRollout(), align="none").fit(model).maps(x)
    assert "rollout_aligned" not in none  # nothing aligned, so no second copy of the rollout map
    assert torch.allclose(none["fused"], none["gradcam"] * none["rollout"])


def test_multiply_of_a_constant_map_gives_no_nan(tiny):
    _, fx = _fusion(tiny, align="none")
    x = torch.zeros(B, C, T)  # zero input: the Grad-CAM map is constant
    sal = fx.attribute(x)
    assert torch.isfinite(sal).all()
    m = fx.maps(x)
    assert torch.equal(m["gradcam"], torch.ones(B, C, T))  # neutral element of multiply
    assert torch.allclose(sal, m["rollout"])  # so the other map decides
    _, fmax = _fusion(tiny, fusion_strategy=fs.Max(), align="none")
    assert torch.equal(fmax.maps(x)["gradcam"], torch.zeros(B, C, T))  # neutral element of max


def test_fusion_needs_a_dual_branch_model(tiny):
    with pytest.raises(ValueError, match="resnet_tf"):
        FusionExplainer().fit(tiny.TinyConv(C))
    with pytest.raises(ValueError, match="learned"):
        FusionExplainer(fusion="sum")
    with pytest.raises(ValueError, match="explainer/fusion_strategy=mean"):  # `explainer.fusion=mean` in a run
        FusionExplainer(fusion="mean")


def test_learned_fusion_loss_is_finite_and_decreases(tiny):
    torch.manual_seed(0)
    model, fx = _fusion(tiny, align="none")  # its input_maps feed the learned fusion
    x = torch.randn(16, C, T)
    target = model(x).argmax(-1)
    lf = LearnedFusion(lr=0.1).bind(model.requires_grad_(False), fx.input_maps)
    opt = lf.configure_optimizers()
    losses = []
    for _ in range(15):
        terms = lf.objective(x, target)
        assert all(torch.isfinite(v) for v in terms.values())
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(float(terms["loss"]))
    assert losses[-1] < losses[0] - 1e-3


def test_learned_fusion_fits_through_a_trainer_and_restores_the_black_box(tiny):
    torch.manual_seed(0)
    model = tiny.TinyDual(C, T)
    model.head.weight.requires_grad_(False)  # a user's own frozen part must stay frozen
    flags = [p.requires_grad for p in model.parameters()]
    data = tiny.DictLoader(torch.randn(16, C, T), torch.zeros(16, dtype=torch.long))
    fx = FusionExplainer(GradCAM(), AttentionRollout(), fusion_strategy=fs.Learned(max_epochs=2), align="none")
    w0 = fx.strategy.module.conv.weight.detach().clone()
    with pytest.raises(RuntimeError, match="fit"):
        FusionExplainer(fusion_strategy=fs.Learned()).maps(torch.randn(1, C, T))
    fx.fit(model, data)
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not model.training
    assert not torch.equal(fx.strategy.module.conv.weight, w0)
    sal = fx.attribute(torch.randn(B, C, T))
    assert sal.shape == (B, C, T) and torch.isfinite(sal).all() and ((sal >= 0) & (sal <= 1)).all()
    with pytest.raises(ValueError, match="datamodule"):
        FusionExplainer(fusion_strategy=fs.Learned()).fit(model)


def test_fusion_rebind_rebinds_both_components(tiny):
    a, b, x = tiny.TinyDual(2, 32), tiny.TinyDual(2, 32), torch.randn(4, 2, 32)
    target = torch.zeros(4, dtype=torch.long)
    fx = FusionExplainer(align="none").fit(a)
    other = fx.rebind(b)
    assert other.gradcam.blackbox is b and other.rollout.blackbox is b and fx.gradcam.blackbox is a
    assert torch.allclose(other.attribute(x, target), FusionExplainer(align="none").fit(b).attribute(x, target))
    assert not torch.allclose(other.attribute(x, target), fx.attribute(x, target))


def test_learned_fusion_reports_health_and_refuses_a_collapsed_fit(tiny):
    model, x = tiny.TinyDual(2, 32), torch.randn(6, 2, 32)
    target = torch.zeros(6, dtype=torch.long)
    fx = FusionExplainer(fusion_strategy=fs.Learned(), align="none").fit(model, tiny.DictLoader(x, target), None)
    health = fx.explanation_metrics(x, target, None)
    assert health["learned_collapsed_fraction"] < 0.5
    assert health["learned_w_gradcam"] == pytest.approx(float(fx.strategy.module.conv.weight.flatten()[0]))
    with torch.no_grad():  # a fit that ignores both maps: every fused map is one constant
        fx.strategy.module.conv.weight.zero_()
        fx.strategy.module.conv.bias.fill_(8.0)
    with pytest.raises(RuntimeError, match="collapsed: 100%"):
        fx.explanation_metrics(x, target, None)


# The former `fuse(g, r, fusion, alpha=0.5)` switch, kept here as the reference the strategy objects must match.
FORMER = {
    "multiply": lambda g, r: g * r,
    "mean": lambda g, r: 0.5 * (g + r),
    "concat": lambda g, r: 0.5 * (g + r),
    "weighted": lambda g, r: 0.5 * g + 0.5 * r,
    "max": torch.maximum,
    "geometric": lambda g, r: (g * r).clamp_min(0).sqrt(),
}


@pytest.mark.parametrize("name", sorted(FORMER))
def test_strategy_chosen_by_its_config_group_gives_the_former_numbers(name, make_cfg, tiny):
    ex = instantiate(make_cfg([f"explainer/fusion_strategy={name}", "explainer.align=none"]).explainer)
    assert type(ex.strategy).name == name
    model, x = tiny.TinyDual(C, T), torch.randn(B, C, T)
    x[0] = 0.0  # a constant Grad-CAM map: the neutral element (0 for max, else 1) stands in for it
    target = torch.zeros(B, dtype=torch.long)
    ex.fit(model)
    neutral = 0.0 if name == "max" else 1.0
    g = minmax(GradCAM(layer="layer2", variant="gradcampp").fit(model).attribute(x, target), neutral)
    r = minmax(AttentionRollout().fit(model).attribute(x, target), neutral)
    assert torch.equal(ex.attribute(x, target), FORMER[name](g, r).clamp_min(0))


def test_learned_strategy_config_is_the_former_default_and_old_forms_name_the_new_syntax(make_cfg):
    learned = instantiate(compose_option("explainer/fusion_strategy", "learned"))
    assert isinstance(learned, fs.Learned) and learned.max_epochs == 3  # the former explainer.max_epochs
    assert dict(learned.module.hparams) == dict(LearnedFusion().hparams)  # the former `learned: null` default
    with pytest.raises(ConfigCompositionException, match="fusion_strategy"):
        make_cfg(["explainer/fusion_strategy=product"])
    for old in (["explainer.fusion=mean"], ["explainer.fusion_strategy=mean"]):
        with pytest.raises(InstantiationException, match="explainer/fusion_strategy=mean"):
            instantiate(make_cfg(old).explainer)
