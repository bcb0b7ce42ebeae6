"""Contract tests for every backbone: shapes, gradients to the input, loud bad input, trainability."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tsexplain.models.backbones.resnet import ResNet1d
from tsexplain.models.backbones.timex_transformer import TimeXTransformer

ALL = ["resnet", "transformer2d", "transformer2d_nocls", "resnet_tf", "transformer", "lstm", "lstm_uni_mean",
       "dlinear", "patchtst", "itransformer"]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("c,t", [(1, 50), (3, 50), (1, 37), (3, 37)])
def test_output_shape_and_input_gradient(build, name, c, t):
    torch.manual_seed(0)
    model = build(name, c, t, 5).eval()
    x = torch.randn(4, c, t, requires_grad=True)
    out = model(x)
    assert out.shape == (4, 5)
    assert torch.isfinite(out).all()
    (g,) = torch.autograd.grad(out[:, 1].sum(), x)
    assert g.shape == x.shape and torch.isfinite(g).all()
    # Every channel and both halves of the series can influence the output.
    assert (g.abs().sum((0, 2)) > 0).all()
    assert g[..., : t // 2].abs().sum() > 0 and g[..., t // 2:].abs().sum() > 0


@pytest.mark.parametrize("name", ALL)
def test_samples_are_independent_in_eval(build, name):
    """A sample's output must not depend on its batch mates (a trap for explainers)."""
    torch.manual_seed(0)
    model = build(name, 3, 37).eval()
    x = torch.randn(5, 3, 37)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[:2], model(x[:2]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_wrong_rank_raises(build, name):
    model = build(name, 3, 50)
    with pytest.raises(ValueError, match=r"\[B, C, T\].*rank 2"):
        model(torch.randn(3, 50))


@pytest.mark.parametrize("name", ALL)
def test_wrong_channel_count_raises(build, name):
    model = build(name, 3, 50)
    with pytest.raises(ValueError, match=r"in_channels=3.*2 channels"):
        model(torch.randn(4, 2, 50))
    with pytest.raises(ValueError, match="not \\[B, T, C\\]"):
        model(torch.randn(4, 50, 3))  # time-first input is the usual mistake


@pytest.mark.parametrize("name", ["transformer2d", "dlinear", "patchtst", "itransformer"])
def test_length_dependent_models_reject_other_lengths(build, name):
    model = build(name, 2, 50)
    with pytest.raises(ValueError, match="seq_len=50.*T=40"):
        model(torch.randn(4, 2, 40))


def _overfit(model, steps: int = 25, lr: float = 2e-2) -> tuple[float, float, float]:
    torch.manual_seed(0)
    x = torch.randn(8, 2, 32)
    y = torch.arange(8) % 2
    x[y == 1, 0, 10:14] += 3.0  # a learnable, local class signal
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    return losses[0], losses[-1], acc


@pytest.mark.parametrize("name", ["transformer", "resnet"])
def test_tiny_overfit(name):
    torch.manual_seed(0)
    model = (TimeXTransformer(2, 32, 2, n_layers=1, dim_feedforward=16, dropout=0.0) if name == "transformer"
             else ResNet1d(2, 32, 2, base_width=4))
    first, last, acc = _overfit(model)
    assert last < 0.3 * first
    assert acc == 1.0
