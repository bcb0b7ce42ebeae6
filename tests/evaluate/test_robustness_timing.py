"""Noise perturbation, metric deltas and per-instance timing."""

import time

import pytest
import torch

from tsexplain.evaluate.robustness import deltas_vs_clean, perturb
from tsexplain.evaluate.timing import time_per_instance


def test_perturb_is_seeded_and_scaled_per_channel():
    torch.manual_seed(0)
    x = torch.randn(64, 2, 64) * torch.tensor([1.0, 10.0])[None, :, None]
    a, b, c = perturb(x, 0.5, seed=1), perturb(x, 0.5, seed=1), perturb(x, 0.5, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    noise_std = (a - x).std(dim=(0, 2))
    assert noise_std / (0.5 * x.std(dim=(0, 2))) == pytest.approx(torch.ones(2), rel=0.05)
    assert torch.equal(perturb(x, 0.0, seed=3), x)
    with pytest.raises(ValueError, match="sigma"):
        perturb(x, -1.0, seed=0)


def test_deltas_vs_clean():
    d = deltas_vs_clean({0: {"auprc": 0.8, "n": 10, "name": "ig"}, 0.1: {"auprc": 0.6, "n": 10}})
    assert d[0.1] == pytest.approx({"auprc": -0.2, "n": 0.0})
    assert d[0] == {"auprc": 0.0, "n": 0.0}
    with pytest.raises(ValueError, match="σ = 0"):
        deltas_vs_clean({0.1: {"auprc": 0.5}})


def test_time_per_instance_counts_calls_and_time():
    calls = []

    def fn(x):
        calls.append(len(x))
        time.sleep(0.01)

    out = time_per_instance(fn, torch.zeros(5, 1, 8), repeats=3, warmup=2)
    assert len(calls) == 5  # 2 warmup + 3 timed
    assert out["total_s"] >= 0.03
    assert out["ms_per_instance"] == pytest.approx(out["total_s"] / 15 * 1000)
