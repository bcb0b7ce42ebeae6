"""Dataset-specific metrics: PTB-XL macro AUROC and the CinC 2017 challenge F1, against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from tsexplain.data.meta import DataMeta
from tsexplain.data.real.metrics import ChallengeF1, MacroAUROC, build_metrics, challenge_f1, macro_auroc


def test_macro_auroc_matches_sklearn_and_skips_undefined_labels() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((200, 4)) < 0.3).astype(int)
    p = np.clip(y * 0.3 + rng.random((200, 4)) * 0.7, 0, 1)
    expect = roc_auc_score(y, p, average="macro")
    assert float(macro_auroc(torch.tensor(p), torch.tensor(y))) == pytest.approx(expect, abs=1e-5)
    y_absent = y.copy()
    y_absent[:, 3] = 0  # no positive: no AUROC; the mean is over the other three
    expect3 = roc_auc_score(y_absent[:, :3], p[:, :3], average="macro")
    assert float(macro_auroc(torch.tensor(p), torch.tensor(y_absent))) == pytest.approx(expect3, abs=1e-5)
    metric = MacroAUROC()
    for a in range(0, 200, 64):
        metric.update(torch.tensor(p[a:a + 64]), torch.tensor(y[a:a + 64]))
    assert float(metric.compute()) == pytest.approx(expect, abs=1e-5)
    labels = rng.integers(0, 3, 200)  # multiclass targets: one-vs-rest
    probs = rng.dirichlet(np.ones(3), 200)
    expect_ovr = roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    assert float(macro_auroc(torch.tensor(probs), torch.tensor(labels))) == pytest.approx(expect_ovr, abs=1e-5)


def test_challenge_f1_is_mean_f1_of_n_a_o() -> None:
    rng = np.random.default_rng(1)
    names = ["N", "A", "O", "~"]
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.integers(0, 4, 300))
    per_class = f1_score(y, pred, labels=[0, 1, 2, 3], average=None)
    expect = per_class[:3].mean()
    assert float(challenge_f1(torch.tensor(pred), torch.tensor(y), names)) == pytest.approx(expect, abs=1e-6)
    assert expect != pytest.approx(per_class.mean()), "the noisy class is not averaged"
    metric = ChallengeF1(names)
    probs = np.eye(4)[pred] * 0.7 + 0.1
    for a in range(0, 300, 100):
        metric.update(torch.tensor(probs[a:a + 100]), torch.tensor(y[a:a + 100]))
    assert float(metric.compute()) == pytest.approx(expect, abs=1e-6)
    metric.reset()
    metric.update(torch.tensor(np.eye(4)[y]), torch.tensor(y))
    assert float(metric.compute()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"needs the classes N, A and O.*missing \['A'\]"):
        challenge_f1(torch.tensor(pred), torch.tensor(y), ["N", "X", "O", "~"])


def test_build_metrics_from_meta() -> None:
    meta = DataMeta(name="c", task="multiclass", n_channels=1, seq_len=4, n_outputs=4,
                    class_names=["N", "A", "O", "~"], extra_metrics=["challenge_f1", "macro_auroc"])
    built = build_metrics(meta)
    assert sorted(built) == ["challenge_f1", "macro_auroc"] and isinstance(built["challenge_f1"], ChallengeF1)
    meta.extra_metrics = ["accuracy_of_doom"]
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['accuracy_of_doom'\]; known: \['challenge_f1'"):
        build_metrics(meta)
