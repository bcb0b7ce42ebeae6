"""Each TimeSAE loss term is zero / non-zero in constructed cases; w=0 skips a term."""

import functools
import math

import pytest
import torch

from tsexplain.explain.timesae import losses
from tsexplain.explain.timesae.module import TimeSAEModule
from tsexplain.explain.timesae.networks import MLPEncoder


def test_reconstruction_and_fvu():
    x = torch.randn(4, 2, 5)
    assert losses.reconstruction(x, x).item() == 0.0
    assert math.isclose(losses.reconstruction(x, torch.zeros_like(x)).item(), x.pow(2).sum().item() / 4, rel_tol=1e-5)
    assert math.isclose(losses.fvu(x, x.mean(0, keepdim=True).expand_as(x)).item(), 1.0, rel_tol=1e-5)


def test_label_fidelity_zero_iff_same_outputs(blackbox, dm):
    x = dm.splits["test"][0][:8]
    assert losses.label_fidelity(blackbox(x), blackbox(x), "multiclass").item() == 0.0
    assert losses.label_fidelity(blackbox(x), blackbox(-x), "multiclass").item() > 0.1
    p = torch.tensor([[2.0, 0.0]])
    # probabilities, not logits: a logit shift common to all classes changes nothing
    assert losses.label_fidelity(p, p + 5.0, "multiclass").item() < 1e-12
    assert losses.label_fidelity(p, p + 5.0, "regression").item() == 50.0


def test_compositional_consistency_and_recombination():
    torch.manual_seed(0)
    c = torch.relu(torch.randn(16, 6))
    cp = losses.recombine_concepts(c)
    for j in range(6):  # every entry of c′ comes from the same concept of some sample
        assert set(cp[:, j].tolist()) <= set(c[:, j].tolist())
    assert not torch.equal(cp, c)
    assert losses.compositional_consistency(cp, cp).item() == 0.0
    # squared error summed over concepts, mean over samples — not divided by ‖c′‖², which all-zero codes satisfy
    expected = cp.pow(2).sum(-1).mean().item()
    assert losses.compositional_consistency(cp, torch.zeros_like(cp)).item() == pytest.approx(expected)
    small = 0.01 * cp  # shrinking the codes shrinks the loss quadratically: it cannot be "won" by tiny codes' ratio
    assert losses.compositional_consistency(small, torch.zeros_like(small)).item() == pytest.approx(1e-4 * expected)


def test_fidelity_loss_is_zero_once_the_label_holds_with_margin():
    f_x = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 4.0]])
    agree = torch.tensor([[1.5, 0.0, 0.2], [0.0, 0.0, 1.1]])  # labels agree, logit lead ≥ 1
    assert losses.fidelity_loss(f_x, agree, "multiclass").item() == 0.0
    wrong = torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, 1.1]])  # first sample labelled 1: hinge 2 − 0 + 1 = 3
    assert losses.fidelity_loss(f_x, wrong, "multiclass").item() == pytest.approx(1.5)
    wrong.requires_grad_(True)
    losses.fidelity_loss(f_x, wrong, "multiclass").backward()
    assert wrong.grad[0, 0] < 0 < wrong.grad[0, 1] and wrong.grad[1].abs().sum() == 0


def test_limit_grad_caps_each_samples_gradient_at_the_reference():
    x = torch.ones(2, 1, 4, requires_grad=True)
    y = losses.limit_grad(x, torch.tensor([0.5, 100.0]))
    assert torch.equal(y, x)
    (10.0 * y).sum().backward()  # gradient 10 per entry: norm 20 per sample
    assert x.grad[0].norm().item() == pytest.approx(0.5)
    assert x.grad[1].norm().item() == pytest.approx(20.0)  # below its cap: untouched


def test_interventions_set_one_concept_each():
    c = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    ks, vals = losses.choose_interventions(c, 3)
    assert sorted(ks.tolist()) == [0, 1, 2] and torch.equal(vals, c.amax(0)[ks])
    cm = losses.intervene(c, ks, vals)
    assert cm.shape == (2, 3, 3)
    for m, k in enumerate(ks.tolist()):
        assert (cm[:, m, k] == vals[m]).all()
        others = [j for j in range(3) if j != k]
        assert torch.equal(cm[:, m, others], c[:, others])


def test_counterfactual_infonce_low_for_consistent_interventions_high_for_confused():
    torch.manual_seed(0)
    b, m = 8, 4
    z = torch.eye(m).unsqueeze(0).repeat(b, 1, 1) * 3.0  # intervention m always gives output e_m
    good = losses.counterfactual_infonce(z, tau=0.1).item()
    bad = losses.counterfactual_infonce(torch.ones(b, m, m), tau=0.1).item()
    assert good < 1e-3
    assert bad == pytest.approx(math.log(m), rel=1e-5)


def test_warmup_is_linear():
    assert losses.warmup(2.0, 0, 10) == 0.0
    assert losses.warmup(2.0, 5, 10) == 1.0
    assert losses.warmup(2.0, 50, 10) == 2.0


def _module(blackbox, **kw):
    enc = functools.partial(MLPEncoder, hidden=16, n_blocks=1)
    m = TimeSAEModule(blackbox, encoder=enc, r=0.5, **kw)
    return m


@pytest.mark.parametrize("off", ["rec", "sparse", "fid", "cc", "cf", "gate"])
def test_zero_weight_skips_term(blackbox, dm, off):
    torch.manual_seed(0)
    m = _module(blackbox, **{f"w_{off}": 0.0})
    terms, _ = m.compute_terms(dm.splits["train"][0][:16])
    assert off not in terms
    assert set(terms) == {"rec", "sparse", "fid", "cc", "cf", "gate"} - {off}
    assert all(torch.isfinite(v) for v in terms.values())


def test_zero_weight_skips_black_box_calls(blackbox, dm):
    calls = []
    h = blackbox.register_forward_hook(lambda mod, i, o: calls.append(len(i[0])))
    try:
        m = _module(blackbox, w_fid=0.0, w_cf=0.0)
        calls.clear()
        m.compute_terms(dm.splits["train"][0][:16])
        assert calls == []  # neither fidelity nor counterfactuals queried f
        m.weights["cf"] = 0.9
        m.compute_terms(dm.splits["train"][0][:16])
        assert calls == [16 * m.hparams.n_interventions]
    finally:
        h.remove()
