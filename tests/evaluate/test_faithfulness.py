"""Deletion/insertion curves on a model whose evidence is known exactly."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d
from torch import nn

from tsexplain.evaluate.faithfulness import deletion_curve, make_baseline, top_k_mask

C, T, N = 2, 32, 200
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class Window(nn.Module):
    """Reads only channel 0, time 5..9: logits (-m, m) with m the window mean."""

    def forward(self, x):
        m = x[:, 0, 5:10].mean(dim=1)
        return torch.stack([-m, m], dim=1)


def _data(device="cpu"):
    torch.manual_seed(0)
    y = torch.arange(N) % 2
    x = 0.1 * torch.randn(N, C, T)
    x[:, 0, 5:10] += (2.0 * y - 1.0)[:, None] * 2.0
    right = torch.zeros(N, C, T)
    right[:, 0, 5:10] = 1.0
    wrong = torch.zeros(N, C, T)
    wrong[:, 1, :] = 1.0
    return x.to(device), y.to(device), right.to(device), wrong.to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_deletion_of_the_evidence_drops_to_chance_and_elsewhere_does_not(device):
    x, y, right, wrong = _data(device)
    good = deletion_curve(Window(), x, right, labels=y)
    bad = deletion_curve(Window(), x, wrong, labels=y)
    assert good["clean_acc"] == 1.0
    assert good["acc"][1] == pytest.approx(0.5)  # 10 % = 6 points ⊇ the 5 evidence points: chance
    assert good["drop_at_20"] == pytest.approx(0.5)
    assert np.all(bad["acc"] == 1.0) and bad["drop_at_20"] == 0.0
    assert good["del_auc"] < bad["del_auc"]
    assert good["prob"][-1] == pytest.approx(0.5)  # tie logits -> softmax 0.5


def test_insertion_mirrors_deletion():
    x, y, right, wrong = _data()
    good = deletion_curve(Window(), x, right, mode="insertion")
    bad = deletion_curve(Window(), x, wrong, mode="insertion")
    assert np.all(good["acc"][1:] == 1.0)  # keeping the 5 evidence points keeps the prediction
    assert np.all(bad["acc"] == pytest.approx(0.5))
    assert good["ins_auc"] > bad["ins_auc"] and "del_auc" not in good


def test_shapes_fractions_and_ties():
    x, _, right, _ = _data()
    fr = (0.1, 0.2, 0.5)
    out = deletion_curve(Window(), x, right, fractions=fr, baseline="mean", batch_size=7)
    assert out["acc"].shape == out["prob"].shape == (3,)
    assert np.all(np.diff(out["fractions"]) > 0)
    with pytest.raises(ValueError, match="increasing"):
        deletion_curve(Window(), x, right, fractions=(0.2, 0.1))
    with pytest.raises(ValueError, match="baseline"):
        deletion_curve(Window(), x, right, baseline="noise")
    m = top_k_mask(torch.zeros(3, C, T), 0.25)  # all tied: the first 16 flat indices, every time
    assert torch.equal(m.reshape(3, -1)[:, :16], torch.ones(3, 16, dtype=torch.bool))
    assert int(m.sum()) == 3 * 16


def test_three_baselines_give_different_inputs():
    torch.manual_seed(0)
    x = torch.randn(4, C, T)
    zero, mean, blur = (make_baseline(x, b, sigma=2.0) for b in ("zero", "mean", "blur"))
    assert torch.all(zero == 0)
    assert torch.allclose(mean, x.mean(dim=-1, keepdim=True).expand_as(x))
    assert torch.allclose(blur, torch.tensor(gaussian_filter1d(x.numpy(), 2.0, axis=-1)), atol=1e-5)
    assert blur.diff(dim=-1).abs().mean() < 0.5 * x.diff(dim=-1).abs().mean()  # smoother than x
    for a, b in ((zero, mean), (zero, blur), (mean, blur)):
        assert not torch.allclose(a, b)


def test_regression_reports_output_change():
    x, _, right, wrong = _data()
    model = lambda z: z[:, 0, 5:10].sum(dim=1, keepdim=True)  # noqa: E731
    good = deletion_curve(model, x, right, task="regression")
    bad = deletion_curve(model, x, wrong, task="regression")
    assert good["acc"] is None and good["drop_at_20"] > 5.0
    assert bad["drop_at_20"] == pytest.approx(0.0)
