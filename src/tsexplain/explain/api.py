"""`explain(model, x)`: attribute any trained model on numpy arrays without Hydra."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tsexplain.explain.base import Explainer
from tsexplain.explain.captum_baselines import (
    AmplitudeExplainer,
    FeatureAblation,
    GradientShap,
    IntegratedGradients,
    Occlusion,
    RandomExplainer,
    Saliency,
    SmoothGrad,
)
from tsexplain.explain.fusion import FusionExplainer
from tsexplain.explain.gradcam import GradCAM
from tsexplain.explain.rollout import AttentionRollout

METHODS: dict[str, type[Explainer]] = {
    "saliency": Saliency,
    "integrated_gradients": IntegratedGradients,
    "smoothgrad": SmoothGrad,
    "gradient_shap": GradientShap,
    "occlusion": Occlusion,
    "feature_ablation": FeatureAblation,
    "random": RandomExplainer,
    "amplitude": AmplitudeExplainer,
    "gradcam": GradCAM,
    "rollout": AttentionRollout,
    "fusion": FusionExplainer,
}


def _as_batch(x) -> tuple[torch.Tensor, bool]:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    if t.ndim not in (2, 3):
        raise ValueError(f"explain expects x of shape [C, T] or [B, C, T]; got {tuple(t.shape)}. "
                         "Reshape to channels × time (add a channel axis for a univariate series).")
    if torch.isnan(t).any():
        raise ValueError("explain got NaN in x; impute or drop missing values before explaining.")
    return (t[None], True) if t.ndim == 2 else (t, False)


def explain(model: nn.Module, x, method: str = "integrated_gradients", target=None, **kwargs) -> np.ndarray:
    """Importance map of `x` (numpy or tensor, `[C, T]` or `[B, C, T]`) for `model`, same shape as `x`.

    `model` is a `BlackBox` or any `nn.Module` taking `[B, C, T]`; `method` is one of `METHODS`;
    `target` is the class (int or per-sample array; default: the prediction); `kwargs` go to the explainer.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; use one of {', '.join(METHODS)}.")
    batch, squeeze = _as_batch(x)
    device = next(model.parameters(), torch.empty(0)).device
    explainer = METHODS[method](**kwargs).fit(model.eval())
    if target is not None:
        target = torch.as_tensor(np.asarray(target)).long().to(device)
    sal = explainer.attribute(batch.to(device), target).cpu().numpy()
    return sal[0] if squeeze else sal
