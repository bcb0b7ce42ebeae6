"""Attention capture on timm-layout Attention, nn.MultiheadAttention and our HasAttention backbones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsexplain.explain.attention.capture import AttentionCapture, attention_sites, capture_attention
from tsexplain.explain.attention.lags import channel_attention
from tsexplain.explain.attention.tokens import TokenLayout
from tsexplain.models.backbones.itransformer import ITransformer
from tsexplain.models.backbones.patchtst import PatchTST
from tsexplain.models.backbones.resnet_tf import ResNetTransformer
from tsexplain.models.backbones.timm_compat import HAS_TIMM, Block
from tsexplain.models.backbones.transformer2d import PatchTransformer2d


def manual_softmax(blk: Block, x: torch.Tensor) -> torch.Tensor:
    a = blk.attn
    b, n, c = x.shape
    q, k, _ = a.qkv(blk.norm1(x)).reshape(b, n, 3, a.num_heads, c // a.num_heads).permute(2, 0, 3, 1, 4)
    return ((q * a.scale) @ k.transpose(-2, -1)).softmax(-1)


@pytest.fixture
def vit():
    torch.manual_seed(0)
    return nn.Sequential(Block(16, 4, qkv_bias=True), Block(16, 4, qkv_bias=True)).eval()


def test_timm_layout_capture_gives_the_softmax_and_restores_fused_attention(vit):
    x = torch.randn(2, 7, 16)
    plain = vit(x)
    cap = capture_attention(vit, x)
    assert cap.names == ["0.attn", "1.attn"] and cap.maps["0.attn"].shape == (2, 4, 7, 7)
    assert torch.allclose(cap.maps["0.attn"], manual_softmax(vit[0], x), atol=1e-6)
    assert torch.allclose(cap.maps["1.attn"], manual_softmax(vit[1], vit[0](x)), atol=1e-6)
    assert torch.allclose(cap.output, plain, atol=1e-5)  # the explicit path computes the same outputs
    assert all(b.attn.fused_attn for b in vit) and not vit[0].attn.attn_drop._forward_hooks  # restored, unhooked


def test_in_hook_reduction_head_mean_one_head_and_rows(vit):
    x = torch.randn(1, 9, 16)
    full = capture_attention(vit, x).maps["1.attn"]
    assert torch.allclose(capture_attention(vit, x, heads="mean").maps["1.attn"], full.mean(1, keepdim=True))
    assert torch.allclose(capture_attention(vit, x, heads=2).maps["1.attn"], full[:, [2]], atol=1e-6)
    red = capture_attention(vit, x, layers=[-1], heads=[0, 3], rows=[0, 4]).maps
    assert list(red) == ["1.attn"] and torch.allclose(red["1.attn"], full[:, [0, 3]][:, :, [0, 4]], atol=1e-6)


def test_bad_layer_head_rows_and_model_without_attention_list_what_exists(vit):
    with pytest.raises(ValueError, match=r"2 attention layer.*0: 0\.attn, 1: 1\.attn"):
        AttentionCapture(vit, layers=[5])
    with pytest.raises(ValueError, match=r"4 heads \(0\.\.3\)"):
        AttentionCapture(vit, heads=[1, 4])
    with pytest.raises(ValueError, match=r"7 tokens \(0\.\.6\)"):
        capture_attention(vit, torch.randn(1, 7, 16), rows=[9])
    assert all(b.attn.fused_attn for b in vit)  # restored even after the error inside the hook
    with pytest.raises(ValueError, match="no attention to capture.*model=vitime"):
        attention_sites(nn.Sequential(nn.Linear(4, 4)))


def test_multihead_attention_inside_transformer_encoder_in_inference_mode():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    x = torch.randn(2, 6, 16)
    with torch.no_grad():  # the encoder's fast path would skip self_attn; capture must still see it
        cap = capture_attention(enc, x)
    assert cap.names == ["layers.0.self_attn", "layers.1.self_attn"]
    l0 = enc.layers[0]
    h = l0.norm1(x) if l0.norm_first else x
    _, ref = l0.self_attn(h, h, h, need_weights=True, average_attn_weights=False)
    assert cap.maps["layers.0.self_attn"].shape == (2, 4, 6, 6)
    assert torch.allclose(cap.maps["layers.0.self_attn"], ref, atol=1e-6)
    assert torch.allclose(cap.output, enc(x), atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: PatchTransformer2d(2, 20, 3, patch_t=5),
    lambda: ResNetTransformer(2, 20, 3),
    lambda: PatchTST(2, 20, 3, patch_len=8, stride=4),
    lambda: ITransformer(3, 20, 2),
])
def test_our_backbones_through_their_has_attention_hook(make):
    torch.manual_seed(0)
    m = make().eval()
    x = torch.randn(2, m.in_channels, 20)
    _, ref = m.forward_with_attention(x)
    cap = capture_attention(m, x, heads="mean")
    assert len(cap.maps) == len(ref)
    assert torch.allclose(cap.maps["layer1"], ref[1].mean(1, keepdim=True), atol=1e-6)
    layout = TokenLayout.from_model(m)
    layout.check(ref[0].shape[-1])  # the layout read off the model fits its maps
    with pytest.raises(ValueError, match=r"layer.*0: layer0"):
        AttentionCapture(m, layers=[7])


def test_itransformer_variate_map():
    torch.manual_seed(0)
    m = ITransformer(3, 20, 2).eval()
    cap = capture_attention(m, torch.randn(4, 3, 20))
    out = channel_attention(cap.maps["layer0"], ["a", "b", "c"])
    att = torch.tensor(out["attention"])
    assert out["channels"] == ["a", "b", "c"] and att.shape == (3, 3)
    assert torch.allclose(att.sum(-1), torch.ones(3), atol=1e-5)  # rows stay stochastic


@pytest.mark.skipif(not HAS_TIMM, reason="timm does not import here (its torchvision needs a CUDA torch build)")
def test_real_timm_attention_capture_and_restore():  # pragma: no cover - environment dependent
    from timm.models.vision_transformer import Block as TimmBlock

    blk = TimmBlock(16, 4, qkv_bias=True).eval()
    x = torch.randn(1, 5, 16)
    cap = capture_attention(blk, x)
    assert cap.maps["attn"].shape == (1, 4, 5, 5) and blk.attn.fused_attn
