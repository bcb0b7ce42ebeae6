"""TimeX: its loss terms, a mask that finds a planted signal, improving consistency, checkpoint reuse, bad options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from torch import nn
from torch.utils.data import DataLoader

from tsexplain.explain.timex import TimeXExplainer, TimeXModule, losses
from tsexplain.explain.timex.networks import embedding_reader
from tsexplain.models.backbones.timex_transformer import TimeXTransformer
from tsexplain.utils.compose import PROJECT_CONF

C, T = 2, 24


class SpikeNet(nn.Module):
    """Class 1 when channel 0 rises above 1.5 (a spike); channel 1 is never read. Head: a Linear on 2 features."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(2, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[-3.0, 0.0], [3.0, 0.0]]))
            self.head.bias.copy_(torch.tensor([1.5, -1.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = torch.stack([torch.relu(x[:, 0] - 1.5).sum(-1), x[:, 1].mean(-1)], -1)
        return self.head(feats)


def _spike_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, C, T, generator=g) * 0.3
    y = torch.arange(n) % 2
    mask = torch.zeros(n, C, T)
    for i in torch.nonzero(y).flatten():
        t0 = int(torch.randint(1, T - 3, (1,), generator=g))
        x[i, 0, t0 : t0 + 2] += 4.0
        mask[i, 0, t0 : t0 + 2] = 1
    return x, y, mask


class Data:
    """A train loader of dict batches, as the project's datamodules yield them. No validation loader: the fit keeps
    its last epoch (on this toy the sampled-mask selection score is too noisy to pick an epoch by)."""

    def __init__(self, n: int = 256, batch_size: int = 32) -> None:
        self.train = _spike_data(n, 0)
        self.val = _spike_data(64, 1)
        self.batch_size = batch_size

    def _loader(self, split, shuffle):
        x, y, _ = split
        return DataLoader([{"x": a, "y": b} for a, b in zip(x, y, strict=True)], batch_size=self.batch_size,
                          shuffle=shuffle, generator=torch.Generator().manual_seed(0))

    def train_dataloader(self):
        return self._loader(self.train, True)



class DataWithVal(Data):
    def val_dataloader(self):
        return self._loader(self.val, False)


def _module(**kw):
    base = dict(n_prototypes=8, generator=dict(d_pe=8, dim_feedforward=16, dec_dim_feedforward=16))
    base.update(kw)
    return lambda **a: TimeXModule(**a, **base)


def _fit(max_epochs: int = 30, data=None, **kw) -> TimeXExplainer:
    # Seeded: on this toy a fit either finds the spike within ~30 epochs (seeds 1, 2: AUPRC 1.0) or, from a poor
    # start, has not yet left p ≈ r (seed 0: 0.05–0.2 at 30 epochs); the seed makes the test a fixed computation.
    torch.manual_seed(0)
    return TimeXExplainer(module=_module(**kw), max_epochs=max_epochs, init_samples=256, seed=1).fit(
        SpikeNet(), data or Data())


@pytest.fixture(scope="module")
def fitted() -> TimeXExplainer:
    return _fit()


def _auprc(sal: torch.Tensor, mask: torch.Tensor) -> float:
    keep = mask.flatten(1).sum(1) > 0
    return float(np.mean([average_precision_score(m, s) for m, s in
                          zip(mask.flatten(1)[keep].numpy(), sal.flatten(1)[keep].numpy(), strict=True)]))


def test_the_mask_finds_the_planted_spike(fitted):
    x, y, mask = _spike_data(64, 2)
    sal = fitted.attribute(x)
    assert sal.shape == x.shape and bool((sal >= 0).all() and (sal <= 1).all())
    random = float(mask[mask.flatten(1).sum(1) > 0].mean())  # a random map's expected AUPRC: the positive share
    assert random < 0.05
    assert _auprc(sal, mask) > 0.5


def test_consistency_improves_over_training(fitted):
    x, _, _ = _spike_data(64, 3)
    fresh = _fit(max_epochs=1)  # one epoch: the starting point
    def consistency(explainer, term):  # averaged over mask draws: each objective samples a hard mask
        torch.manual_seed(0)
        with torch.no_grad():
            return float(np.mean([float(explainer.module.eval().objective(x)[term]) for _ in range(8)]))
    assert consistency(fitted, "mbc") < 0.8 * consistency(fresh, "mbc")
    assert consistency(fitted, "select") < 0.8 * consistency(fresh, "select")


def test_checkpoint_reuse_gives_identical_maps(fitted):
    assert fitted.best_ckpt_path is not None
    again = TimeXExplainer(module=_module(), ckpt_path=fitted.best_ckpt_path, init_samples=256).fit(SpikeNet(), Data())
    x, _, _ = _spike_data(16, 4)
    assert torch.equal(again.attribute(x), fitted.attribute(x))
    assert again.best_ckpt_path == fitted.best_ckpt_path


def test_rebind_keeps_the_generator_and_swaps_the_black_box(fitted):
    other = SpikeNet()
    with torch.no_grad():
        other.head.weight.mul_(-1)
    clone = fitted.rebind(other)
    x, _, _ = _spike_data(8, 5)
    assert clone.blackbox is other and fitted.blackbox is not other
    assert torch.equal(clone.attribute(x), fitted.attribute(x))
    with torch.no_grad():
        assert torch.equal(clone.module._read_blackbox(x)[0], other(x))


def test_loss_terms_have_their_known_values():
    p = torch.full((2, 1, 5), 0.5)
    assert abs(float(losses.mask_size_loss(p, 0.5))) < 1e-4  # KL(p ‖ r) is 0 at p = r
    assert float(losses.mask_size_loss(torch.full_like(p, 0.9), 0.5)) > 0.3
    assert float(losses.connect_loss(p)) == 0.0
    z = torch.randn(6, 4)
    assert float(losses.embedding_consistency(z, 3 * z)) < 1e-10  # cosine geometry: scale-free
    assert float(losses.embedding_consistency(z, torch.randn(6, 4))) > 0.01
    logits = torch.randn(5, 3)
    assert float(losses.label_consistency(logits + 1.0, logits)) < 1e-10  # softmax is shift-free
    assert float(losses.label_consistency(torch.zeros(5, 3), 4 * logits)) > 1e-4


def test_timex_transformer_embedding_is_its_pooled_embed():
    model = TimeXTransformer(in_channels=1, seq_len=10, n_outputs=3).eval()
    x = torch.randn(4, 1, 10)
    out, z = embedding_reader(model)(x)
    assert torch.allclose(z, model.embed(x)[0]) and torch.allclose(out, model(x))
    out_h, z_h = embedding_reader(model, "mlp.2")(x)  # another black box's way: the head's input, by a hook
    assert z_h.shape == (4, model.d_model) and torch.allclose(out_h, model(x))


@pytest.mark.parametrize("kw, match", [
    (dict(r=1.5), "r=1.5 must be in"), (dict(tau=0.0), "tau=0.0"), (dict(label_head="x"), "label_head"),
    (dict(n_prototypes=-1), "n_prototypes"), (dict(embedding_layer="nope"), "embedding_layer='nope'"),
])
def test_bad_module_options_fail_before_training(kw, match):
    with pytest.raises(ValueError, match=match):
        TimeXExplainer(module=_module(**kw), init_samples=256).fit(SpikeNet(), Data())


def test_bad_explainer_input_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match="max_epochs=0"):
        TimeXExplainer(max_epochs=0)
    with pytest.raises(ValueError, match="does not exist"):
        TimeXExplainer(ckpt_path=str(tmp_path / "missing.ckpt")).fit(SpikeNet(), Data())
    with pytest.raises(ValueError, match="needs the datamodule"):
        TimeXExplainer().fit(SpikeNet())

    class Regressor(SpikeNet):
        task = "regression"
    with pytest.raises(ValueError, match="explains classifiers"):
        TimeXExplainer().fit(Regressor(), Data())
    with pytest.raises(ValueError, match="n_prototypes=8 landmarks need"):
        TimeXExplainer(module=_module(), init_samples=4).fit(SpikeNet(), Data())


def test_config_builds_the_explainer_with_the_papers_defaults_and_its_checkpoint_reloads():
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(PROJECT_CONF / "explainer" / "timex.yaml")
    explainer = instantiate(cfg)
    assert isinstance(explainer, TimeXExplainer) and explainer.max_epochs == 50
    module = explainer.module_factory(blackbox=SpikeNet(), in_channels=C, seq_len=T, n_outputs=2)
    h = module.hparams
    assert (h.r, h.beta_exp, h.w_connect, h.n_prototypes, h.lr, h.weight_decay) == (0.5, 2.0, 2.0, 50, 1e-3, 1e-3)
    # Hydra hands the nested settings over as DictConfig: the checkpoint must still load weights-only
    cfg = OmegaConf.merge(cfg, {"max_epochs": 1, "init_samples": 256, "module": {"n_prototypes": 8}})
    fitted = instantiate(cfg).fit(SpikeNet(), Data())
    again = instantiate(OmegaConf.merge(cfg, {"ckpt_path": fitted.best_ckpt_path})).fit(SpikeNet(), Data())
    x, _, _ = _spike_data(8, 6)
    assert torch.equal(again.attribute(x), fitted.attribute(x))


def _run_trainers(tmp_path, run_patience: int):
    """The pipeline's TrainerFactory with a run whose black-box early stopping would stop after `run_patience`
    epochs (min_delta so large that no epoch counts as an improvement after the first)."""
    from omegaconf import OmegaConf

    from tsexplain.utils.instantiate import Trainers

    trainer = OmegaConf.create({"_target_": "lightning.pytorch.Trainer", "accelerator": "cpu", "devices": 1,
                                "enable_progress_bar": False, "enable_model_summary": False,
                                "num_sanity_val_steps": 0})
    callbacks = OmegaConf.create({
        "model_checkpoint": {"_target_": "tsexplain.utils.checkpoint.ModelCheckpoint", "dirpath": "unused",
                             "monitor": "val/f1", "mode": "max", "save_last": True},
        "early_stopping": {"_target_": "lightning.pytorch.callbacks.EarlyStopping", "monitor": "val/f1",
                           "mode": "max", "patience": run_patience, "min_delta": 1e9},
    })
    return Trainers(trainer, callbacks, [], str(tmp_path))


def test_the_explainer_trains_its_own_budget_not_the_black_boxs_patience(tmp_path):
    # The run's early stopping (patience 1, no epoch ever better) would end the fit after 2 epochs; TimeX's
    # reference trains every epoch and keeps the best, so all 4 run.
    TimeXExplainer(module=_module(), max_epochs=4, init_samples=256).fit(SpikeNet(), DataWithVal(),
                                                                         trainer_factory=_run_trainers(tmp_path, 1))
    last = torch.load(tmp_path / "explainer_checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 3


def test_explainer_patience_is_its_own_and_checked():
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import EarlyStopping
    from omegaconf import OmegaConf

    from tsexplain.utils.instantiate import explainer_callbacks, instantiate_group

    run = OmegaConf.create({"early_stopping": {"_target_": "lightning.pytorch.callbacks.EarlyStopping",
                                               "monitor": "val/f1", "mode": "max", "patience": 60}})
    assert explainer_callbacks(run, "d", "timex/val/loss", "min", None).early_stopping is None
    assert explainer_callbacks(run, "d", None, "min", 3).early_stopping is None  # no validation data: nothing to watch
    for cfg in (run, OmegaConf.create({})):  # replaces the run's, or adds one where the run has none
        (stop,) = instantiate_group(explainer_callbacks(cfg, "d", "timex/val/loss", "min", 3))
        assert isinstance(stop, EarlyStopping)
        assert (stop.monitor, stop.patience, stop.mode, stop.min_delta) == ("timex/val/loss", 3, "min", 0.0)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="early_stopping_patience"):
            TimeXExplainer(early_stopping_patience=bad)
    cfg = OmegaConf.load(PROJECT_CONF / "explainer" / "timex.yaml")
    assert instantiate(cfg).patience is None
