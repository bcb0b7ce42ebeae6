"""Sanity checks and the IG reference through the pipeline: the metrics.json keys, switches, bad values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tsexplain.pipeline import run
from tsexplain.utils.rich_config import headline_verdict

EX = ["dataset=freqshapes", "model=resnet_tf", "trainer.max_epochs=1", "evaluation.max_samples=16",
      "narrator=none", "explainer.align=none"]


def _metrics(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["metrics"]


def test_fusion_run_writes_randomisation_infidelity_sensitivity_and_ig_reference(make_cfg):
    cfg = make_cfg(EX + ["explainer=fusion", "explainer.gradcam.variant=hirescam",
                         "evaluation.sanity.max_samples=8", "evaluation.reference_ig.max_samples=8",
                         "evaluation.reference_ig.n_steps=8"])
    run(cfg)
    m = _metrics(cfg)
    cascade = [f"explain/rand_spearman_cascade/{k}" for k in ("head", "transformer", "resnet")]
    for key in ["explain/rand_spearman_all", *cascade, "explain/rand_spearman_cascade_min"]:
        assert -1.0 <= m[key] <= 1.0, key
    # resnet_tf holds every weight in its three children: the last cascade step is all-at-once
    assert m["explain/rand_spearman_all"] == pytest.approx(m["explain/rand_spearman_cascade/resnet"])
    assert m["explain/rand_n"] <= 8
    assert m["explain/infidelity"] >= 0 and math.isfinite(m["explain/infidelity"])
    assert m["explain/sensitivity_max"] >= 0 and math.isfinite(m["explain/sensitivity_max"])
    assert 0 <= m["explain_ig_ref/auprc"] <= 1 and m["explain_ig_ref/n_samples"] == 8
    line = headline_verdict(m, "fusion")
    assert line.startswith(f"fusion AUPRC {m['explain/auprc']:.3f}")
    assert "best component" in line and "integrated gradients" in line and "fusion" in line.split(":")[-1]


def test_amplitude_is_model_blind_through_the_pipeline(make_cfg):
    cfg = make_cfg(EX[:-1] + ["explainer=amplitude", "evaluation.sanity.sensitivity=false",
                              "evaluation.reference_ig.max_samples=0"])
    run(cfg)
    m = _metrics(cfg)
    assert m["explain/rand_spearman_all"] == pytest.approx(1.0)  # the check of the check
    assert m["explain/rand_spearman_cascade_min"] == pytest.approx(1.0)
    assert "explain/sensitivity_max" not in m and "explain/infidelity" in m  # each check has its own switch
    assert not any(k.startswith("explain_ig_ref/") for k in m)  # reference_ig.max_samples=0: off


@pytest.mark.parametrize(("override", "match"), [
    ("explainer.gradcam.variant=scorecam", "gradcam, hirescam, gradcampp"),
    ("evaluation.sanity.n_perturb_sensitivity=0", "n_perturb_sensitivity"),
])
def test_bad_sanity_or_cam_values_fail_before_training(make_cfg, override, match):
    cfg = make_cfg(EX + ["explainer=fusion", override])
    with pytest.raises(Exception, match=match):
        run(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()  # nothing trained


def test_cam_ablation_sweep_composes(make_cfg):
    cfg = make_cfg(["sweep=ablation_fusion_cam"])
    assert set(cfg.hydra.sweeper.params) == {"explainer.gradcam.variant", "explainer.gradcam.layer"}
    assert cfg.explainer.align == "none" and cfg.explainer._target_.endswith("FusionExplainer")


def test_verdict_for_a_learned_explainer_names_its_other_maps_and_its_health():
    m = {"explain/auprc": 0.90, "explain_footprint/auprc": 0.99, "explain_mask/auprc": 0.88,
         "explain_ig_ref/auprc": 0.68, "explain_ig_ref/n_samples": 64, "explain/healthy": 1.0,
         "explain/health_fvu": 0.18, "explain/health_pca_fvu": 0.31, "explain/health_l0": 7.3,
         "explain/health_l0_target": 8.0, "explain/health_dead_fraction": 0.1}
    line = headline_verdict(m, "timesae")
    assert "below its best other map footprint (0.990; mask 0.880)" in line
    assert "above integrated gradients (0.680, first 64 samples)" in line
    assert "fusion" not in line  # not a fusion: no fusion verdict
    assert line.endswith("fit healthy: FVU 0.18 (PCA 0.31), L0 7.3/8, 10% dead")
    assert "UNHEALTHY" in headline_verdict({**m, "explain/healthy": 0.0}, "timesae")
