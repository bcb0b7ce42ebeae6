"""TimeXTransformer against an independent re-statement of TimeX's transformer_simple.py built on torch's
nn.MultiheadAttention, plus the published parameter counts and the missing attention residual."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.models.backbones.timex_transformer import TimeXTransformer, time_encoding


def timex_pe(t: int, max_len: int, d_pe: int = 16) -> np.ndarray:
    """TimeX's PositionalEncodingTF.getPE for times 1..t, in numpy."""
    times = np.arange(1, t + 1, dtype=np.float64)[:, None]
    timescales = max_len ** np.linspace(0, 1, d_pe // 2)
    scaled = times / timescales[None]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=-1)


def reference_forward(model: TimeXTransformer, x: torch.Tensor) -> torch.Tensor:
    """TimeX's eval-mode computation, written with nn.MultiheadAttention (T, B, d layout as TimeX)."""
    b, c, t = x.shape
    pe = torch.from_numpy(timex_pe(t, model.max_len)).float()
    h = torch.cat([pe[:, None].expand(t, b, 16), x.permute(2, 0, 1)], dim=-1)  # [T, B, 16 + C]
    for layer in model.layers:
        d = h.shape[-1]
        mha = nn.MultiheadAttention(d, layer.self_attn.num_heads)
        with torch.no_grad():
            mha.in_proj_weight.copy_(layer.self_attn.qkv.weight)
            mha.in_proj_bias.copy_(layer.self_attn.qkv.bias)
            mha.out_proj.weight.copy_(layer.self_attn.proj.weight)
            mha.out_proj.bias.copy_(layer.self_attn.proj.bias)
        sa, _ = mha(h, h, h, need_weights=False)
        h = layer.norm1(sa)  # TimeX's KEY EDIT: no `h +` here
        h = layer.norm2(h + layer.linear2(F.relu(layer.linear1(h))))
    pooled = h.sum(0) / (t + 1)
    if model.norm_embedding:  # TimeX's norm_embedding: F.normalize of the pooled output
        pooled = F.normalize(pooled, dim=-1)
    return model.mlp(pooled)


@pytest.mark.parametrize("c,t,layers,norm", [(1, 50, 1, False), (4, 37, 2, False), (2, 20, 1, True)])
def test_matches_reference_computation(c, t, layers, norm):
    torch.manual_seed(0)
    model = TimeXTransformer(c, t, 4, n_layers=layers, dim_feedforward=8, norm_embedding=norm).eval()
    x = torch.randn(3, c, t)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_forward(model, x), rtol=1e-4, atol=1e-5)


def test_time_encoding_matches_timex():
    np.testing.assert_allclose(time_encoding(50, 16, 50).numpy(), timex_pe(50, 50), rtol=1e-5, atol=1e-6)
    assert TimeXTransformer(3, 200, 4).d_model == 19


@pytest.mark.parametrize(
    "dataset,c,hp,published",
    [
        ("FreqShapes", 1, dict(n_layers=1, dim_feedforward=16), 2200),
        ("SeqComb-UV", 1, dict(n_layers=2, dim_feedforward=64), 7500),
        ("SeqComb-MV", 4, dict(n_layers=2, dim_feedforward=128), 14600),
        ("LowVar", 2, dict(n_layers=1, dim_feedforward=32, norm_embedding=True), 3100),
    ],
)
def test_parameter_counts_match_the_table(dataset, c, hp, published):
    model = TimeXTransformer(c, 200 if dataset != "FreqShapes" else 50, 4, **hp)
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - published) / published < 0.03, (dataset, n)


def test_no_residual_around_self_attention():
    """Silence the attention output: without a residual the layer then forgets its input entirely
    (norm1(0) is a constant token), so every token, for every input, maps to the same vector.
    With a residual (`x + attn(x)`) the output would still vary with the input tokens."""
    torch.manual_seed(0)
    model = TimeXTransformer(2, 30, 3, n_layers=1).eval()
    layer = model.layers[0]
    with torch.no_grad():
        layer.self_attn.proj.weight.zero_()
        layer.self_attn.proj.bias.zero_()
        h1, _ = layer(torch.randn(4, 30, 18))
        h2, _ = layer(torch.randn(4, 30, 18) * 5 + 1)
    torch.testing.assert_close(h1, h2)
    torch.testing.assert_close(h1, h1[:1, :1].expand_as(h1))
    # Sanity of the check itself: an ordinary post-norm layer with a residual does depend on the input.
    std = nn.TransformerEncoderLayer(18, 1, 16, dropout=0.0, batch_first=True).eval()
    with torch.no_grad():
        std.self_attn.out_proj.weight.zero_()
        std.self_attn.out_proj.bias.zero_()
        assert not torch.allclose(std(torch.randn(4, 30, 18)), std(torch.randn(4, 30, 18)))


def test_pooling_divides_by_t_plus_one():
    """embed() = Σ_t h_t / (T + 1) over the last layer's tokens h_t (TimeX's lengths + 1 denominator)."""
    torch.manual_seed(0)
    model = TimeXTransformer(1, 10, 2).eval()
    captured = {}
    model.layers[-1].register_forward_hook(lambda m, i, o: captured.update(h=o[0]))
    with torch.no_grad():
        z, _ = model.embed(torch.randn(2, 1, 10))
    torch.testing.assert_close(z, captured["h"].sum(1) / 11)


def test_poly1_is_the_config_loss_and_attention_grid():
    model = TimeXTransformer(1, 50, 4)
    assert model.token_grid == (1, 50) and model.num_prefix_tokens == 0


def test_norm_embedding_puts_the_pooled_embedding_on_the_unit_sphere_without_parameters():
    torch.manual_seed(0)
    plain, normed = TimeXTransformer(2, 30, 4), TimeXTransformer(2, 30, 4, norm_embedding=True)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in normed.parameters())
    z, _ = normed.embed(torch.randn(5, 2, 30) * 10)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(5))
