"""TimeSAEExplainer on the toy bump task: frozen black box, saliency vs ground truth, Algorithm 1 counterfactuals,
CaCE/CAR, concept metrics, checkpoint round trip, the TopK variant and input-shape errors.

The explainer is trained once per module (JumpReLU) plus once for TopK. lr=1e-2 instead of the default 1e-3: the toy
train split is 4 steps per epoch, and with lr=1e-3 the dictionary atoms barely leave their random (time-dense)
initialisation in ~200 steps, so the per-concept footprints cancel in the background and the saliency map scores
little above a random one (measured: AUPRC 0.45 vs 0.39 at 50 epochs × lr 1e-3; 0.81 vs 0.38 at 40 epochs × 1e-2).
"""

from __future__ import annotations

import functools
import re

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from tsexplain.evaluate.groundtruth import gt_scores_per_sample
from tsexplain.explain.timesae import networks
from tsexplain.explain.timesae.counterfactuals import minimal_intervention
from tsexplain.explain.timesae.explainer import TimeSAEExplainer
from tsexplain.explain.timesae.module import TimeSAEModule
from tsexplain.explain.timesae.sparsity import TopK

SMALL = functools.partial(networks.TCNSEEncoder, hidden=32, n_blocks=1, tcn_channels=4, levels=2)
EPOCHS = 40  # × 4 steps
TOPK_K, TOPK_EPOCHS = 3, 10


def _explainer(**module_kw) -> TimeSAEExplainer:
    module = functools.partial(TimeSAEModule, encoder=SMALL, lr=1e-2, **module_kw)
    return TimeSAEExplainer(module=module, max_epochs=EPOCHS, min_steps=0, init_samples=128, seed=0)


@pytest.fixture(scope="module")
def fitted(blackbox, dm):
    """(explainer, black-box state before fit, requires_grad flags before fit)."""
    before = {k: v.clone() for k, v in blackbox.state_dict().items()}
    flags = [p.requires_grad for p in blackbox.parameters()]
    ex = _explainer().fit(blackbox, dm)
    return ex, before, flags


@pytest.fixture(scope="module")
def test_split(dm):
    x, y, mask = dm.splits["test"]
    return x, y, mask


def test_fit_leaves_the_black_box_unchanged_without_grad(fitted, blackbox):
    ex, before, flags = fitted
    after = blackbox.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in blackbox.parameters())
    assert [p.requires_grad for p in blackbox.parameters()] == flags  # fit restores the caller's flags
    assert not blackbox.training
    assert ex.module.blackbox is blackbox
    assert not any(p is q for p in ex.module.parameters() for q in blackbox.parameters())


def test_saliency_is_nonnegative_and_beats_random_on_ground_truth(fitted, test_split):
    ex, _, _ = fitted
    x, y, mask = test_split
    sal = ex.attribute(x, y)
    assert sal.shape == x.shape
    assert torch.isfinite(sal).all() and (sal >= 0).all()
    ours = gt_scores_per_sample(sal, mask)["auprc"]
    rand = gt_scores_per_sample(torch.rand(x.shape, generator=torch.Generator().manual_seed(0)), mask)["auprc"]
    # measured 0.81 vs 0.38 (the bump covers ~30% of each series)
    assert ours > rand + 0.2, f"TimeSAE AUPRC {ours:.3f} vs random {rand:.3f}"


def test_counterfactual_reaches_the_other_class_with_few_concepts(fitted, blackbox, test_split):
    ex, _, _ = fitted
    x, y, _ = test_split
    x, target = x[:32], 1 - y[:32]
    sizes = (1, 2, 4, 8)
    cf = ex.counterfactual(x, target, subset_sizes=sizes, steps=50)
    assert cf.x_cf.shape == x.shape and cf.c_cf.shape == cf.changed.shape == (32, ex.module.d_latent)
    assert cf.success.float().mean() >= 0.9  # measured 1.0 (0.5 when inactive concepts could not be switched on)
    with torch.no_grad():
        pred = blackbox(cf.x_cf).argmax(-1)
    assert torch.equal(pred[cf.success], target[cf.success])
    assert torch.equal(cf.achieved, pred)
    n_changed = cf.changed.sum(-1)
    assert (n_changed <= max(sizes)).all()
    assert n_changed[cf.success].float().mean() <= 4  # measured 1.5
    assert (cf.c_cf >= 0).all()
    assert [len(i) for i in cf.changed_indices()] == n_changed.tolist()


