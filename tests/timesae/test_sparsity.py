"""JumpReLU / Heaviside straight-through gradients (REFERENCE §4), TopK + γ schedule, AuxK, unit-norm helpers."""

import math

import torch

from tsexplain.explain.timesae.sparsity import (
    JumpReLU,
    TopK,
    gamma_linear,
    heaviside_step,
    jumprelu,
    normalize_columns_,
    remove_parallel_grad_,
)

EPS = 0.05


def _inputs():
    theta = torch.tensor([0.3, 0.5, 1.0])
    # per latent: far below, just below (inside ε/2), just above (inside), far above
    offsets = torch.tensor([-0.5, -0.01, 0.02, 0.6])
    pre = (theta[None, :] + offsets[:, None]).clone()
    return pre, theta


def test_jumprelu_forward_is_pre_times_heaviside():
    pre, theta = _inputs()
    out = jumprelu(pre, theta, EPS)
    assert torch.equal(out, pre * (pre - theta > 0).float())
    assert torch.equal(JumpReLU(3, theta_init=0.5)(pre), pre * (pre > 0.5).float())


def test_jumprelu_gradients_match_reference_formulas():
    pre, theta = _inputs()
    pre.requires_grad_(True)
    th = theta.clone().requires_grad_(True)
    g = torch.randn(pre.shape, generator=torch.Generator().manual_seed(0))
    (jumprelu(pre, th, EPS) * g).sum().backward()
    # independent loop over elements: ∂f/∂pre = H(pre-θ); ∂f/∂θ = −(θ/ε)·1[|pre−θ|/ε < ½]
    exp_pre = torch.zeros_like(pre)
    exp_th = torch.zeros_like(theta)
    for b in range(pre.shape[0]):
        for j in range(pre.shape[1]):
            u = (pre[b, j].item() - theta[j].item()) / EPS
            exp_pre[b, j] = g[b, j] * (1.0 if pre[b, j] > theta[j] else 0.0)
            exp_th[j] += g[b, j] * (-(theta[j] / EPS) if abs(u) < 0.5 else 0.0)
    assert torch.allclose(pre.grad, exp_pre)
    assert torch.allclose(th.grad, exp_th)
    assert (th.grad != 0).all()  # the constructed inputs put two rows inside the window


def test_heaviside_gradients_match_reference_formulas():
    pre, theta = _inputs()
    pre.requires_grad_(True)
    th = theta.clone().requires_grad_(True)
    heaviside_step(pre, th, EPS).sum().backward()
    inside = ((pre.detach() - theta).abs() / EPS < 0.5).float()
    assert torch.equal(pre.grad, torch.zeros_like(pre))
    assert torch.allclose(th.grad, -(1.0 / EPS) * inside.sum(0))


def test_straight_through_theta_gradient_is_the_derivative_of_the_expected_loss():
    # pre ~ U(0, 1): E[H(pre−θ)] = 1−θ (d/dθ = −1), E[pre·H(pre−θ)] = (1−θ²)/2 (d/dθ = −θ)
    pre = torch.linspace(0, 1, 20001)[:, None]
    theta = torch.tensor([0.4], requires_grad=True)
    heaviside_step(pre, theta, EPS).mean().backward()
    assert math.isclose(theta.grad.item(), -1.0, rel_tol=1e-2)
    theta.grad = None
    jumprelu(pre, theta, EPS).mean().backward()
    assert math.isclose(theta.grad.item(), -0.4, rel_tol=1e-2)


def test_log_threshold_gets_chain_rule_gradient_and_near_threshold_fraction():
    sp = JumpReLU(2, theta_init=0.5, bandwidth=EPS)
    pre = torch.tensor([[0.51, 0.9], [0.2, 0.49]])
    sp.l0(pre).sum().backward()
    # ∂/∂logθ = θ·∂/∂θ; latent 0 has one entry inside the window, latent 1 one (0.49)
    assert torch.allclose(sp.log_threshold.grad, torch.tensor([-0.5 / EPS, -0.5 / EPS]))
    assert sp.near_threshold_fraction(pre) == 0.5


def test_topk_keeps_exactly_k_t_and_gamma_schedule_ends_at_k():
    torch.manual_seed(0)
    sp = TopK(40, k=3, gamma_max=5.0, anneal_steps=100)
    ks = [sp.k_at(t) for t in range(0, 130, 5)]
    assert ks[0] == 15 and sp.k_at(100) == 3 and sp.k_at(10_000) == 3
    assert all(a >= b for a, b in zip(ks, ks[1:], strict=False))
    pre = torch.rand(8, 40) + 0.1  # all positive and distinct
    for step, k in [(0, 15), (50, round(gamma_linear(50, 100, 5.0) * 3)), (100, 3)]:
        sp.step.fill_(step)
        c = sp.train()(pre)
        assert ((c > 0).sum(-1) == k).all()
        assert torch.equal(c.topk(k, -1).indices.sort(-1).values, pre.topk(k, -1).indices.sort(-1).values)
    assert ((sp.eval()(pre) > 0).sum(-1) == 3).all()  # eval always uses the final k


def test_auxk_zero_without_dead_latents_positive_with_some():
    torch.manual_seed(0)
    sp = TopK(16, k=2, k_aux=4, dead_window=10)
    pre, residual, dictionary = torch.randn(8, 16), torch.randn(8, 5), torch.randn(5, 16)
    assert sp.aux_loss(pre, residual, dictionary).item() == 0.0
    sp.steps_since_fired[:6] = 11
    loss = sp.aux_loss(pre.abs(), residual, dictionary)
    assert loss.item() > 0
    # the residual is a target: no gradient reaches it
    r = residual.clone().requires_grad_(True)
    d = dictionary.clone().requires_grad_(True)
    sp.aux_loss(pre.abs(), r, d).backward()
    assert r.grad is None and d.grad.abs().sum() > 0


def test_dead_window_tracking():
    sp = TopK(4, k=1, dead_window=2)
    c = torch.tensor([[1.0, 0, 0, 0]])
    for _ in range(3):
        sp.update_stats(c)
    assert sp.dead_mask().tolist() == [False, True, True, True]
    assert torch.allclose(sp.pop_firing_frequency(), torch.tensor([1.0, 0, 0, 0]))


def test_unit_norm_helpers():
    torch.manual_seed(0)
    w = torch.randn(10, 4, requires_grad=True)
    w.grad = torch.randn(10, 4)
    remove_parallel_grad_(w)
    assert torch.allclose((w.grad * w.detach()).sum(0), torch.zeros(4), atol=1e-5)
    with torch.no_grad():
        normalize_columns_(w)
    assert torch.allclose(w.norm(dim=0), torch.ones(4), atol=1e-6)
