"""The ViTime study: verdict logic, the model-free ACF reference, the study object and the experiment configs."""

from __future__ import annotations

import json

import pytest
import torch
from hydra.utils import instantiate

from tsexplain.data.harmonics import study_signal
from tsexplain.forecast.study import PERIODS, AttentionStudy, acf_peaks, period_matches, verdicts
from tsexplain.models.backbones.vitime import ViTimeForecaster


def test_verdict_appears_with_and_disappears_without():
    spp = 16.0
    with_m = period_matches([64.0, 128.0], PERIODS, 256, spp / 2)
    without_m = period_matches([32.0, 96.0], PERIODS, 256, spp / 2)
    v = verdicts(with_m, without_m, spp)
    assert v["sin(n/10)"]["testable"] and v["sin(n/10)"]["appears_with_disappears_without"] is True
    assert v["sin(n/10)"]["multiples_found_with"] == 2 and v["sin(n/10)"]["multiples_found_without"] == 0
    assert not v["cos(n+50)"]["testable"] and v["cos(n+50)"]["appears_with_disappears_without"] is None
    err = with_m["sin(n/10)"][0]["error"]
    assert err == pytest.approx(64 - 20 * torch.pi, abs=1e-6)  # error in samples vs the true period


def test_acf_reference_separates_the_signals_only_at_odd_multiples_of_31():
    three, two = (study_signal(w).sample(512) for w in ("three", "two"))
    p3, p2 = acf_peaks(three, 16.0, 16), acf_peaks(two, 16.0, 16)
    assert 64.0 in p3 and 64.0 in p2  # 62.8 = 2 × 31.4: lag ≈ 63 is a period of both signals
    assert 96.0 in p2 and 96.0 not in p3  # 3 × 31.4: sin(n/10) is anti-correlated there


def test_attention_study_writes_json_and_figures(tmp_path):
    torch.manual_seed(0)
    res = AttentionStudy("three", n_perm=10, untrained_control=False).run(ViTimeForecaster(1, 512, 128), None, tmp_path)
    saved = json.loads((tmp_path / "attention_study.json").read_text())
    assert saved["trained"]["best_head_label"] == res["trained"]["best_head_label"]
    assert set(saved["trained"]["best_head"]["verdicts"]) == set(PERIODS)
    assert len(saved["trained"]["signals"]["three"]["heads"]) == 6 * 4  # 4 encoder + 2 decoder layers × 4 heads
    assert {p.name for p in (tmp_path / "figures").glob("*.png")} >= {"study_three_best_head.png",
                                                                      "study_two_overview.png"}
    with pytest.raises(ValueError, match="512"):
        AttentionStudy().run(ViTimeForecaster(1, 256, 64), None, tmp_path)


@pytest.mark.parametrize("which", ["harmonics_three", "harmonics_two"])
def test_experiment_configs_build_the_objects(make_cfg, which):
    cfg = make_cfg([f"experiment={which}"])
    dm = instantiate(cfg.dataset)
    model = instantiate(cfg.model, meta=dm.meta)
    study = instantiate(cfg.study)
    assert dm.context_len == 512 and model.horizon == 128 and isinstance(model.backbone, ViTimeForecaster)
    assert study.primary == which.removeprefix("harmonics_") and cfg.monitor.metric == "val/mse"
    assert model(dm.split_arrays("val")["x"][:2]).shape == (2, 1, 128)