def test_counterfactual_switches_on_an_inactive_concept():
    """Algorithm 1 regression: the only concept that flips f is off (c = 0). A plain ReLU(c + Δc) gives it
    no gradient, so the intervention used to fail; ranking and straight-through ReLU let it be raised."""
    c = torch.tensor([[1.0, 0.5, 0.0]])

    def predict(x):  # class 1 iff concept 2 > 0.2
        return torch.stack([torch.zeros(len(x)), 5.0 * (x[:, 0, 2] - 0.2)], -1)

    cf = minimal_intervention(c, lambda z: z[:, None, :], predict, torch.tensor([1]), subset_sizes=(1,), steps=50)
    assert bool(cf.success[0])
    assert cf.changed_indices() == [[2]]
    assert cf.c_cf[0, 2] > 0.2 and torch.equal(cf.c_cf[0, :2], c[0, :2])


def test_cace_and_car(fitted, test_split):
    ex, _, _ = fitted
    x, y, _ = test_split
    active = int((ex.concepts(x) > 0).any(0).sum())
    eff = ex.cace(x)
    assert eff.shape == (active, 2) and torch.isfinite(eff).all()
    assert ex.cace(x, concepts=[0, 1, 2]).shape == (3, 2)
    # probabilities: removing one concept moves the two class probabilities by opposite amounts
    assert torch.allclose(eff.sum(-1), torch.zeros(active), atol=1e-5)

    car = ex.car(x[y == 1], x[y == 0])
    assert 0.0 <= car["score"] <= 1.0
    assert car["score"] > 0.5  # up vs down bumps are separable in concept space (measured 1.0)
    assert car["direction"].shape == (ex.module.d_latent,)
    assert np.linalg.norm(car["direction"]) == pytest.approx(1.0)

    position = x[:, 0].abs().argmax(-1).float()  # the bump's position: a continuous concept
    reg = ex.car_regression(x, position)
    assert np.isfinite(reg["score"]) and reg["score"] <= 1.0


def test_concept_metrics_ranges(fitted, test_split):
    ex, _, _ = fitted
    x, y, _ = test_split
    m = ex.concept_metrics(x)
    assert set(m) == {"F_x", "eps_rec", "label_fidelity", "l0", "dead_frac", "fvu"}
    assert m["l0"] > 0 and 0.0 <= m["dead_frac"] <= 1.0
    assert np.isfinite(m["label_fidelity"]) and m["label_fidelity"] >= 0
    assert m["F_x"] >= 0 and m["eps_rec"] >= 0 and m["fvu"] >= 0
    with_cf = ex.concept_metrics(x, 1 - y[:16])  # counterfactuals for the first 16 samples
    assert with_cf["eps_cf"] >= 0 and 0.0 <= with_cf["cf_success"] <= 1.0
    rho = with_cf["spearman_eps_cf_F_x"]
    assert np.isnan(rho) or -1.0 <= rho <= 1.0
    assert ex.counterfactual(x[:16], 1 - y[:16], **ex.cf_kwargs).x_cf.shape == (16, *x.shape[1:])


def test_figures_draw_their_own_counterfactual_the_one_of_the_batch(fitted, blackbox, test_split, tmp_path):
    """`figures` needs no state from `explanation_metrics`: it searches the first sample's counterfactual itself,
    and the search is per sample, so it is the counterfactual the batch of `explanation_metrics` finds for it."""
    ex, _, _ = fitted
    x, y, _ = test_split
    fresh = ex.rebind(blackbox)  # no explanation_metrics ever ran on this copy
    paths = fresh.figures(x[:8], y[:8], blackbox.meta, tmp_path)
    assert tmp_path / "timesae_counterfactual.png" in paths and (tmp_path / "timesae_counterfactual.png").is_file()
    target, first = fresh.first_counterfactual(x[:8])
    batch_targets = ex.counterfactual_targets(x[:16])
    batch = ex.counterfactual(x[:16], batch_targets, **ex.cf_kwargs)
    assert int(target[0]) == int(batch_targets[0])
    assert torch.equal(first.changed[0], batch.changed[0]) and bool(first.success[0]) == bool(batch.success[0])
    assert torch.allclose(first.x_cf[0], batch.x_cf[0], atol=1e-5)


def test_checkpoint_round_trip_reproduces_saliency_without_training(fitted, blackbox, dm, test_split, tmp_path):
    ex, _, _ = fitted
    x, y, _ = test_split
    assert ex.best_ckpt_path and ex.best_ckpt_path.endswith(".ckpt")

    def no_training(**kwargs):
        pytest.fail("ckpt_path was given: nothing should train")

    again = _explainer()
    again.ckpt_path = ex.best_ckpt_path
    again.fit(blackbox, dm, trainer_factory=no_training)
    assert torch.equal(again.attribute(x, y), ex.attribute(x, y))
    assert again.best_ckpt_path == ex.best_ckpt_path
    # the reloaded history ends at the checkpoint's epoch (the best one, possibly before the last)
    assert 0 < len(again.module.firing_history) <= len(ex.module.firing_history)

    missing = str(tmp_path / "no_such.ckpt")
    lost = _explainer()
    lost.ckpt_path = missing
    with pytest.raises(ValueError, match=re.escape(repr(missing))):
        lost.fit(blackbox, dm, trainer_factory=no_training)


