"""Explainers on the real backbones, wrapped in BlackBox as the pipeline does."""

from functools import partial

import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam

from tsexplain.data.meta import DataMeta
from tsexplain.explain.fusion import FusionExplainer
from tsexplain.explain.gradcam import GradCAM
from tsexplain.explain.rollout import AttentionRollout, CheferRollout
from tsexplain.models.backbones.resnet import ResNet1d
from tsexplain.models.backbones.resnet_tf import ResNetTransformer
from tsexplain.models.backbones.timex_transformer import TimeXTransformer
from tsexplain.models.backbones.transformer2d import PatchTransformer2d
from tsexplain.models.blackbox import BlackBox

META = DataMeta(name="t", task="multiclass", n_channels=2, seq_len=32, n_outputs=3)
B = 3


def _bb(cls, **kw):
    return BlackBox(partial(cls, **kw), META).eval()


def _ok(sal):
    assert sal.shape == (B, 2, 32)
    assert torch.isfinite(sal).all() and (sal >= 0).all() and sal.std() > 0


def test_gradcam_on_resnet_matches_captum_directly():
    bb = _bb(ResNet1d, base_width=8)
    x = torch.randn(B, 2, 32)
    sal = GradCAM(layer="layer3").fit(bb).attribute(x, torch.tensor([0, 1, 2]))
    _ok(sal)
    ref = LayerGradCam(bb, bb.backbone.layer3).attribute(x, target=torch.tensor([0, 1, 2]), relu_attributions=True)
    ref = LayerAttribution.interpolate(ref, (32,), "linear").expand(B, 2, 32)
    assert torch.allclose(sal, ref, atol=1e-6)
    with pytest.raises(ValueError, match="layer"):
        GradCAM(layer="nope").fit(bb).attribute(x)


@pytest.mark.parametrize("method", [AttentionRollout, CheferRollout])
def test_rollout_on_patch_transformer_and_timex(method):
    x = torch.randn(B, 2, 32)
    pt = _bb(PatchTransformer2d, dim=16, depth=2, num_heads=2, patch_t=5)  # 2 × 7 grid over a padded 2 × 35
    _ok(method().fit(pt).attribute(x))
    tx = _bb(TimeXTransformer, n_layers=2)
    sal = method().fit(tx).attribute(x)
    _ok(sal)
    assert torch.allclose(sal[:, 0], sal[:, 1])  # token_grid (1, T): one relevance per time step


def test_fusion_on_resnet_transformer():
    bb = _bb(ResNetTransformer, resnet={"base_width": 8}, transformer={"dim": 16, "depth": 2, "num_heads": 2})
    x = torch.randn(B, 2, 32)
    fx = FusionExplainer(GradCAM(), AttentionRollout(), align="dtw", sakoe_chiba_radius=4).fit(bb)
    m = fx.maps(x)
    _ok(m["fused"])
    assert torch.allclose(m["fused"], m["gradcam"] * m["rollout_aligned"])
    with pytest.raises(ValueError, match="resnet_tf"):
        FusionExplainer().fit(_bb(ResNet1d, base_width=8))
