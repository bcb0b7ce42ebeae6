"""HasAttention backbones: explicit attention path equals the fused path; weights are proper and in the graph."""

from __future__ import annotations

import math

import pytest
import torch

from tsexplain.models.backbones.base import HasAttention, HasGradCamLayer
from tsexplain.models.backbones.resnet_tf import ResNetTransformer
from tsexplain.models.backbones.transformer2d import PatchTransformer2d

ATTN = ["transformer2d", "transformer2d_nocls", "resnet_tf", "transformer", "patchtst", "itransformer"]
DEPTH = {"transformer2d": 2, "transformer2d_nocls": 1, "resnet_tf": 2, "transformer": 2, "patchtst": 2,
         "itransformer": 2}


@pytest.mark.parametrize("name", ATTN)
@pytest.mark.parametrize("c,t", [(1, 50), (3, 37)])
def test_forward_with_attention(build, name, c, t):
    torch.manual_seed(0)
    model = build(name, c, t).eval()
    assert isinstance(model, HasAttention)
    x = torch.randn(3, c, t)
    out, attns = model.forward_with_attention(x)
    torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)
    gh, gw = model.token_grid
    n = model.num_prefix_tokens + gh * gw
    assert len(attns) == DEPTH[name]
    for a in attns:
        assert a.shape[0] == 3 and a.shape[2:] == (n, n)
        assert (a >= 0).all()
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]))
    # Rollout needs d out / d attn: the weights must be the ones the output was computed from.
    grads = torch.autograd.grad(out[:, 0].sum(), attns)
    assert all(g is not None and g.shape == a.shape for g, a in zip(grads, attns, strict=True))
    assert sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("name,grid", [
    ("transformer2d", lambda c, t: (c, math.ceil(t / 5))),
    ("transformer2d_nocls", lambda c, t: (math.ceil(c / 2), math.ceil(t / 8))),
    ("transformer", lambda c, t: (1, t)),
    ("patchtst", lambda c, t: (c, (t + 8 - 16) // 8 + 1)),
    ("itransformer", lambda c, t: (c, 1)),
])
def test_token_grids(build, name, grid):
    for c, t in [(1, 50), (3, 37), (5, 64)]:
        assert build(name, c, t).token_grid == grid(c, t)


def test_prefix_tokens():
    assert PatchTransformer2d(2, 20, 2).num_prefix_tokens == 1
    assert PatchTransformer2d(2, 20, 2, use_cls=False, readout="mean").num_prefix_tokens == 0
    with pytest.raises(ValueError, match="use_cls"):
        PatchTransformer2d(2, 20, 2, use_cls=False, readout="cls")


def test_transformer2d_tokens_are_row_major_channel_by_time():
    """Token prefix + r·gw + j must see exactly channels [r·pc, (r+1)·pc) × time [j·pt, (j+1)·pt) of x."""
    torch.manual_seed(0)
    c, t = 5, 23  # patch (2, 4): grid 3 × 6, with channel and time padding in the last row/column
    model = PatchTransformer2d(c, t, 2, dim=8, depth=1, num_heads=2, patch_c=2, patch_t=4).eval()
    assert model.token_grid == (3, 6)
    x = torch.randn(1, c, t, requires_grad=True)
    tok = model.tokens(x)
    gh, gw = model.token_grid
    for r in range(gh):
        for j in range(gw):
            (g,) = torch.autograd.grad(tok[0, 1 + r * gw + j].sum(), x, retain_graph=True)
            support = g[0].abs() > 0
            expect = torch.zeros(c, t, dtype=torch.bool)
            expect[2 * r: 2 * r + 2, 4 * j: 4 * j + 4] = True
            assert torch.equal(support, expect), (r, j)


def test_patch_size_is_clipped_to_the_input():
    model = PatchTransformer2d(1, 6, 2, patch_c=4, patch_t=16)
    assert model.patch == (1, 6) and model.token_grid == (1, 1)


def test_transformer2d_dropout_off_in_eval_and_on_in_train():
    torch.manual_seed(0)
    model = PatchTransformer2d(2, 30, 3, dropout=0.5)
    x = torch.randn(4, 2, 30)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))


def test_patchtst_attention_is_block_diagonal_over_channels(build):
    torch.manual_seed(0)
    model = build("patchtst", 3, 50).eval()
    _, attns = model.forward_with_attention(torch.randn(2, 3, 50))
    p = model.n_patches
    a = attns[0].reshape(2, -1, 3, p, 3, p)
    for ci in range(3):
        for cj in range(3):
            block = a[:, :, ci, :, cj, :]
            assert (block.abs().sum() > 0) == (ci == cj)


def test_resnet_tf_delegates_to_its_branches():
    torch.manual_seed(0)
    model = ResNetTransformer(2, 40, 3, resnet={"base_width": 4}, transformer={"dim": 8, "num_heads": 2})
    assert isinstance(model, HasGradCamLayer) and isinstance(model, HasAttention)
    layer = model.gradcam_layer()
    assert layer is model.resnet.layer4
    assert any(m is layer for m in model.resnet.modules())
    assert model.gradcam_layer("layer3.0.conv1") is model.resnet.layer3[0].conv1
    with pytest.raises(ValueError, match="valid names"):
        model.gradcam_layer("transformer")  # names are relative to the resnet branch
    assert model.token_grid == model.transformer.token_grid == (2, 8)
    assert model.num_prefix_tokens == model.transformer.num_prefix_tokens == 1


def test_resnet_tf_is_trained_end_to_end():
    """One loss reaches both branches and the joint head."""
    torch.manual_seed(0)
    model = ResNetTransformer(2, 40, 3, resnet={"base_width": 4}, transformer={"dim": 8, "num_heads": 2})
    model(torch.randn(4, 2, 40)).sum().backward()
    for part in (model.resnet, model.transformer, model.head):
        assert all(p.grad is not None for p in part.parameters() if p.requires_grad)
        assert sum(p.grad.abs().sum() for p in part.parameters()) > 0