def test_wrong_shape_at_attribute_names_both_shapes(fitted):
    ex, _, _ = fitted
    with pytest.raises(ValueError, match=r"\[1, 24\].*\(4, 2, 24\)"):
        ex.attribute(torch.randn(4, 2, 24))
    with pytest.raises(ValueError, match=r"\[1, 24\].*\(4, 1, 30\)"):
        ex.concepts(torch.randn(4, 1, 30))


def test_topk_variant_anneals_to_k_with_unit_norm_columns(blackbox, dm, tmp_path, test_split):
    trainers: list[L.Trainer] = []
    asked: list = []

    def factory(max_epochs, monitor=None, mode="min", patience=None):
        asked.append(patience)
        ckpt = ModelCheckpoint(dirpath=tmp_path, monitor=monitor, mode=mode, save_last=True)
        trainers.append(L.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False, callbacks=[ckpt],
                                  enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0))
        return trainers[-1]

    ex = _explainer(sparsity=functools.partial(TopK, k=TOPK_K, gamma_max=4.0))
    ex.max_epochs = TOPK_EPOCHS
    ex.fit(blackbox, dm, trainer_factory=factory)
    assert asked == [None]  # its own budget, all of it: no early stopping unless early_stopping_patience asks
    sp = ex.module.sparsity
    total = TOPK_EPOCHS * 4
    assert sp.anneal_steps == total // 2
    assert sp.k_at(0) == 4 * TOPK_K and sp.k_at(sp.anneal_steps) == TOPK_K
    # the last epoch ran entirely after annealing: its mean training L0 (train-mode k_t) is at most k
    assert float(trainers[0].callback_metrics["timesae/train/l0"]) <= TOPK_K
    x, y, _ = test_split
    assert 0 < ex.concept_metrics(x)["l0"] <= TOPK_K
    for a in ex.module.decoder.atoms:
        assert torch.allclose(a.norm(dim=0), torch.ones(a.shape[1]), atol=1e-5)
    assert ex.best_ckpt_path.startswith(str(tmp_path))


# -- health, model-following maps, amortised cost (issue: TimeSAE that trains healthy and follows the model) --


def test_default_fit_is_healthy_and_says_so(fitted, test_split):
    ex, _, _ = fitted
    h = ex.health
    assert h is not None and h.healthy, h.problems
    assert h.fvu < 0.2  # measured 0.05 (PCA-8: 0.02; the gate allows max(0.2, 1.25 × PCA))
    assert h.dead_fraction < 0.8 and 2.0 <= h.l0 <= 32.0  # target 8
    m = ex.explanation_metrics(*test_split[:1], test_split[1], ex.module.meta)
    assert m["healthy"] == 1.0 and m["health_fvu"] == pytest.approx(h.fvu)


def test_health_gate_refuses_a_collapsed_fit(fitted, dm):
    from tsexplain.explain.timesae.health import HealthGate

    ex, _, _ = fitted
    dead = _explainer().module_factory(blackbox=ex.module.blackbox, meta=dm.meta)
    dead.set_data_stats(dm.splits["train"][0])
    with torch.no_grad():
        dead.sparsity.log_threshold.fill_(5.0)  # θ = e⁵, far above every pre-activation: no concept fires
    dead.eval()
    gate = HealthGate()
    h = gate.measure(dead, dm.splits["train"][0], dm.splits["val"][0])
    assert not h.healthy and h.l0 == 0.0 and h.dead_fraction == 1.0
    assert any("FVU" in p for p in h.problems) and any("never fire" in p for p in h.problems)
    with pytest.raises(RuntimeError, match=r"collapsed or is unhealthy.*never fire.*on_unhealthy=warn"):
        gate.enforce(h)
    HealthGate(on_unhealthy="warn").enforce(h)  # warns, does not raise
    with pytest.raises(ValueError, match="'raise' or 'warn'"):
        HealthGate(on_unhealthy="ignore")


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    import copy

    other = copy.deepcopy(model)
    torch.manual_seed(123)
    for m in other.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return other.eval()


def _rank_corr(a: torch.Tensor, b: torch.Tensor) -> float:
    from scipy.stats import spearmanr

    # a constant map (no concept supports the class under the random model) is uncorrelated: 0, not nan
    rho = [spearmanr(u.flatten(), v.flatten()).statistic for u, v in zip(a, b, strict=True)]
    return float(np.mean(np.nan_to_num(rho, nan=0.0)))


