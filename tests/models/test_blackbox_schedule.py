"""Learning-rate schedules of `BlackBox` (cosine, warm-up + cosine, OneCycle) and the per-dataset transformer
recipes composed through `conf/model_dataset/` (issue 8)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from tsexplain.data.datamodule import DictDataset, collate_dict
from tsexplain.data.meta import DataMeta
from tsexplain.models import schedules
from tsexplain.models.backbones.layers import Dropout, attn_dropout
from tsexplain.models.backbones.timex_transformer import TimeXTransformer
from tsexplain.models.blackbox import BlackBox, warmup_cosine
from tsexplain.utils.compose import PROJECT_CONF


def test_warmup_cosine_multiplier():
    w, total = 10, 110
    assert warmup_cosine(0, w, total) == pytest.approx(0.1)  # first step already trains, at lr / w
    assert warmup_cosine(4, w, total) == pytest.approx(0.5)
    assert warmup_cosine(9, w, total) == pytest.approx(1.0)  # end of warm-up: the peak
    assert warmup_cosine(10, w, total) == pytest.approx(1.0)
    assert warmup_cosine(60, w, total) == pytest.approx(0.5)  # half-way through the cosine
    assert warmup_cosine(110, w, total) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(500, w, total) == pytest.approx(0.0, abs=1e-12)  # no restart past the end


def test_cpu_dropout_keeps_the_dropout_distribution():
    torch.manual_seed(0)
    x = torch.ones(200_000, requires_grad=True)
    y = attn_dropout(x, 0.25)
    assert abs((y == 0).float().mean().item() - 0.25) < 0.01
    assert torch.unique(y.detach()).tolist() == pytest.approx([0.0, 1 / 0.75]) and abs(y.mean().item() - 1) < 0.01
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # gradient flows through the kept entries only, scaled alike
    d = Dropout(0.25)
    assert torch.equal(d.eval()(x), x) and not torch.equal(d.train()(x), x)


class _LrLog(L.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def _fit(tmp_path, max_epochs: int = 4, **kw) -> list[float]:
    """lr seen by every optimiser step of a real fit: 5 batches an epoch."""
    torch.manual_seed(0)
    meta = DataMeta(name="toy", task="multiclass", n_channels=1, seq_len=20, n_outputs=4)
    model = BlackBox(lambda **a: TimeXTransformer(**a, dim_feedforward=8), meta, lr=1e-2, **kw)
    data = DictDataset({"x": torch.randn(40, 1, 20), "y": torch.randint(0, 4, (40,))})
    log = _LrLog()
    trainer = L.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[log],
                        default_root_dir=tmp_path)
    trainer.fit(model, DataLoader(data, batch_size=8, collate_fn=collate_dict))
    assert len(log.lrs) == 5 * max_epochs
    return log.lrs


def test_warmup_then_cosine_per_step(tmp_path):
    lrs = _fit(tmp_path, scheduler=schedules.cosine, warmup_epochs=1)
    assert lrs[0] == pytest.approx(1e-2 / 5)  # step 0: 1/5 of lr (warm-up over the 5 steps of epoch 0)
    assert lrs[4] == pytest.approx(1e-2)  # last warm-up step: the peak
    assert lrs[5] == pytest.approx(1e-2)
    assert all(a > b for a, b in zip(lrs[5:-1], lrs[6:], strict=True))  # then decreasing, per step
    assert lrs[-1] < 0.02 * 1e-2


def test_cosine_without_warmup_is_the_old_per_epoch_schedule(tmp_path):
    lrs = _fit(tmp_path, scheduler=schedules.cosine)
    assert lrs[:5] == [pytest.approx(1e-2)] * 5  # constant within an epoch, full lr at step 0
    assert lrs[5] == pytest.approx(1e-2 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi / 4)).item()))


def test_onecycle_peaks_after_warmup(tmp_path):
    lrs = _fit(tmp_path, scheduler=schedules.one_cycle, warmup_epochs=1)
    assert lrs[0] == pytest.approx(1e-2 / 25)  # torch's OneCycleLR default div_factor
    assert max(lrs) == pytest.approx(1e-2, rel=1e-3) and lrs.index(max(lrs)) in (4, 5)
    assert lrs[-1] < 1e-4


def test_unknown_scheduler_and_negative_warmup_fail():
    meta = DataMeta(name="toy", task="multiclass", n_channels=1, seq_len=20, n_outputs=4)
    with pytest.raises(ValueError, match="onecycle"):
        BlackBox(lambda **a: TimeXTransformer(**a), meta, scheduler="step")
    with pytest.raises(ValueError, match="warmup_epochs"):
        BlackBox(lambda **a: TimeXTransformer(**a), meta, warmup_epochs=-1)


def test_transformer_on_seqcomb_uv_composes_its_specialised_recipe(make_cfg):
    cfg = make_cfg(["model=transformer", "dataset=seqcomb_uv"], tiny=False)
    bb = cfg.model.backbone
    assert (bb.n_layers, bb.dim_feedforward, bb.dropout) == (2, 64, 0.25)  # TimeX's SeqComb-UV size
    # TimeX's optimiser settings (README "Training recipe"): lr 1e-3, constant lr, no warm-up, at batch 16 (not 64)
    assert cfg.model.warmup_epochs == 0 and cfg.model.scheduler._target_ == "tsexplain.models.schedules.constant"
    assert cfg.model.lr == 1e-3 and cfg.dataset.batch_size == 16 and cfg.trainer.max_epochs == 90
    assert cfg.monitor.metric == "val/f1" and cfg.monitor.mode == "max"
    assert cfg.callbacks.early_stopping.monitor == "val/f1"  # early stopping follows the monitor


def test_transformer_on_lowvar_starts_from_local_attention(make_cfg):
    """LowVar's recipe (README "Training recipe"): TimeX's size, attention started local, batch 16; TimeX's own
    schedule (experiment=timex_lowvar) keeps torch's uniform start and batch 64."""
    cfg = make_cfg(["model=transformer", "dataset=lowvar"], tiny=False)
    assert cfg.model.backbone.local_attention_init == 10.0 and cfg.dataset.batch_size == 16
    assert cfg.model.scheduler._target_.endswith("constant") and cfg.monitor.metric == "val/f1"
    paper = make_cfg(["experiment=timex_lowvar"], tiny=False)
    assert paper.model.backbone.local_attention_init == 0.0 and paper.dataset.batch_size == 64


