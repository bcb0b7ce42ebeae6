"""The public `tsexplain.explain.explain` on numpy input."""

import numpy as np
import pytest
import torch

from tsexplain.explain import explain
from tsexplain.utils.compose import PROJECT_CONF

C, T = 2, 16


def test_explain_numpy_returns_numpy_of_the_input_shape(tiny):
    model = tiny.LinearModel(C, T)
    x = np.random.default_rng(0).normal(size=(3, C, T)).astype(np.float64)
    sal = explain(model, x, method="integrated_gradients", target=0, n_steps=8)
    assert isinstance(sal, np.ndarray) and sal.shape == x.shape
    np.testing.assert_allclose(sal, np.abs(model.w.detach().numpy() * x), atol=1e-4)
    one = explain(model, x[0], method="saliency", target=[0])  # [C, T] in → [C, T] out
    assert one.shape == (C, T)
    np.testing.assert_allclose(one, np.abs(model.w.detach().numpy()), atol=1e-6)
    assert explain(model, torch.as_tensor(x), method="occlusion", width=2).shape == x.shape


def test_explain_rejects_bad_input(tiny):
    model = tiny.LinearModel(C, T)
    x = np.zeros((1, C, T))
    x[0, 0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        explain(model, x)
    with pytest.raises(ValueError, match=r"\[C, T\]"):
        explain(model, np.zeros(T))
    with pytest.raises(ValueError, match="integrated_gradients"):
        explain(model, np.zeros((C, T)), method="lime")


def test_every_explainer_config_is_reachable_from_python():
    """`explain` composes the `explainer` group: each option there (TimeSAE included) builds, none other does."""

    from tsexplain.explain.api import build_explainer, methods
    from tsexplain.explain.base import Explainer
    from tsexplain.explain.timesae.explainer import TimeSAEExplainer

    conf = PROJECT_CONF / "explainer"
    assert set(methods()) == {p.stem for p in conf.glob("*.yaml")} - {"none"}
    for method in methods():
        assert isinstance(build_explainer(method), Explainer), method
    sae = build_explainer("timesae_topk", max_epochs=2)
    assert isinstance(sae, TimeSAEExplainer) and sae.max_epochs == 2
    assert sae.module_factory.keywords["sparsity"].func.__name__ == "TopK"
    with pytest.raises(ValueError, match="no option 'widht'"):
        build_explainer("occlusion", widht=3)
