"""Every backbone refuses series too short to explain, with a message naming the minimum and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tsexplain.models.backbones.dlinear import DLinear
from tsexplain.models.backbones.itransformer import ITransformer
from tsexplain.models.backbones.lstm import LSTMClassifier
from tsexplain.models.backbones.patchtst import PatchTST
from tsexplain.models.backbones.resnet import ResNet1d
from tsexplain.models.backbones.timex_transformer import TimeXTransformer
from tsexplain.models.backbones.transformer2d import PatchTransformer2d
from tsexplain.pipeline import run

SHORT = [(DLinear, {}, 2), (ITransformer, {}, 2), (LSTMClassifier, {}, 2), (PatchTST, {}, 2),
         (TimeXTransformer, {}, 2), (PatchTransformer2d, {}, 2),
         (ResNet1d, {}, 5),                                                   # default strides: 4× → T ≥ 5
         (ResNet1d, {"stem_stride": 2, "maxpool": True, "strides": [1, 2, 2, 2]}, 33)]  # 32× → T ≥ 33


@pytest.mark.parametrize(("cls", "kwargs", "minimum"), SHORT, ids=lambda v: getattr(v, "__name__", None))
def test_a_series_below_the_minimum_is_refused_and_the_minimum_itself_works(cls, kwargs, minimum):
    with pytest.raises(ValueError, match=f"at least {minimum} time steps .* T={minimum - 1}"):
        cls(1, minimum - 1, 3, **kwargs)
    model = cls(1, minimum, 3, **kwargs).eval()
    assert model(torch.randn(2, 1, minimum)).shape == (2, 3)


def test_a_run_on_series_shorter_than_the_models_minimum_fails_before_training(make_cfg, tmp_path: Path):
    rng = np.random.default_rng(0)
    path = tmp_path / "t3.npz"
    np.savez(path, x=rng.normal(size=(60, 2, 3)).astype(np.float32), y=np.arange(60) % 2)
    cfg = make_cfg(["dataset=npz", f"dataset.path={path}", "model=resnet", "explainer=none", "narrator=none"])
    with pytest.raises(Exception, match="ResNet1d needs series of at least 5 time steps .* T=3"):
        run(cfg)
    folder = Path(cfg.paths.output_dir)
    assert "set-up" in (folder / "FAILED").read_text().splitlines()[0]
    assert not (folder / "checkpoints").exists() and not (folder / "metrics.json").exists()
