"""DLinear, LSTM, iTransformer: checks against closed forms of their published definitions."""

from __future__ import annotations

import pytest
import torch

from tsexplain.models.backbones.dlinear import DLinear, moving_average
from tsexplain.models.backbones.itransformer import ITransformer
from tsexplain.models.backbones.lstm import LSTMClassifier
from tsexplain.models.backbones.patchtst import PatchTST


def test_moving_average_keeps_constants_and_interior_of_ramps():
    const = torch.full((2, 3, 30), 1.7)
    torch.testing.assert_close(moving_average(const, 25), const)
    ramp = torch.arange(30.0).expand(1, 1, 30)
    ma = moving_average(ramp, 5)
    assert ma.shape == ramp.shape
    torch.testing.assert_close(ma[..., 2:-2], ramp[..., 2:-2])
    # Edges replicate the end values (TSLib): the first output averages [0, 0, 0, 1, 2].
    assert ma[0, 0, 0].item() == pytest.approx(0.6)


def test_dlinear_published_init_gives_the_channel_mean():
    """With W = 1/T (published init) and zero biases, W·seasonal + W·trend = W·x = mean_t x."""
    torch.manual_seed(0)
    model = DLinear(3, 40, 2, moving_avg=7, individual=True)
    with torch.no_grad():
        model.seasonal_bias.zero_()
        model.trend_bias.zero_()
    x = torch.randn(4, 3, 40)
    torch.testing.assert_close(model.encode(x), x.mean(-1, keepdim=True).expand_as(x))
    s, t = model.decompose(x)
    torch.testing.assert_close(s + t, x)


def test_dlinear_parameter_count_and_individual_weights():
    shared, indiv = DLinear(3, 40, 2), DLinear(3, 40, 2, individual=True)
    head = 3 * 40 * 2 + 2
    assert sum(p.numel() for p in shared.parameters()) == 2 * (40 * 40 + 40) + head
    assert sum(p.numel() for p in indiv.parameters()) == 3 * 2 * (40 * 40 + 40) + head
    with pytest.raises(ValueError, match="odd"):
        DLinear(1, 40, 2, moving_avg=24)


def test_lstm_last_readout_is_final_forward_and_first_backward_state():
    torch.manual_seed(0)
    model = LSTMClassifier(2, 20, 3, hidden_size=5, num_layers=2).eval()
    x = torch.randn(4, 2, 20)
    out, _ = model.lstm(x.transpose(1, 2))
    z = torch.cat([out[:, -1, :5], out[:, 0, 5:]], dim=1)
    torch.testing.assert_close(model(x), model.head(z))


def test_itransformer_is_permutation_equivariant_in_variates_before_the_head():
    """Variates are tokens without position: permuting channels permutes the encoded tokens."""
    torch.manual_seed(0)
    model = ITransformer(4, 24, 2, d_model=8, n_heads=2, n_layers=1).eval()
    x = torch.randn(3, 4, 24)
    perm = torch.tensor([2, 0, 3, 1])
    enc = lambda v: model.encoder(model.embed(v))[0]  # noqa: E731
    with torch.no_grad():
        torch.testing.assert_close(enc(x[:, perm]), enc(x)[:, perm])


@pytest.mark.parametrize("t,patch,stride,n", [(50, 16, 8, 6), (37, 16, 8, 4), (10, 10, 8, 2), (6, 6, 6, 2)])
def test_patchtst_patching(t, patch, stride, n):
    model = PatchTST(2, t, 2, d_model=8, n_heads=2, n_layers=1)
    assert (model.patch_len, model.stride, model.n_patches) == (patch, stride, n)
    x = torch.arange(float(t)).expand(1, 2, t)
    p = model.patches(x)
    assert p.shape == (1, 2, n, patch)
    torch.testing.assert_close(p[0, 0, 1], torch.arange(float(stride), stride + patch).clamp(max=t - 1))
