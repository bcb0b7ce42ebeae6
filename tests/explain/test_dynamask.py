"""Dynamask: the blur it perturbs with, masks that find what a model reads, the extremal-area choice."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsexplain.explain.dynamask import Dynamask, gaussian_blur
from tsexplain.utils.compose import PROJECT_CONF


class Spike(nn.Module):
    """Class 1's logit is a spike at t=12 of channel 0 against its neighbours; channel 1 is never read."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x[:, 0, 12] - 0.5 * (x[:, 0, 9] + x[:, 0, 15])) * 2
        return torch.stack([-s, s], -1)


class SpikeRegressor(Spike):
    task = "regression"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[:, 1:]


def _spikes(n: int = 6) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(n, 2, 30) * 0.1
    x[:, 0, 12] += 3.0
    return x


def test_blur_keeps_an_entry_at_mask_one_and_smooths_it_at_mask_zero():
    x = _spikes(2)
    assert torch.allclose(gaussian_blur(x, torch.ones_like(x), 2.0), x, atol=1e-6)
    blurred = gaussian_blur(x, torch.zeros_like(x), 2.0)
    assert blurred[:, 0, 12].max() < 0.5 * x[:, 0, 12].min()  # the spike is spread over its neighbours
    const = torch.full((1, 1, 20), 3.0)
    assert torch.allclose(gaussian_blur(const, torch.rand(1, 1, 20), 2.0), const, atol=1e-5)  # weights sum to 1


@pytest.mark.parametrize(("model", "output"), [(Spike(), 1), (SpikeRegressor(), 0)], ids=["classifier", "regressor"])
def test_the_mask_peaks_where_the_model_reads(model, output):
    x = _spikes()
    target = torch.full((len(x),), output, dtype=torch.long)
    sal = Dynamask(n_epochs=150).fit(model).attribute(x, target)
    assert sal.shape == x.shape and (sal >= 0).all() and (sal <= 1).all()
    assert (sal[:, 0, 12] == sal.flatten(1).max(1).values).all()  # the spike is the top entry of every map
    assert sal[:, 0, 12].min() > 0.9 and sal[:, 1].mean() < 0.1


def test_a_strict_threshold_picks_a_larger_area():
    x = _spikes()
    target = torch.ones(len(x), dtype=torch.long)
    loose = Dynamask(n_epochs=100, threshold=5.0).fit(Spike()).attribute(x, target)
    strict = Dynamask(n_epochs=100, threshold=1e-12).fit(Spike()).attribute(x, target)
    assert loose.mean() < strict.mean()  # the loosest tolerance keeps the smallest area (5 % of the entries)
    assert torch.allclose(loose.flatten(1).gt(0.5).float().mean(1), torch.full((len(x),), 3 / 60), atol=1 / 60)


@pytest.mark.parametrize("kwargs", [{"areas": []}, {"areas": [0.0, 0.1]}, {"areas": [1.5]}, {"n_epochs": 0},
                                    {"threshold": 0.0}, {"sigma_max": -1.0}])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ValueError, match="explainer\\."):
        Dynamask(**kwargs)


def test_the_config_builds_dynamask_that_explains_a_real_backbone():

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from tsexplain.models.backbones.resnet import ResNet1d

    cfg = OmegaConf.merge(OmegaConf.load(PROJECT_CONF / "explainer/dynamask.yaml"),
                          {"n_epochs": 20, "areas": [0.1, 0.5]})
    torch.manual_seed(0)
    model = ResNet1d(2, 24, 3, base_width=4).eval()
    ex = instantiate(cfg)
    sal = ex.fit(model).attribute(torch.randn(3, 2, 24))
    assert ex.name == "dynamask" and sal.shape == (3, 2, 24) and torch.isfinite(sal).all()
    assert (sal.flatten(1).std(1) > 0).all()  # a map, not a constant
