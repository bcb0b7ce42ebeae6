"""Every conf/model/*.yaml builds a BlackBox around its backbone and takes a training step."""

from __future__ import annotations

import hydra
import pytest
import torch
from hydra import compose, initialize_config_dir

from tsexplain.data.meta import DataMeta
from tsexplain.models.blackbox import BlackBox
from tsexplain.utils.compose import PROJECT_CONF

CONF = PROJECT_CONF / "model"
NAMES = ["resnet", "transformer2d", "resnet_tf", "transformer", "lstm", "dlinear", "patchtst", "itransformer"]


def _model_cfg(name: str):
    """conf/model/<name>.yaml composed by Hydra (its optimizer, scheduler and loss come from its defaults list)."""
    with initialize_config_dir(str(CONF.parent), version_base="1.3"):
        return compose(f"model/{name}").model


FORECASTERS = ["vitime"]  # forecasters (ForecastModule), built and trained in tests/forecast


def test_every_model_config_is_tested():
    assert sorted(p.stem for p in CONF.glob("*.yaml")) == sorted(NAMES + FORECASTERS)


@pytest.mark.parametrize("name", NAMES)
def test_config_builds_blackbox_and_trains_one_step(name):
    torch.manual_seed(0)
    meta = DataMeta(name="toy", task="multiclass", n_channels=3, seq_len=50, n_outputs=4)
    model = hydra.utils.instantiate(_model_cfg(name), meta=meta)
    assert isinstance(model, BlackBox)
    assert model.hparams.name == name
    batch = {"x": torch.randn(8, 3, 50), "y": torch.randint(0, 4, (8,))}
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # configure_optimizers needs an attached Trainer
    loss = model.training_step(batch, 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    opt.step()
    changed = [k for k, v in model.backbone.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "one optimiser step changed no backbone weight"
    assert model(batch["x"]).shape == (8, 4)


def test_timex_config_is_the_freqshapes_setting():
    meta = DataMeta(name="freqshapes", task="multiclass", n_channels=1, seq_len=50, n_outputs=4)
    model = hydra.utils.instantiate(_model_cfg("transformer"), meta=meta)
    assert model.loss_name == "poly1"
    assert model.hparams.weight_decay == 0.1 and model.hparams.lr == 1e-3
    assert abs(model.n_params - 2200) < 70


@pytest.mark.parametrize("task,k,y", [("regression", 1, torch.randn(6, 1)),
                                     ("multilabel", 2, torch.randint(0, 2, (6, 2)))])
def test_resnet_tf_config_other_tasks(task, k, y):
    torch.manual_seed(0)
    meta = DataMeta(name="toy", task=task, n_channels=2, seq_len=37, n_outputs=k)
    model = hydra.utils.instantiate(_model_cfg("resnet_tf"), meta=meta)
    loss = model.training_step({"x": torch.randn(6, 2, 37), "y": y}, 0)
    assert torch.isfinite(loss) and loss > 0
