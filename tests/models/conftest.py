"""Small constructors for every backbone, shared by the model tests (fixture `build`)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsexplain.models.backbones.dlinear import DLinear
from tsexplain.models.backbones.itransformer import ITransformer
from tsexplain.models.backbones.lstm import LSTMClassifier
from tsexplain.models.backbones.patchtst import PatchTST
from tsexplain.models.backbones.resnet import ResNet1d
from tsexplain.models.backbones.resnet_tf import ResNetTransformer
from tsexplain.models.backbones.timex_transformer import TimeXTransformer
from tsexplain.models.backbones.transformer2d import PatchTransformer2d

SMALL = {
    "resnet": lambda c, t, k: ResNet1d(c, t, k, base_width=8),
    "transformer2d": lambda c, t, k: PatchTransformer2d(c, t, k, dim=16, depth=2, num_heads=2, patch_t=5),
    "transformer2d_nocls": lambda c, t, k: PatchTransformer2d(
        c, t, k, dim=16, depth=1, num_heads=2, patch_c=2, patch_t=8, use_cls=False, readout="mean",
        pos_embed="sincos"),
    "resnet_tf": lambda c, t, k: ResNetTransformer(
        c, t, k, resnet={"base_width": 8}, transformer={"dim": 16, "depth": 2, "num_heads": 2}),
    "transformer": lambda c, t, k: TimeXTransformer(c, t, k, n_layers=2, dim_feedforward=16),
    "lstm": lambda c, t, k: LSTMClassifier(c, t, k, hidden_size=8),
    "lstm_uni_mean": lambda c, t, k: LSTMClassifier(c, t, k, hidden_size=8, bidirectional=False, readout="mean"),
    "dlinear": lambda c, t, k: DLinear(c, t, k),
    "patchtst": lambda c, t, k: PatchTST(c, t, k, d_model=16, n_heads=2, n_layers=2, d_ff=32),
    "itransformer": lambda c, t, k: ITransformer(c, t, k, d_model=16, n_heads=2, n_layers=2, d_ff=32),
}


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are tiny: one intra-op thread is fastest, and 2 threads on a shared, loaded 2-core
    machine measured ~25× slower (OpenMP threads waiting on each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def build():
    """`build(name, C, T, n_outputs=3)` → a small backbone."""

    def _build(name: str, c: int, t: int, k: int = 3) -> nn.Module:
        return SMALL[name](c, t, k)

    return _build
