"""Sanity checks: rank correlation, seeded re-initialisation, cascading randomisation, infidelity, sensitivity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from tsexplain.evaluate.randomization import (
    SanityChecks,
    cascade_layers,
    infidelity_score,
    randomized_copy,
    reinitialize_,
    sensitivity_score,
    spearman_per_sample,
)
from tsexplain.explain.captum_baselines import AmplitudeExplainer, IntegratedGradients, RandomExplainer


class Net(nn.Module):
    """conv → ReLU → max over time → linear; `pos` is a raw parameter no submodule resets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU())
        self.pos = nn.Parameter(torch.zeros(1, 1, 32))
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x + self.pos).amax(-1))


class Linear(nn.Module):
    """`y = [Σ w·x, −Σ w·x]`: its input gradient is the exact first-order explanation."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 16, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        s = (x * self.w).sum((1, 2))
        return torch.stack([s, -s], 1)


class Wrapped(nn.Module):
    """A BlackBox-like wrapper: the backbone is `.backbone`."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = Net()

    def forward(self, x):
        return self.backbone(x)


def _bump_data(n: int = 256, t: int = 32):
    """Class 1 carries a +2 bump of width 4 at a random place; class 0 is noise."""
    g = torch.Generator().manual_seed(1)
    x = 0.3 * torch.randn(n, 1, t, generator=g)
    y = torch.arange(n) % 2
    start = torch.randint(0, t - 4, (n,), generator=g)
    for i in range(n):
        if y[i]:
            x[i, 0, start[i] : start[i] + 4] += 2.0
    return x, y


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    x, y = _bump_data()
    model = Wrapped()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(-1) == y).float().mean() > 0.95  # the check needs a model that learned the bump
    return model, x[:32], y[:32]


def test_spearman_per_sample_matches_scipy_and_handles_constants():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 2, 10)), rng.normal(size=(3, 2, 10))
    b[1] = np.round(b[1], 0)  # ties get average ranks, as in scipy
    rho = spearman_per_sample(a, b)
    for i in range(3):
        assert rho[i] == pytest.approx(spearmanr(np.abs(a[i]).ravel(), np.abs(b[i]).ravel()).statistic)
    assert spearman_per_sample(a, a) == pytest.approx(np.ones(3))
    up = np.arange(10.0).reshape(1, 1, 10)
    assert spearman_per_sample(up, up[..., ::-1].copy())[0] == pytest.approx(-1.0)
    assert np.isnan(spearman_per_sample(up, np.ones_like(up))[0])  # a constant map has no ranking
    with pytest.raises(ValueError, match="one shape"):
        spearman_per_sample(a, b[:, :1])


def test_reinitialize_is_seeded_and_covers_every_parameter():
    torch.manual_seed(123)  # not the re-initialisation's seed 0, which an earlier test may have left in the global RNG
    net = Net()
    with torch.no_grad():
        net.conv[1].running_mean.fill_(3.0)
    a, b, c = (reinitialize_(Net(), 5), reinitialize_(Net(), 5), reinitialize_(Net(), 6))
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb), name  # same seed, same weights
        if not name.startswith("conv.1."):  # BatchNorm resets to weight 1, bias 0 whatever the seed
            assert not torch.equal(pa, pc), name
    before = {k: v.clone() for k, v in net.state_dict().items()}
    reinitialize_(net, 0)
    assert not torch.equal(net.pos, before["pos"])  # raw parameter re-drawn
    assert float(net.pos.std()) == pytest.approx(0.02, rel=0.5)
    assert torch.equal(net.conv[1].running_mean, torch.zeros(8))  # BatchNorm statistics reset
    assert not torch.equal(net.head.weight, before["head.weight"])