def test_transformer_on_seqcomb_mv_trains_without_dropout(make_cfg):
    """SeqComb-MV's recipe (README "Training recipe"): TimeX's size, no dropout, batch 16, constant lr; TimeX's own
    schedule (experiment=timex_seqcomb_mv) keeps its dropout 0.25 and batch 64."""
    cfg = make_cfg(["model=transformer", "dataset=seqcomb_mv"], tiny=False)
    bb = cfg.model.backbone
    assert (bb.n_layers, bb.dim_feedforward, bb.dropout) == (2, 128, 0.0) and cfg.dataset.batch_size == 16
    assert cfg.model.scheduler._target_.endswith("constant") and cfg.trainer.max_epochs == 150
    assert cfg.callbacks.early_stopping.monitor == "val/f1" and cfg.callbacks.early_stopping.patience == 60
    paper = make_cfg(["experiment=timex_seqcomb_mv"], tiny=False)
    assert paper.model.backbone.dropout == 0.25 and paper.dataset.batch_size == 64


@pytest.mark.parametrize("dataset,sizes", [("freqshapes", (1, 16, False)), ("lowvar", (1, 32, True)),
                                           ("seqcomb_mv", (2, 128, False))])
def test_every_synthetic_dataset_has_a_transformer_recipe(make_cfg, dataset, sizes):
    bb = make_cfg(["model=transformer", f"dataset={dataset}"], tiny=False).model.backbone
    assert (bb.n_layers, bb.dim_feedforward, bb.norm_embedding) == sizes


def test_recipe_is_only_for_its_model_and_command_line_still_wins(make_cfg):
    plain = make_cfg(["model=resnet_tf", "dataset=seqcomb_uv"], tiny=False)
    assert plain.monitor.metric == "val/loss" and plain.dataset.batch_size == 64
    cfg = make_cfg(["model=transformer", "dataset=seqcomb_uv", "dataset.batch_size=8", "monitor.metric=val/loss"],
                   tiny=False)
    assert cfg.dataset.batch_size == 8 and cfg.monitor.metric == "val/loss"


@pytest.mark.parametrize("dataset,epochs", [("freqshapes", 100), ("seqcomb_uv", 200), ("seqcomb_mv", 1000),
                                            ("lowvar", 120)])
def test_timex_experiments_keep_the_papers_schedule(make_cfg, dataset, epochs):
    cfg = make_cfg([f"experiment=timex_{dataset}"], tiny=False)
    assert cfg.dataset.name == dataset and cfg.trainer.max_epochs == epochs
    assert cfg.dataset.batch_size == 64 and cfg.model.warmup_epochs == 0 and cfg.callbacks.early_stopping is None


# timesae_ood_ett reads the user's ETT folder: built from a fixture in tests/data/real/test_real_tabular.py
@pytest.mark.parametrize("name", sorted(p.stem for p in (PROJECT_CONF / "experiment").glob("*.yaml")
                                        if p.stem != "timesae_ood_ett"))
def test_every_experiment_builds_its_data_and_black_box(make_cfg, name):
    """Composing is not enough: a stale key (e.g. `model.loss: poly1` once the loss became an object) only fails
    when the model is built, so each experiment builds its datamodule and black box and runs one batch."""
    cfg = make_cfg([f"experiment={name}"])
    dm = instantiate(cfg.dataset)
    model = instantiate(cfg.model, meta=dm.meta)
    assert isinstance(model, L.LightningModule)
    c, t = dm.meta.n_channels, getattr(dm, "context_len", None) or dm.meta.seq_len
    out = model(torch.randn(2, c, t))
    assert out.shape[0] == 2 and torch.isfinite(out).all()
