"""End-to-end runs of the explanation stages (explain → evaluate → narrate → report) on tiny FreqShapes data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from tsexplain.pipeline import run

N = 16  # evaluation.max_samples: the explained test samples
EX = ["dataset=freqshapes", "trainer.max_epochs=1", f"evaluation.max_samples={N}"]
NO_DTW = "explainer.align=none"  # fusion only: DTW is exercised in one test


def _read(cfg, name: str):
    return json.loads((Path(cfg.paths.output_dir) / name).read_text())


def _metrics(cfg) -> dict:
    return _read(cfg, "metrics.json")["metrics"]


def _in01(m: dict, key: str) -> None:
    assert key in m, f"{key} missing from metrics.json: {sorted(m)}"
    assert 0.0 <= m[key] <= 1.0, f"{key}={m[key]}"


def test_fusion_template_run_writes_scores_maps_narratives_and_figures(make_cfg):
    cfg = make_cfg(EX + ["model=resnet_tf", "explainer=fusion", NO_DTW, "narrator=template", "n_figures=2"])
    run(cfg)
    folder = Path(cfg.paths.output_dir)
    m = _metrics(cfg)

    # stage 6: ground truth and faithfulness, for the fused map and each component under its own prefix
    assert not any(k.startswith("explain_rollout_aligned/") for k in m)  # align=none: nothing to align
    for prefix in ("explain", "explain_gradcam", "explain_rollout"):
        for key in ("auprc", "aup", "aur", "pooled_auprc"):
            _in01(m, f"{prefix}/{key}")
        assert -1.0 <= m[f"{prefix}/del_drop20"] <= 1.0
        assert m[f"{prefix}/n_scored"] == N  # every FreqShapes class is scored, every mask non-empty
    assert m["explain/ms_per_instance"] > 0
    assert not any(k.startswith("explain_fused/") for k in m)

    # saliency.npz: the documented arrays, one row per explained sample
    arrays = np.load(folder / "saliency.npz")
    expected = {"index", "saliency", "target", "prediction", "label", "mask", "map_gradcam", "map_rollout",
                "map_fused"}
    assert expected <= set(arrays.files) and "map_rollout_aligned" not in arrays.files
    sal = arrays["saliency"]
    assert sal.shape == (N, 1, 50)  # [N, C, T] of FreqShapes
    for name in ("mask", "map_gradcam", "map_rollout", "map_fused"):
        assert arrays[name].shape == sal.shape, name
    # the stored components are the ones fused: multiply, and align=none leaves rollout as it is
    np.testing.assert_allclose(sal, arrays["map_gradcam"] * arrays["map_rollout"], atol=1e-6)
    np.testing.assert_allclose(sal, arrays["map_fused"], atol=1e-6)
    for name in ("index", "target", "prediction", "label"):
        assert arrays[name].shape == (N,), name
    assert np.isfinite(sal).all() and (sal >= 0).all()
    assert sal.reshape(N, -1).max(axis=1).min() > 0  # no all-zero fused map
    assert (arrays["target"] == arrays["prediction"]).all()  # evaluation.target=pred
    assert len(set(arrays["index"].tolist())) == N

    # stage 7: one narrative per explained sample naming the channel, references for scored samples
    records = _read(cfg, "narratives.json")
    assert [r["index"] for r in records] == arrays["index"].tolist()
    assert all(r["narrative"].startswith("Predicted ") for r in records)
    assert all("ch0" in r["narrative"] for r in records)  # no fused map is all-zero (checked above)
    assert all("reference" in r and "ch0" in r["reference"] for r in records)  # all classes scored
    _in01(m, "narrate/bleu4")
    _in01(m, "narrate/rougeL_f")
    info = _read(cfg, "metrics.json")["info"]
    assert info["example_narratives"] == [r["narrative"] for r in records[:2]]

    # stage 8: figures and the curves behind them
    figures = sorted(p.name for p in (folder / "figures").glob("*.png"))
    assert "deletion_curves.png" in figures
    assert len([f for f in figures if f.startswith("saliency_")]) == 2  # n_figures=2
    assert sorted(Path(p).name for p in info["figures"]) == figures
    curves = _read(cfg, "faithfulness_curves.json")
    assert set(curves) == {"explainer", "gradcam", "rollout"}
    fractions = list(cfg.evaluation.faithfulness.fractions)
    for curve in curves.values():
        assert curve["deletion"]["fractions"] == pytest.approx(fractions)
        assert curve["insertion"]["fractions"] == pytest.approx(fractions)
        assert len(curve["deletion"]["acc"]) == len(fractions)
    assert not (folder / "FAILED").exists()


def test_fusion_with_dtw_fuses_the_warped_rollout(make_cfg):
    cfg = make_cfg(EX + ["model=resnet_tf", "explainer=fusion", "explainer.align=dtw", "narrator=none",
                         "evaluation.max_samples=8", "evaluation.faithfulness.enabled=false"])
    run(cfg)
    m = _metrics(cfg)
    _in01(m, "explain/auprc")
    _in01(m, "explain_rollout_aligned/auprc")
    a = np.load(Path(cfg.paths.output_dir) / "saliency.npz")
    raw, warped = a["map_rollout"], a["map_rollout_aligned"]
    assert warped.shape == raw.shape == (8, 1, 50)
    assert not np.allclose(warped, raw)  # DTW moved something
    # a warped value is a mean of the map's own values: it stays within each sample's range
    lo, hi = raw.min(axis=(1, 2), keepdims=True), raw.max(axis=(1, 2), keepdims=True)
    assert ((warped >= lo - 1e-6) & (warped <= hi + 1e-6)).all()
    np.testing.assert_allclose(a["saliency"], a["map_gradcam"] * warped, atol=1e-6)  # the aligned map is fused
    folder = Path(cfg.paths.output_dir)
    assert not (folder / "faithfulness_curves.json").exists()  # faithfulness off: no curves, no empty entries
    assert not (folder / "figures" / "deletion_curves.png").exists()


def test_integrated_gradients_is_model_agnostic(make_cfg):
    cfg = make_cfg(EX + ["model=transformer", "explainer=integrated_gradients", "explainer.n_steps=8",
                         "narrator=none"])
    run(cfg)
    m = _metrics(cfg)
    assert m["explain/ms_per_instance"] > 0
    _in01(m, "explain/auprc")
    assert not any(k.startswith("narrate/") for k in m)
    folder = Path(cfg.paths.output_dir)
    sal = np.load(folder / "saliency.npz")["saliency"]
    assert sal.shape == (N, 1, 50) and np.isfinite(sal).all() and (sal >= 0).all()
    assert not (folder / "narratives.json").exists()


def test_robustness_study_writes_deltas_per_sigma(make_cfg):
    cfg = make_cfg(EX + ["model=resnet", "explainer=saliency", "evaluation.robustness_sigmas=[0.1]"])
    run(cfg)
    m = _metrics(cfg)
    robust = {k: v for k, v in m.items() if k.startswith("robust/")}
    assert robust and all(k.startswith("robust/sigma0.1/delta_") for k in robust)
    for key in ("auprc", "del_drop20", "bleu4"):
        assert f"robust/sigma0.1/delta_{key}" in robust, sorted(robust)
    assert all(np.isfinite(v) for v in robust.values())
    assert -1.0 <= robust["robust/sigma0.1/delta_auprc"] <= 1.0
    assert robust["robust/sigma0.1/delta_auprc"] != 0.0  # noise changed the maps


def test_t5_narrator_trained_in_the_run(make_cfg):
    cfg = make_cfg(EX + ["model=resnet", "explainer=saliency", "narrator=t5", "narrator.max_steps=5",
                         "narrator.fit_samples=32", "narrator.accelerator=cpu", "narrator.max_new_tokens=48"])
    run(cfg)
    m = _metrics(cfg)
    _in01(m, "narrate/fallback_rate")
    _in01(m, "narrate/bleu4")
    records = _read(cfg, "narratives.json")
    assert len(records) == N
    # whatever the (barely trained) model wrote, what ends up in the file is usable: it names the channel,
    # or it is the template's sentence for the same map (the fallback)
    template = instantiate(cfg.narrator.template)
    data = instantiate(cfg.dataset)
    data.prepare_data()
    data.setup("test")
    x = data.split_arrays("test")["x"][:N].numpy()
    arrays = np.load(Path(cfg.paths.output_dir) / "saliency.npz")
    fallback = template.narrate_batch(arrays["saliency"], data.meta, arrays["prediction"].tolist(), x=x)
    n_same = 0
    for record, text in zip(records, fallback, strict=True):
        assert "ch0" in record["narrative"] or record["narrative"] == text
        n_same += record["narrative"] == text
    generated = sum(bool(template.regions(s)) for s in arrays["saliency"])  # maps the model was asked about
    assert generated > 0
    assert n_same >= round(m["narrate/fallback_rate"] * generated)  # each fallback is the template's text


@pytest.mark.parametrize(("explainer", "supported"), [("gradcam", "resnet|resnet_tf"),
                                                      ("rollout", "transformer2d|resnet_tf")])
def test_incompatible_explainer_fails_before_training(make_cfg, explainer, supported):
    cfg = make_cfg(EX + ["model=lstm", f"explainer={explainer}"])
    with pytest.raises(ValueError, match=f"explainer={explainer}.*model={supported}"):
        run(cfg)
    folder = Path(cfg.paths.output_dir)
    assert (folder / "FAILED").is_file()
    assert "ValueError" in (folder / "FAILED").read_text()
    assert not (folder / "metrics.json").exists()
    assert not (folder / "checkpoints").exists()  # nothing trained


def test_random_explainer_scores_are_finite_and_near_chance(make_cfg):
    cfg = make_cfg(EX + ["model=resnet", "explainer=random", "narrator=template"])
    run(cfg)
    m = _metrics(cfg)
    explain = {k: v for k, v in m.items() if k.startswith(("explain/", "narrate/"))}
    assert explain and all(np.isfinite(v) for v in explain.values()), explain
    # FreqShapes masks cover a small fraction of each series: a random map's AUPRC stays far from 1
    assert m["explain/auprc"] < 0.5


def test_constant_and_zero_maps_score_finite_through_the_stage(make_cfg):
    """The evaluator's score_map on an all-zero map (and a sample with an empty mask): no NaN anywhere."""
    from tsexplain.stages import explained_samples

    cfg = make_cfg(EX + ["model=resnet"])
    data = instantiate(cfg.dataset)
    data.prepare_data()
    data.setup("fit")
    blackbox = instantiate(cfg.model, meta=data.meta).eval()
    evaluator = instantiate(cfg.evaluation)
    test = explained_samples(data, blackbox, N)
    test.mask = test.mask.clone()
    test.mask[0] = False  # one sample without ground truth: skipped, not NaN
    for sal in (torch.zeros_like(test.x), torch.full_like(test.x, 0.3)):
        scores = evaluator.score_map(sal, test, blackbox)
        metrics, curves = scores.metrics, scores.curves
        assert metrics["explain/n_scored"] == N - 1
        assert metrics["explain/aup"] == 0.0 and metrics["explain/aur"] == 0.0
        assert all(np.isfinite(v) for v in metrics.values()), metrics
        assert np.isfinite(np.asarray(curves["deletion"]["acc"], dtype=float)).all()