def test_effect_map_follows_the_model_and_the_class_footprint_does_not(fitted, blackbox, test_split):
    ex, _, _ = fitted
    x, y, mask = test_split
    keep = torch.nonzero(ex.attribute(x, y).flatten(1).std(1) > 0).flatten()[:32]
    x, y = x[keep], y[keep]
    sal = ex.attribute(x, y)
    foot = ex.maps(x, y)["footprint"]
    other = ex.rebind(_randomised(blackbox))
    assert other.module.blackbox is not blackbox and ex.module.blackbox is blackbox  # the original is untouched
    assert torch.equal(other.maps(x, y)["footprint"], foot)  # model-blind: identical under randomisation
    rand_sal = other.attribute(x, y)
    assert _rank_corr(sal, rand_sal) < 0.8  # measured ≈ 0.3
    assert not torch.allclose(ex.attribute(x, 1 - y), sal)  # another class, another map


def test_former_insertion_default_is_scored_beside_the_integrated_map(fitted, test_split):
    ex, _, _ = fitted
    x, y, _ = test_split
    hp = ex.module.hparams
    assert (hp.effect, hp.effect_signed) == ("integrated", False)  # the default
    maps = ex.maps(x[:16], y[:16])
    assert set(maps) == {"footprint", "mask", "effect_insertion"}
    hp.effect, hp.effect_signed = "insertion", True
    try:
        assert torch.allclose(maps["effect_insertion"], ex.attribute(x[:16], y[:16]))  # the same reading
        assert set(ex.maps(x[:16], y[:16])) == {"footprint", "mask"}  # not scored twice
    finally:
        hp.effect, hp.effect_signed = "integrated", False
    assert not torch.allclose(maps["effect_insertion"], ex.attribute(x[:16], y[:16]))


@pytest.mark.parametrize("effect, steps", [("integrated", 1), ("integrated", 3), ("insertion", 1)])
def test_attribution_cost_follows_the_active_concepts_not_d(fitted, test_split, effect, steps):
    ex, _, _ = fitted
    x, y, _ = test_split
    calls = []
    f = ex.module.f
    hp = ex.module.hparams
    saved = hp.effect, hp.effect_steps
    ex.module.f = lambda z: (calls.append(len(z)), f(z))[1]  # count the rows the black box is asked about
    hp.effect, hp.effect_steps = effect, steps
    try:
        sal = ex.module.saliency(x, y)
    finally:
        del ex.module.f
        hp.effect, hp.effect_steps = saved
    c = ex.module.encode(x)
    active = int((c > 0).sum())
    n_classes = len(y[(c > 0).any(-1)].unique())
    if effect == "integrated":  # one forward (and backward) of the batch per path point, whatever d and L0
        assert calls == [len(x)] * steps
    else:  # insertion effects: one call per active (sample, concept) pair, and the empty code once per class
        assert sum(calls) == active + n_classes
    assert sum(calls) < len(x) * ex.module.d_latent / 2
    assert sal.shape == x.shape


def test_counterfactuals_reach_the_target_with_a_margin(fitted, test_split):
    ex, _, _ = fitted
    x, y, _ = test_split
    cf = ex.counterfactual(x[:32], 1 - y[:32], subset_sizes=(1, 2, 4, 8), steps=50, margin=0.3)
    p = ex._probs(cf.x_cf).detach()
    lead = p.gather(1, (1 - y[:32])[:, None]).squeeze(1) - p.gather(1, y[:32, None]).squeeze(1)
    assert cf.success.float().mean() >= 0.8
    assert (lead[cf.success] >= 0.3 - 1e-6).all()  # not a flip at p ≈ ½


def test_small_datasets_get_enough_steps():
    """5 epochs are ~400 steps on a 5,000-sample benchmark but 15 on a 40-series UCR set (3 batches an epoch),
    where the SAE cannot leave its initialisation (GunPoint: FVU 1.12, 98 % dead): min_steps raises the epochs."""
    ex = TimeSAEExplainer(max_epochs=5, min_steps=400)
    assert ex.epochs_for(79) == 6 and ex.epochs_for(80) == 5 and ex.epochs_for(3) == 134
    assert TimeSAEExplainer(max_epochs=5, min_steps=0).epochs_for(3) == 5
    # many latents need more steps: 0.6 × 1280 = 768 steps of 79 → 10 epochs; few latents leave min_steps in charge
    assert ex.epochs_for(79, d_latent=1280) == 10 and ex.epochs_for(79, d_latent=80) == 6
    assert TimeSAEExplainer(max_epochs=5, min_steps=400, steps_per_latent=0).epochs_for(79, d_latent=1280) == 6
    with pytest.raises(ValueError, match="steps_per_latent"):
        TimeSAEExplainer(steps_per_latent=-1)
