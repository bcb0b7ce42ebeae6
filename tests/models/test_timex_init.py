"""TimeXTransformer's initialisation follows TimeX's (torch's nn.MultiheadAttention + nn.TransformerEncoder), and the
optional local-attention initialisation (issue 8)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tsexplain.models.backbones.timex_transformer import TimeXTransformer


def test_default_init_is_torchs_multihead_attention_and_encoder_copies():
    torch.manual_seed(0)
    model = TimeXTransformer(1, 50, 4, n_layers=2, dim_feedforward=64)
    d = model.d_model
    attn = model.layers[0].self_attn
    # nn.MultiheadAttention._reset_parameters: xavier_uniform_ on in_proj [3d, d], zero in/out biases
    assert torch.count_nonzero(attn.qkv.bias) == 0 and torch.count_nonzero(attn.proj.bias) == 0
    bound = math.sqrt(6.0 / (3 * d + d))
    assert attn.qkv.weight.abs().max() <= bound
    assert attn.qkv.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    reference = nn.MultiheadAttention(d, 1)
    assert reference.in_proj_weight.shape == attn.qkv.weight.shape
    # nn.TransformerEncoder deep-copies one layer: all layers start equal
    first, second = model.layers[0].state_dict(), model.layers[1].state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_linear_init_keeps_independent_layers():
    torch.manual_seed(0)
    model = TimeXTransformer(1, 50, 4, n_layers=2, init="linear")
    assert torch.count_nonzero(model.layers[0].self_attn.qkv.bias) > 0
    assert not torch.equal(model.layers[0].self_attn.qkv.weight, model.layers[1].self_attn.qkv.weight)


def _entropy(model: TimeXTransformer, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        _, attns = model.eval().forward_with_attention(x)
    a = attns[0]
    return -(a * a.clamp_min(1e-12).log()).sum(-1).mean(), a


def test_local_attention_init_peaks_on_the_query_neighbourhood():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 100) * 0.1
    uniform, _ = _entropy(TimeXTransformer(1, 100, 4), x)
    assert uniform > 0.95 * math.log(100)  # TimeX's init: attention starts (near) uniform
    torch.manual_seed(0)
    entropy, a = _entropy(TimeXTransformer(1, 100, 4, local_attention_init=5.0), x)
    assert entropy < 0.5 * math.log(100)
    peak = a[:, 0].argmax(-1)  # [B, T]: the key each query attends to most
    assert ((peak - torch.arange(100)).abs() <= 1).float().mean() > 0.9


@pytest.mark.parametrize("kw", [{"init": "xavier"}, {"local_attention_init": -1.0}])
def test_bad_init_options_are_refused(kw):
    with pytest.raises(ValueError):
        TimeXTransformer(1, 50, 4, **kw)


@pytest.mark.parametrize("dataset", ["freqshapes", "seqcomb_uv", "seqcomb_mv", "lowvar"])
def test_timex_experiments_train_at_a_constant_lr_with_timex_init(make_cfg, dataset):
    # TimeX's experiments/*/train_transformer.py call train(..., use_scheduler=False): no lr schedule.
    cfg = make_cfg([f"experiment=timex_{dataset}"], tiny=False)
    assert cfg.model.scheduler._target_ == "tsexplain.models.schedules.constant"
    assert cfg.model.backbone.init == "timex" and cfg.model.backbone.local_attention_init == 0.0
