"""`ResNet1d`: a 1-D ResNet-18 whose downsampling is configurable so Grad-CAM keeps temporal resolution.

Feature length. Every strided op here (stem conv k7/p3, maxpool k3/p1, block conv k3/p1, 1×1 shortcut)
maps a length L to ceil(L / s). So the `layer4` map has

    T' = ceil(... ceil(ceil(T / stem_stride) / (2 if maxpool else 1)) / strides[0] ... / strides[3])

i.e. T' ≈ T / (stem_stride · 2^maxpool · Π strides). Defaults (stem_stride 1, no maxpool, strides
[1, 2, 2, 1]) give T' = ceil(ceil(T/2)/2): T=50 → 13, T=37 → 10. The torchvision-like schedule
(stem_stride 2, maxpool, strides [1, 2, 2, 2]) gives T/32 (T=50 → 2), too coarse for Grad-CAM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from tsexplain.models.backbones.base import HasGradCamLayer, check_seq_len, named_submodule
from tsexplain.models.backbones.layers import check_input


class BasicBlock1d(nn.Module):
    """ResNet BasicBlock in 1-D: two k=3 convs with BN, identity or 1×1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False),
                                            nn.BatchNorm1d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class ResNet1d(nn.Module, HasGradCamLayer):
    """1-D ResNet-18 (BasicBlock ×[2,2,2,2], widths base_width·[1,2,4,8]), GAP + linear head.

    `n_outputs=0` builds the trunk only (forward returns the pooled features), as used by `ResNetTransformer`.
    """

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        n_outputs: int,
        base_width: int = 32,
        strides: Sequence[int] = (1, 2, 2, 1),
        stem_stride: int = 1,
        maxpool: bool = False,
        blocks: Sequence[int] = (2, 2, 2, 2),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        strides, blocks = list(strides), list(blocks)
        if len(strides) != 4 or len(blocks) != 4 or min(strides) < 1 or stem_stride < 1:
            raise ValueError(
                f"ResNet1d needs 4 stage strides ≥ 1 and 4 block counts, got strides={strides}, blocks={blocks}, "
                f"stem_stride={stem_stride}; e.g. strides=[1, 2, 2, 1], blocks=[2, 2, 2, 2]."
            )
        total = stem_stride * (2 if maxpool else 1) * math.prod(strides)
        check_seq_len("ResNet1d", seq_len, total + 1, f"its stem and stages downsample {total}×; the last feature map, "
                      "which Grad-CAM reads, needs at least 2 positions")
        self.in_channels, self.seq_len = in_channels, seq_len
        self.strides, self.stem_stride, self.maxpool = strides, stem_stride, maxpool
        widths = [base_width * m for m in (1, 2, 4, 8)]
        stem = [nn.Conv1d(in_channels, base_width, 7, stride=stem_stride, padding=3, bias=False),
                nn.BatchNorm1d(base_width), nn.ReLU()]
        if maxpool:
            stem.append(nn.MaxPool1d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        c = base_width
        for i, (w, s, nb) in enumerate(zip(widths, strides, blocks, strict=True)):
            layer = [BasicBlock1d(c, w, s)] + [BasicBlock1d(w, w) for _ in range(nb - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
            c = w
        self.feature_dim = c
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = (nn.Sequential(nn.Dropout(dropout), nn.Linear(c, n_outputs)) if n_outputs > 0
                     else nn.Identity())

    def feature_length(self, seq_len: int | None = None) -> int:
        """T' of the `layer4` map for input length `seq_len` (default: the built seq_len); see module doc."""
        t = self.seq_len if seq_len is None else seq_len
        for s in [self.stem_stride] + ([2] if self.maxpool else []) + self.strides:
            t = math.ceil(t / s)
        return t

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """`layer4` output `[B, feature_dim, T']`."""
        check_input(x, self.in_channels, model="ResNet1d")
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features `[B, feature_dim]`."""
        return self.pool(self.feature_map(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def gradcam_layer(self, name: str | None = None) -> nn.Module:
        return named_submodule(self, name or "layer4")
