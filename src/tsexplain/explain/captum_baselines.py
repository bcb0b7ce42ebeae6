"""Model-agnostic baselines: captum gradient/perturbation methods plus random and amplitude sanity checks.

Each captum method is one small `CaptumExplainer` subclass that only says which captum class to build
and which `attribute` keywords to pass; signed attributions become importance by `|a|` (default) or by
their positive part (`sign="positive"`).
"""

from __future__ import annotations

from typing import Literal

import captum.attr as ca
import numpy as np
import torch
from torch import nn

from tsexplain.explain.base import Explainer

Sign = Literal["abs", "positive"]


def _to_importance(attr: torch.Tensor, sign: Sign) -> torch.Tensor:
    if sign == "abs":
        return attr.abs()
    if sign == "positive":
        return attr.clamp_min(0)
    raise ValueError(f"sign={sign!r} is unknown; use 'abs' or 'positive'.")


class CaptumExplainer(Explainer):
    """Runs one captum attribution class on the black box; subclasses set `captum_cls` and `_kwargs`."""

    captum_cls: type = ca.Saliency

    def __init__(self, sign: Sign = "abs", batch_size: int = 64) -> None:
        super().__init__(batch_size=batch_size)
        _to_importance(torch.zeros(1), sign)  # validate early
        self.sign = sign

    def _kwargs(self, x: torch.Tensor) -> dict:
        """Method-specific keywords for `captum_cls(blackbox).attribute(x, target=..., **kwargs)`."""
        return {}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        method = self.captum_cls(self.blackbox)
        attr = method.attribute(x.detach().clone().requires_grad_(True), target=target, **self._kwargs(x))
        return _to_importance(attr.detach(), self.sign)


class Saliency(CaptumExplainer):
    """Input gradient |∂y/∂x| (Simonyan et al. 2014) via captum `Saliency`."""

    name = "saliency"
    captum_cls = ca.Saliency

    def _kwargs(self, x: torch.Tensor) -> dict:
        return {"abs": False}  # sign handled by `_to_importance`


class IntegratedGradients(CaptumExplainer):
    """Integrated gradients (Sundararajan et al. 2017) from a constant baseline via captum."""

    name = "integrated_gradients"
    captum_cls = ca.IntegratedGradients

    def __init__(
        self,
        n_steps: int = 50,
        baseline: float = 0.0,
        internal_batch_size: int | None = None,
        sign: Sign = "abs",
        batch_size: int = 64,
    ) -> None:
        super().__init__(sign=sign, batch_size=batch_size)
        self.n_steps, self.baseline, self.internal_batch_size = n_steps, baseline, internal_batch_size

    def _kwargs(self, x: torch.Tensor) -> dict:
        return {"baselines": self.baseline, "n_steps": self.n_steps,
                "internal_batch_size": self.internal_batch_size}


class SmoothGrad(CaptumExplainer):
    """SmoothGrad (Smilkov et al. 2017): captum `NoiseTunnel` over `Saliency`, noise std `stdevs`."""

    name = "smoothgrad"

    def __init__(self, nt_samples: int = 20, stdevs: float = 0.1, sign: Sign = "abs", batch_size: int = 64):
        super().__init__(sign=sign, batch_size=batch_size)
        self.nt_samples, self.stdevs = nt_samples, stdevs

    def captum_cls(self, model: nn.Module) -> ca.NoiseTunnel:  # type: ignore[override]
        return ca.NoiseTunnel(ca.Saliency(model))

    def _kwargs(self, x: torch.Tensor) -> dict:
        return {"nt_type": "smoothgrad", "nt_samples": self.nt_samples, "stdevs": self.stdevs, "abs": False}


class GradientShap(CaptumExplainer):
    """GradientSHAP (Lundberg & Lee 2017) via captum; baselines are training samples after `fit`, else zeros."""

    name = "gradient_shap"
    captum_cls = ca.GradientShap

    def __init__(
        self, n_samples: int = 20, stdevs: float = 0.0, n_baselines: int = 32, seed: int = 0,
        sign: Sign = "abs", batch_size: int = 64,
    ) -> None:
        super().__init__(sign=sign, batch_size=batch_size)
        self.n_samples, self.stdevs, self.n_baselines, self.seed = n_samples, stdevs, n_baselines, seed
        self.baselines: torch.Tensor | None = None

    def fit(self, blackbox: nn.Module, datamodule=None, trainer_factory=None):
        super().fit(blackbox, datamodule, trainer_factory)
        if datamodule is not None:
            xs, n = [], 0
            for batch in datamodule.train_dataloader():
                xs.append(batch["x"])
                n += len(batch["x"])
                if n >= self.n_baselines:
                    break
            self.baselines = torch.cat(xs)[: self.n_baselines].float()
        return self

    def _kwargs(self, x: torch.Tensor) -> dict:
        base = self.baselines.to(x) if self.baselines is not None else torch.zeros_like(x[:1])
        return {"baselines": base, "n_samples": self.n_samples, "stdevs": self.stdevs}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # captum draws baselines (torch) and path points (numpy) from the global RNGs: seed both, then restore
        np_state = np.random.get_state()
        with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
            torch.manual_seed(self.seed)
            np.random.seed(self.seed)
            try:
                return super()._attribute(x, target)
            finally:
                np.random.set_state(np_state)


