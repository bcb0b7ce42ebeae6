"""`ResNetTransformer`: the fusion paper's dual-branch model (1-D ResNet + 2-D patch Transformer, joint head)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from tsexplain.models.backbones.base import HasAttention, HasGradCamLayer
from tsexplain.models.backbones.layers import check_input
from tsexplain.models.backbones.resnet import ResNet1d
from tsexplain.models.backbones.transformer2d import PatchTransformer2d


class ResNetTransformer(nn.Module, HasGradCamLayer, HasAttention):
    """Concatenate the ResNet's pooled features and the Transformer's readout, then one Linear head.

    Both branches are trained end-to-end through the joint head. Grad-CAM layers are named relative to
    `.resnet` (e.g. "layer3"); attention, `num_prefix_tokens` and `token_grid` come from `.transformer`.
    `resnet` / `transformer` are the branch hyper-parameters (kwargs of ResNet1d / PatchTransformer2d).
    """

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        n_outputs: int,
        resnet: Mapping | None = None,
        transformer: Mapping | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.resnet = ResNet1d(in_channels, seq_len, 0, **dict(resnet or {}))
        self.transformer = PatchTransformer2d(in_channels, seq_len, 0, **dict(transformer or {}))
        self.num_prefix_tokens = self.transformer.num_prefix_tokens
        self.token_grid = self.transformer.token_grid
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(self.resnet.feature_dim + self.transformer.feature_dim, n_outputs)
        )

    def _joint(self, x: torch.Tensor, return_attn: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        check_input(x, self.in_channels, model="ResNetTransformer")
        f_tf, attns = self.transformer.features_with_attention(x, return_attn)
        return self.head(torch.cat([self.resnet.features(x), f_tf], dim=1)), attns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._joint(x, return_attn=False)[0]

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self._joint(x, return_attn=True)

    def gradcam_layer(self, name: str | None = None) -> nn.Module:
        return self.resnet.gradcam_layer(name)
