"""Attention rollout on hand-built attention stacks with known answers."""

import pytest
import torch

from tsexplain.explain.rollout import AttentionRollout, CheferRollout, discard_lowest, rollout, tokens_to_map

N, B = 6, 2


def _softmax_stack(layers=2, heads=3, n=N, b=B, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, heads, n, n, generator=g).mul(2).softmax(-1) for _ in range(layers)]


def test_identity_attention_gives_uniform_relevance(tiny):
    eye = torch.eye(N).expand(B, 1, N, N)
    model = tiny.FixedAttention([eye, eye], grid=(1, N))
    rel = AttentionRollout().fit(model).token_relevance(torch.zeros(B, 1, 12), torch.zeros(B, dtype=torch.long))
    assert torch.allclose(rel, torch.full((B, N), 1 / N))


def test_all_tokens_attending_to_one_token_makes_it_most_relevant(tiny):
    j = 4
    a = torch.zeros(B, 2, N, N)
    a[..., j] = 1.0
    model = tiny.FixedAttention([a, a, a], grid=(1, N))
    rel = AttentionRollout().fit(model).token_relevance(torch.zeros(B, 1, 12), torch.zeros(B, dtype=torch.long))
    assert (rel.argmax(-1) == j).all()
    # closed form: Â = ½·1e_jᵀ + ½I, so R = Â³ puts 1 − (½)³ of each row on j (plus (½)³ on itself)
    assert torch.allclose(rel[:, j], torch.full((B,), 1 - 0.125 + 0.125 / N))


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_rollout_rows_stay_stochastic(fusion):
    r = rollout(_softmax_stack(), head_fusion=fusion, discard_ratio=0.3)
    assert torch.allclose(r.sum(-1), torch.ones(B, N), atol=1e-6)
    assert (r >= 0).all()


def test_head_fusion_modes_differ():
    attns = _softmax_stack()
    rs = {f: rollout(attns, head_fusion=f) for f in ("mean", "max", "min")}
    assert not torch.allclose(rs["mean"], rs["max"])
    assert not torch.allclose(rs["mean"], rs["min"])
    assert not torch.allclose(rs["max"], rs["min"])
    with pytest.raises(ValueError, match="mean"):
        rollout(attns, head_fusion="median")


def test_discard_ratio_is_applied_to_every_sample():
    a = torch.rand(B, N, N) + 0.01
    assert not torch.allclose(a[0], a[1])
    d = discard_lowest(a, 0.5)
    for b in range(B):  # each sample loses its own lowest half, not only sample 0
        k = N * N // 2
        assert int((d[b] == 0).sum()) == k
        assert torch.equal(d[b] == 0, a[b] <= a[b].flatten().kthvalue(k).values)
    attns = _softmax_stack()
    full, thin = rollout(attns), rollout(attns, discard_ratio=0.5)
    for b in range(B):
        assert not torch.allclose(full[b], thin[b])
        single = rollout([x[b : b + 1] for x in attns], discard_ratio=0.5)[0]
        assert torch.allclose(thin[b], single)  # per-sample: independent of the batch


def test_cls_readout_vs_mean_readout(tiny):
    attns = _softmax_stack(n=N + 1)
    r = rollout(attns)
    x, t = torch.zeros(B, 1, 12), torch.zeros(B, dtype=torch.long)
    cls = AttentionRollout().fit(tiny.FixedAttention(attns, (1, N), prefix=1)).token_relevance(x, t)
    assert torch.allclose(cls, r[:, 0, 1:])
    mean = AttentionRollout().fit(tiny.FixedAttention(attns, (1, N + 1))).token_relevance(x, t)
    assert torch.allclose(mean, r.mean(1))


def test_token_grid_becomes_a_channel_by_time_map(tiny):
    # grid 2 × 3 (channels × time): put all relevance on token (row 1, col 2)
    rel = torch.zeros(B, 6)
    rel[:, 5] = 1.0
    m = tokens_to_map(rel, (2, 3), (4, 30))
    assert m.shape == (B, 4, 30)
    assert m[:, 2:, 20:].mean() > 5 * m[:, :2, :10].mean()
    assert m[0, 3, 25] == m.max()  # the centre of the patch
    padded = tokens_to_map(rel, (2, 3), (4, 28), patch=(2, 10))  # grid covers a zero-padded 4 × 30 input
    assert torch.allclose(padded, m[..., :28])
    with pytest.raises(ValueError, match="token_grid"):
        tokens_to_map(rel, (2, 2), (4, 30))
    model = tiny.FixedAttention(_softmax_stack(n=7), grid=(2, 3), prefix=1)
    sal = AttentionRollout().fit(model).attribute(torch.zeros(B, 4, 30), torch.zeros(B, dtype=torch.long))
    assert sal.shape == (B, 4, 30) and torch.isfinite(sal).all() and (sal >= 0).all()


def test_chefer_runs_and_differs_from_plain_rollout(tiny):
    model, x = tiny.TinyAttn(2, 32, cls=True), torch.randn(B, 2, 32)
    plain = AttentionRollout().fit(model).attribute(x, torch.tensor([0, 0]))
    chefer = CheferRollout().fit(model)
    c0, c1 = chefer.attribute(x, torch.tensor([0, 0])), chefer.attribute(x, torch.tensor([1, 1]))
    assert c0.shape == plain.shape == (B, 2, 32)
    assert torch.isfinite(c0).all() and c0.std() > 0
    assert not torch.allclose(c0 / c0.sum(), plain / plain.sum(), atol=1e-3)
    assert not torch.allclose(c0, c1)  # class-specific, unlike plain rollout
    mean_model = tiny.TinyAttn(2, 32, cls=False)
    assert CheferRollout().fit(mean_model).attribute(x).std() > 0
    with pytest.raises(ValueError, match="explainer=rollout_chefer"):  # the former switch names the new explainer
        AttentionRollout(method="chefer")


def test_rollout_rejects_models_without_attention(tiny):
    with pytest.raises(ValueError, match="transformer2d"):
        AttentionRollout().fit(tiny.TinyLSTM(2))
    with pytest.raises(ValueError, match="discard_ratio"):
        AttentionRollout(discard_ratio=1.0)