def test_regression_run_narrates_numbers_without_ground_truth_scores(make_cfg, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 2, 24)).astype(np.float32)
    y = x[:, 0, 5:10].mean(axis=1)
    mask = np.zeros(x.shape, dtype=bool)
    mask[:, 0, 5:10] = True
    np.savez(tmp_path / "reg.npz", x=x, y=y, mask=mask, channel_names=np.array(["load", "temp"]))
    cfg = make_cfg(["dataset=npz", f"dataset.path={tmp_path / 'reg.npz'}", "dataset.task=regression",
                    "model=resnet", "explainer=saliency", "narrator=template", f"evaluation.max_samples={N}",
                    "optimized_metric=test/mse"])
    run(cfg)
    m = _metrics(cfg)
    assert not any(k.endswith("auprc") or k.startswith("narrate/") for k in m)  # GT scores are multiclass-only
    assert np.isfinite(m["explain/del_drop20"])
    records = _read(cfg, "narratives.json")
    preds = np.load(Path(cfg.paths.output_dir) / "saliency.npz")["prediction"]
    assert len(records) == len(preds) == 14  # the whole test split (15 % of 90) is under max_samples
    assert not any("reference" in r for r in records)
    for record, pred in zip(records, preds, strict=True):
        assert record["prediction"] == pytest.approx(float(pred))
        assert record["narrative"].startswith(f"Predicted {float(pred):.3g}: ")


