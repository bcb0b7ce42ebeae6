"""The small hook API through which explainers that need internals talk to a backbone.

Every backbone is a plain `nn.Module` with `forward(x: [B, C, T]) -> [B, n_outputs]` and the
constructor signature `(in_channels: int, seq_len: int, n_outputs: int, **hparams)`.

Backbones that expose internals implement one or both mixins below. Explainers check for them with
`isinstance` and fail at start, naming the models that support them, when a backbone lacks them.
"""

from __future__ import annotations

import torch
from torch import nn


class HasGradCamLayer:
    """A backbone with a convolutional feature map `[B, K, T']` suited to Grad-CAM."""

    def gradcam_layer(self, name: str | None = None) -> nn.Module:
        """The module whose output is the `[B, K, T']` feature map (default: the last conv stage).

        `name` is a dotted module name relative to the backbone (e.g. "layer3"); a wrong name must
        raise a ValueError listing valid names.
        """
        raise NotImplementedError


class HasAttention:
    """A backbone whose self-attention weights can be returned per layer and head.

    `forward_with_attention(x)` returns `(outputs, attentions)` where `attentions` is a list (one per
    layer, first to last) of tensors `[B, H, N, N]` that are part of the autograd graph (so
    gradient-weighted rollout can use `torch.autograd.grad` on them). The ordinary `forward` keeps the
    fast fused attention path.

    `token_grid` is `(gh, gw)`: the patch tokens (after `num_prefix_tokens` CLS-like tokens) are laid
    out row-major over a grid of gh rows (channel axis) × gw columns (time axis) covering the input's
    `[C, T]`; `token_grid = (1, N)` for models whose tokens are time steps or time patches only.
    """

    num_prefix_tokens: int = 0
    token_grid: tuple[int, int] = (1, 1)

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError


def named_submodule(root: nn.Module, name: str) -> nn.Module:
    """`root`'s submodule called `name`, or a ValueError that lists the valid names."""
    modules = dict(root.named_modules())
    if name not in modules:
        valid = [n for n in modules if n][:40]
        raise ValueError(f"No layer named {name!r} in {type(root).__name__}; valid names include {valid}.")
    return modules[name]


def check_seq_len(model: str, seq_len: int, minimum: int, why: str) -> None:
    """Refuse series shorter than `model` can read meaningfully (a T=1 series trains, but every map is one value).

    Raised when the backbone is built, so before anything trains."""
    if int(seq_len) < int(minimum):
        raise ValueError(
            f"{model} needs series of at least {minimum} time steps ({why}), but the data has T={seq_len}. Use longer "
            "windows (the dataset's length/window options), or a model whose minimum fits (TimeX transformer, LSTM, "
            "DLinear and iTransformer need T >= 2)."
        )
