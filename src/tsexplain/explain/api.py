"""`explain(model, x, method=...)`: attribute any trained model on numpy arrays without writing a config.

`method` is an option of the `explainer` config group (conf/explainer/), composed by Hydra, so every explainer a
run can use is reachable from Python, TimeSAE included; keyword arguments override its config values.
"""

from __future__ import annotations

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError
from torch import nn

from tsexplain.explain.base import Explainer
from tsexplain.utils.compose import compose_option, group_options
from tsexplain.utils.tensors import device_of


def methods() -> list[str]:
    """The explainer options `explain` accepts (the `explainer` group without `none`)."""
    return [m for m in group_options("explainer") if m != "none"]


def build_explainer(method: str, **overrides) -> Explainer:
    """The explainer `conf/explainer/<method>.yaml` describes, with `overrides` on top of its values."""
    options = methods()
    if method not in options:
        raise ValueError(f"method={method!r} is unknown; use one of {', '.join(options)}.")
    node = compose_option("explainer", method)
    try:
        node = OmegaConf.merge(node, overrides)
    except ConfigKeyError as err:
        raise ValueError(f"explainer {method} has no option {err.key!r}; its options: {sorted(node)}.") from None
    return instantiate(node)


def _as_batch(x) -> tuple[torch.Tensor, bool]:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    if t.ndim not in (2, 3):
        raise ValueError(f"explain expects x of shape [C, T] or [B, C, T]; got {tuple(t.shape)}. "
                         "Reshape to channels × time (add a channel axis for a univariate series).")
    if torch.isnan(t).any():
        raise ValueError("explain got NaN in x; impute or drop missing values before explaining.")
    return (t[None], True) if t.ndim == 2 else (t, False)


def explain(model: nn.Module, x, method: str = "integrated_gradients", target=None, datamodule=None,
            **kwargs) -> np.ndarray:
    """Importance map of `x` (numpy or tensor, `[C, T]` or `[B, C, T]`) for `model`, same shape as `x`.

    `model` is a `BlackBox` or any `nn.Module` taking `[B, C, T]`; `method` is an option of the `explainer`
    config group (`methods()`); `target` is the class (int or per-sample array; default: the prediction);
    `datamodule` is what explainers that learn (TimeSAE, learned fusion) train on; `kwargs` override the
    explainer's config values (`n_steps=8`, `width=2`, ...).
    """
    batch, squeeze = _as_batch(x)
    explainer = build_explainer(method, **kwargs).fit(model.eval(), datamodule)
    device = device_of(model)
    if target is not None:
        target = torch.as_tensor(np.asarray(target)).long().to(device)
    sal = explainer.attribute(batch.to(device), target).cpu().numpy()
    return sal[0] if squeeze else sal