def test_figures_use_the_narrators_regions_and_readable_predictions(make_cfg):
    """The narration step returns the regions each narrative talks about (the narrator's own `regions`, with its
    region settings and max_regions), and those are what the report draws."""
    from tsexplain.data.meta import DataMeta
    from tsexplain.narrate.narration import narrate
    from tsexplain.report.explanations import prediction_text
    from tsexplain.stages import Explanation, TestSet

    meta = DataMeta(name="toy", task="multiclass", n_channels=1, seq_len=40, n_outputs=2)
    sal = torch.zeros(2, 1, 40)
    sal[:, 0, 5:10], sal[:, 0, 20:24], sal[:, 0, 30:33] = 1.0, 0.8, 0.6
    test = TestSet(x=torch.randn(2, 1, 40), y=torch.zeros(2, dtype=torch.long), index=torch.arange(2), mask=None,
                   pred=torch.zeros(2, dtype=torch.long), target=torch.zeros(2, dtype=torch.long), meta=meta)
    template = instantiate(make_cfg(["narrator=template", "narrator.max_regions=2"]).narrator)
    assert template.region_kwargs == {"method": "quantile", "q": 0.8, "min_len": 2, "merge_gap": 1}
    narration = narrate(template, Explanation(test, sal), n=2)
    assert narration.regions == [template.regions(s) for s in sal] and len(narration.regions[0]) == 2
    t5 = instantiate(make_cfg(["narrator=t5", "narrator.template.max_regions=4", "narrator.d_model=8",
                               "narrator.d_ff=8", "narrator.num_layers=1", "narrator.num_heads=1"]).narrator)
    assert t5.regions(sal[0]) == t5.template.regions(sal[0]) and t5.template.max_regions == 4

    reg = DataMeta(name="r", task="regression", n_channels=1, seq_len=8, n_outputs=1)
    assert prediction_text(torch.tensor(-0.0409441), reg) == "-0.0409"
    cls = DataMeta(name="c", task="multiclass", n_channels=1, seq_len=8, n_outputs=2, class_names=["no", "yes"])
    assert prediction_text(torch.tensor(1), cls) == "yes"
    multi = DataMeta(name="m", task="multilabel", n_channels=1, seq_len=8, n_outputs=3)
    assert prediction_text(torch.tensor(2), multi) == "2"
