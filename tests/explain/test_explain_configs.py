"""Every conf/explainer/*.yaml instantiates to a working Explainer through Hydra's `_target_`."""


import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tsexplain.explain.base import Explainer
from tsexplain.explain.fusion import FusionExplainer
from tsexplain.explain.rollout import CheferRollout
from tsexplain.utils.compose import PROJECT_CONF, compose_option

CONF = PROJECT_CONF / "explainer"
# the post-hoc ones (timesae trains; tested there)
NAMES = ["saliency", "integrated_gradients", "smoothgrad", "gradient_shap", "occlusion", "feature_ablation",
         "random", "amplitude", "gradcam", "rollout", "rollout_chefer", "fusion"]


def test_none_is_an_empty_mapping():
    assert OmegaConf.to_container(OmegaConf.load(CONF / "none.yaml")) == {}


@pytest.mark.parametrize("name", NAMES)
def test_config_instantiates_and_attributes(name, tiny):
    cfg = compose_option("explainer", name)  # with its defaults list, as a run composes it
    if name == "fusion":
        cfg.align = "none"  # keep tslearn's JIT out of this test (test_explain_align covers DTW)
    ex = instantiate(cfg)
    assert isinstance(ex, Explainer) and ex.name == name
    model = tiny.TinyDual(2, 32)
    x = torch.randn(2, 2, 32)
    sal = ex.fit(model).attribute(x)
    assert sal.shape == x.shape and torch.isfinite(sal).all() and (sal >= 0).all()


def test_fusion_config_nests_its_two_explainers():
    ex = instantiate(compose_option("explainer", "fusion"))
    assert isinstance(ex, FusionExplainer)
    assert (ex.gradcam.name, ex.rollout.name) == ("gradcam", "rollout")
    # the defaults chosen by the ablation (README "Fusion default"); the paper's recipe is experiment=fusion_paper
    assert (ex.strategy.name, ex.align, ex.sakoe_chiba_radius) == ("multiply", "none", 10)
    assert (ex.gradcam.variant, ex.gradcam.layer) == ("gradcampp", "layer2")


def test_fusion_takes_the_gradient_weighted_rollout_by_its_config(make_cfg):
    ex = instantiate(make_cfg(["explainer@explainer.rollout=rollout_chefer"]).explainer)
    assert isinstance(ex.rollout, CheferRollout) and ex.gradcam.layer == "layer2"