def test_cascade_and_randomized_copy_leave_the_original_alone():
    model = Wrapped()
    assert cascade_layers(model) == ["head", "conv"]  # children holding parameters, head first
    ref = {k: v.clone() for k, v in model.state_dict().items()}
    top = randomized_copy(model, ["head"], seed=0)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in ref.items())  # original untouched
    assert not torch.equal(top.backbone.head.weight, model.backbone.head.weight)
    assert torch.equal(top.backbone.conv[0].weight, model.backbone.conv[0].weight)  # below the head: kept
    full = randomized_copy(model, None, seed=0)
    assert not torch.equal(full.backbone.pos, model.backbone.pos)
    with pytest.raises(ValueError, match=r"top-level children are \['conv', 'head'\]"):
        randomized_copy(model, ["layer9"])


def test_amplitude_scores_one_and_ig_clearly_lower_on_a_trained_model(trained):
    model, x, y = trained
    checks = SanityChecks(max_samples=32, infidelity=False, sensitivity=False)
    amp = AmplitudeExplainer().fit(model)
    ig = IntegratedGradients(n_steps=16).fit(model)
    m_amp = checks(amp, model, x, y, amp.attribute(x, y))
    m_ig = checks(ig, model, x, y, ig.attribute(x, y))
    # model-blind: the check of the check
    assert m_amp["explain/rand_spearman_all"] == pytest.approx(1.0)
    assert m_amp["explain/rand_spearman_cascade/head"] == pytest.approx(1.0)
    assert m_amp["explain/rand_n"] == 32
    # IG follows the model: randomising every weight changes its maps
    assert m_ig["explain/rand_spearman_all"] < 0.8
    assert m_ig["explain/rand_spearman_all"] < m_amp["explain/rand_spearman_all"] - 0.3
    assert set(m_ig) >= {"explain/rand_spearman_cascade/head", "explain/rand_spearman_cascade/conv",
                         "explain/rand_spearman_cascade_min"}
    # the last cascade step randomises every backbone child: the same model as all-at-once (pos excepted here,
    # a raw parameter outside the children, so all-at-once is computed separately and may differ)
    assert m_ig["explain/rand_spearman_cascade_min"] <= m_ig["explain/rand_spearman_cascade/head"]


def test_cascade_off_and_disabled():
    model = Wrapped().eval()
    x, y = _bump_data(8)
    amp = AmplitudeExplainer().fit(model)
    m = SanityChecks(cascade=False, infidelity=False, sensitivity=False)(amp, model, x, y, amp.attribute(x, y))
    assert not any("cascade" in k for k in m) and "explain/rand_spearman_all" in m
    assert SanityChecks(enabled=False)(amp, model, x, y, amp.attribute(x, y)) == {}


def test_infidelity_is_zero_for_the_gradient_of_a_linear_model():
    model = Linear()
    x, target = torch.randn(6, 2, 16), torch.zeros(6, dtype=torch.long)
    grad = model.w.detach().expand(6, -1, -1)  # ∂y_0/∂x: exact first-order explanation
    noise = torch.rand(6, 2, 16)
    assert infidelity_score(model, x, grad, target) < 1e-6
    assert infidelity_score(model, x, noise, target) > 0.1


def test_sensitivity_is_small_for_amplitude_and_large_for_random():
    model = Linear()
    x, target = torch.randn(6, 2, 16), torch.zeros(6, dtype=torch.long)
    amp, rnd = AmplitudeExplainer().fit(model), RandomExplainer().fit(model)
    s_amp = sensitivity_score(amp.attribute, x, target, n_perturb_samples=4, radius=0.02)
    s_rnd = sensitivity_score(rnd.attribute, x, target, n_perturb_samples=4, radius=0.02)
    assert 0 < s_amp < 0.1
    assert s_rnd > 0.3


@pytest.mark.parametrize("kwargs, match", [({"max_samples": 0}, "max_samples"),
                                           ({"n_perturb_sensitivity": 0}, "n_perturb_sensitivity"),
                                           ({"radius": 0.0}, "radius")])
def test_bad_settings_fail_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SanityChecks(**kwargs)
