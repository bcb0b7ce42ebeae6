"""A dataset's own measures (DataMeta.extra_metrics) are among the black box's validation and test metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from tsexplain.data.meta import DataMeta
from tsexplain.models.backbones.resnet import ResNet1d
from tsexplain.models.blackbox import BlackBox


def _blackbox(meta: DataMeta) -> BlackBox:
    return BlackBox(backbone=lambda **kw: ResNet1d(**kw, base_width=4), meta=meta, lr=1e-3)


def test_ptbxl_style_multilabel_gets_the_benchmarks_macro_auroc_on_val_and_test_only():
    meta = DataMeta(name="ptbxl", task="multilabel", n_channels=12, seq_len=16, n_outputs=5,
                    extra_metrics=["macro_auroc"])
    bb = _blackbox(meta)
    rng = np.random.default_rng(0)
    logits, y = torch.as_tensor(rng.normal(size=(64, 5)), dtype=torch.float32), torch.as_tensor(
        rng.integers(0, 2, size=(64, 5)), dtype=torch.float32)
    probs, target = bb.task.metric_inputs(logits, y)
    bb.test_metrics.update(probs, target)
    got = bb.test_metrics.compute()
    assert got["test/macro_auroc"] == pytest.approx(roc_auc_score(y.numpy(), logits.sigmoid().numpy(),
                                                                  average="macro"), abs=1e-5)
    assert "val/macro_auroc" in list(bb.val_metrics.keys())
    assert list(bb.train_metrics.keys()) == ["train/acc", "train/auroc", "train/f1"]  # not stored over each epoch


def test_cinc2017_style_multiclass_gets_the_challenge_f1():
    meta = DataMeta(name="cinc2017", task="multiclass", n_channels=1, seq_len=16, n_outputs=4,
                    class_names=["N", "A", "O", "~"], extra_metrics=["challenge_f1"])
    bb = _blackbox(meta)
    rng = np.random.default_rng(1)
    logits, y = torch.as_tensor(rng.normal(size=(80, 4)), dtype=torch.float32), torch.as_tensor(
        rng.integers(0, 4, size=80))
    bb.test_metrics.update(*bb.task.metric_inputs(logits, y))
    per_class = f1_score(y.numpy(), logits.argmax(1).numpy(), average=None, labels=[0, 1, 2, 3])
    assert bb.test_metrics.compute()["test/challenge_f1"] == pytest.approx(per_class[:3].mean(), abs=1e-5)


def test_an_unknown_dataset_metric_is_refused_when_the_model_is_built():
    meta = DataMeta(name="x", task="multiclass", n_channels=1, seq_len=16, n_outputs=2, extra_metrics=["kappa"])
    with pytest.raises(ValueError, match="unknown metric.*kappa"):
        _blackbox(meta)
