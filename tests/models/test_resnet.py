"""ResNet1d: documented feature length, Grad-CAM layer lookup, pooled features."""

from __future__ import annotations

import math

import pytest
import torch

from tsexplain.models.backbones.base import HasGradCamLayer
from tsexplain.models.backbones.resnet import ResNet1d


def expected_length(t: int, stem_stride: int, maxpool: bool, strides: list[int]) -> int:
    """Independent restatement of the documented formula: ceil at every strided op."""
    for s in [stem_stride, *([2] if maxpool else []), *strides]:
        t = math.ceil(t / s)
    return t


@pytest.mark.parametrize(
    "t,stem_stride,maxpool,strides,known",
    [
        (50, 1, False, [1, 2, 2, 1], 13),   # the default: T/4
        (37, 1, False, [1, 2, 2, 1], 10),
        (50, 1, False, [1, 1, 1, 1], 50),   # full resolution
        (50, 2, True, [1, 2, 2, 2], 2),     # torchvision schedule: T/32
        (64, 2, False, [2, 1, 2, 1], 8),
    ],
)
def test_feature_length_matches_documentation(t, stem_stride, maxpool, strides, known):
    torch.manual_seed(0)
    model = ResNet1d(2, t, 3, base_width=4, strides=strides, stem_stride=stem_stride, maxpool=maxpool).eval()
    seen = {}
    handle = model.gradcam_layer().register_forward_hook(lambda m, i, o: seen.update(a=o))
    model(torch.randn(2, 2, t))
    handle.remove()
    assert seen["a"].shape == (2, model.feature_dim, known)
    assert model.feature_length() == known == expected_length(t, stem_stride, maxpool, strides)


def test_gradcam_layer_names():
    model = ResNet1d(1, 50, 2, base_width=4)
    assert isinstance(model, HasGradCamLayer)
    assert model.gradcam_layer() is model.layer4
    assert model.gradcam_layer("layer2.1") is model.layer2[1]
    with pytest.raises(ValueError, match="No layer named 'layer9'.*valid names include"):
        model.gradcam_layer("layer9")


def test_features_are_pooled_layer4_and_head_uses_them():
    torch.manual_seed(0)
    model = ResNet1d(3, 40, 4, base_width=4).eval()
    x = torch.randn(3, 3, 40)
    with torch.no_grad():
        fmap = model.feature_map(x)
        feats = model.features(x)
        torch.testing.assert_close(feats, fmap.mean(-1))
        torch.testing.assert_close(model(x), model.head(feats))
    assert feats.shape == (3, model.feature_dim) and model.feature_dim == 32


def test_bad_strides_raise():
    with pytest.raises(ValueError, match="4 stage strides"):
        ResNet1d(1, 50, 2, strides=[1, 2])