class Occlusion(CaptumExplainer):
    """Occlusion (Zeiler & Fergus 2014) of time windows `width` every `stride`, per channel or all channels."""

    name = "occlusion"
    captum_cls = ca.Occlusion

    def __init__(
        self, width: int = 5, stride: int = 1, per_channel: bool = True, baseline: float = 0.0,
        perturbations_per_eval: int = 16, sign: Sign = "abs", batch_size: int = 64,
    ) -> None:
        super().__init__(sign=sign, batch_size=batch_size)
        if width < 1 or stride < 1:
            raise ValueError(f"occlusion width={width}, stride={stride}: both must be ≥ 1.")
        self.width, self.stride, self.per_channel = width, stride, per_channel
        self.baseline, self.perturbations_per_eval = baseline, perturbations_per_eval

    def _kwargs(self, x: torch.Tensor) -> dict:
        c = 1 if self.per_channel else x.shape[1]
        width = min(self.width, x.shape[-1])
        return {"sliding_window_shapes": (c, width), "strides": (c, self.stride), "baselines": self.baseline,
                "perturbations_per_eval": self.perturbations_per_eval}


class FeatureAblation(CaptumExplainer):
    """Feature ablation over contiguous time segments of `segment_len` (per channel or all channels)."""

    name = "feature_ablation"
    captum_cls = ca.FeatureAblation

    def __init__(
        self, segment_len: int = 5, per_channel: bool = True, baseline: float = 0.0,
        perturbations_per_eval: int = 16, sign: Sign = "abs", batch_size: int = 64,
    ) -> None:
        super().__init__(sign=sign, batch_size=batch_size)
        if segment_len < 1:
            raise ValueError(f"feature_ablation segment_len={segment_len} must be ≥ 1.")
        self.segment_len, self.per_channel = segment_len, per_channel
        self.baseline, self.perturbations_per_eval = baseline, perturbations_per_eval

    def feature_mask(self, n_channels: int, seq_len: int) -> torch.Tensor:
        """`[1, C, T]` integer ids: one id per (channel, segment), or per segment when not per channel."""
        seg = torch.arange(seq_len) // self.segment_len
        n_seg = int(seg.max()) + 1
        ch = torch.arange(n_channels)[:, None] if self.per_channel else torch.zeros(n_channels, 1, dtype=torch.long)
        return (ch * n_seg + seg[None, :])[None]

    def _kwargs(self, x: torch.Tensor) -> dict:
        mask = self.feature_mask(x.shape[1], x.shape[2]).to(x.device)
        return {"feature_mask": mask, "baselines": self.baseline,
                "perturbations_per_eval": self.perturbations_per_eval}


class RandomExplainer(Explainer):
    """Uniform noise in [0, 1): the floor any explainer must beat; same seed → same maps."""

    name = "random"

    def __init__(self, seed: int = 0, batch_size: int = 64) -> None:
        super().__init__(batch_size=batch_size)
        self.seed = seed
        self._gen = torch.Generator()
        self.blackbox = nn.Identity()  # model-blind: usable without fit

    def attribute(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        self._gen.manual_seed(self.seed)  # reseed per call so repeated calls agree
        if target is None:
            target = torch.zeros(len(x), dtype=torch.long)  # the map ignores the target; skip the forward
        return super().attribute(x, target)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.rand(x.shape, generator=self._gen).to(x.device)


class AmplitudeExplainer(Explainer):
    """|x − median over time| per sample and channel (REFERENCE §1): a model-blind amplitude baseline."""

    name = "amplitude"

    def __init__(self, batch_size: int = 64) -> None:
        super().__init__(batch_size=batch_size)
        self.blackbox = nn.Identity()  # model-blind: usable without fit

    def attribute(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        if target is None:
            target = torch.zeros(len(x), dtype=torch.long)  # model-blind; skip the forward
        return super().attribute(x, target)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # quantile(0.5) interpolates like numpy.median; torch.median returns the lower middle value
        return (x - torch.quantile(x.float(), 0.5, dim=-1, keepdim=True)).abs()
