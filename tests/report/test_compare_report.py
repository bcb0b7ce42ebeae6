"""python -m tsexplain.report on run folders written here in the layout `python run.py -m ...` leaves
(logs/<task>/multiruns/<time>/<job>/{config_resolved.yaml, metrics.json, faithfulness_curves.json, .hydra/}):
grouping by the swept keys, mean ± SE over seeds, best marking, published anchors, skipped runs and their reasons,
exit codes, and the HTML page rendered by a real headless Chromium."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tsexplain.report.__main__ import main
from tsexplain.report.anchors import Anchors
from tsexplain.report.build import build
from tsexplain.report.grouping import direction, swept_keys
from tsexplain.report.render import to_html, to_markdown

TARGETS = {"ig": "tsexplain.explain.captum_baselines.IntegratedGradients",
           "occlusion": "tsexplain.explain.captum_baselines.Occlusion",
           "timesae": "tsexplain.explain.timesae.explainer.TimeSAEExplainer"}
EPOCHS = {"freqshapes": 100, "lowvar": 120}  # a per-dataset recipe: follows the dataset, not a swept key


def write_run(multirun, job, *, dataset="freqshapes", model="transformer", explainer="ig", seed=0, metrics=None,
              task="bench", n_steps=50, curve=None):
    """One job folder as run.py writes it: resolved config (with per-run paths), metrics.json, curves, .hydra."""
    d = multirun / str(job)
    (d / ".hydra").mkdir(parents=True)
    (multirun / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"mode": "MULTIRUN"}}))
    cfg = {
        "task_name": task, "seed": seed, "train": True, "test": True,
        "dataset": {"_target_": "tsexplain.data.datamodule.SyntheticDataModule", "name": dataset, "split": 0,
                    "seed": seed, "n_train": 5000, "batch_size": 32},
        "model": {"_target_": "tsexplain.models.blackbox.BlackBox", "name": model, "lr": 0.001,
                  "backbone": {"_target_": f"tsexplain.models.backbones.{model}.Net", "_partial_": True}},
        "explainer": {"_target_": TARGETS[explainer], "n_steps": n_steps, "batch_size": 64},
        "trainer": {"_target_": "lightning.pytorch.trainer.Trainer", "max_epochs": EPOCHS.get(dataset, 50),
                    "default_root_dir": str(d)},
        "callbacks": {"model_checkpoint": {"dirpath": str(d / "checkpoints")}},
        "paths": {"output_dir": str(d), "log_dir": str(multirun.parent)},
        "evaluation": {"seed": seed, "max_samples": None},
    }
    (d / "config_resolved.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"dataset={dataset}", f"seed={seed}"]))
    (d / "metrics.json").write_text(json.dumps({"metrics": metrics or {}, "info": {"saliency_file": "x"}}, indent=2))
    if curve is not None:
        fr = [0.1, 0.2, 0.3, 0.4, 0.5]
        (d / "faithfulness_curves.json").write_text(json.dumps({"explainer": {
            "deletion": {"mode": "deletion", "fractions": fr, "acc": curve, "prob": curve},
            "insertion": {"mode": "insertion", "fractions": fr, "acc": curve[::-1]}}}))
    return d


AUPRC = {("freqshapes", "ig"): [0.80, 0.90, 1.00], ("freqshapes", "occlusion"): [0.50, 0.60, 0.70],
         ("lowvar", "ig"): [0.20, 0.30, 0.40], ("lowvar", "occlusion"): [0.45, 0.50, 0.55]}
MS = {"ig": 5.0, "occlusion": 2.0}


@pytest.fixture
def sweep(tmp_path):
    """A 2 datasets × 2 explainers × 3 seeds multirun (12 jobs) with known numbers."""
    mr = tmp_path / "logs" / "bench" / "multiruns" / "2026-01-01_00-00-00_1"
    job = 0
    for (dataset, explainer), vals in AUPRC.items():
        for seed, v in enumerate(vals):
            write_run(mr, job, dataset=dataset, explainer=explainer, seed=seed,
                      metrics={"test/f1": 0.9 + 0.01 * seed, "explain/auprc": v, "explain/auprc_sem": 0.01,
                               "explain/ms_per_instance": MS[explainer] + seed, "explain/del_auc": 1 - v},
                      curve=[1.0, 0.9 - v / 2, 0.8 - v / 2, 0.7 - v / 2, 0.6 - v / 2])
            job += 1
    return mr


def test_groups_by_swept_keys_with_standard_error(sweep):
    report = build(sweep, with_figures=False)
    (section,) = report.sections
    # seeds, per-run paths and the dataset's epoch recipe differ between runs but are not settings of the sweep
    assert section.by == ["dataset", "explainer"]
    assert section.fixed == {"model": "transformer"}
    by = {g.keys: g for g in section.groups}
    assert sorted(by) == [("freqshapes", "IntegratedGradients"), ("freqshapes", "Occlusion"),
                          ("lowvar", "IntegratedGradients"), ("lowvar", "Occlusion")]
    s = by[("freqshapes", "IntegratedGradients")].stats["explain/auprc"]
    assert s.n == 3 and s.mean == pytest.approx(0.9)
    assert s.se == pytest.approx(np.std([0.8, 0.9, 1.0], ddof=1) / math.sqrt(3))  # sample std / √n, not the std
    assert "0.900 ± 0.058" in to_markdown(report)
    assert "explain/auprc_sem" not in section.metrics  # per-sample SEs are not columns unless asked for


def test_swept_config_key_beyond_the_named_groups(tmp_path):
    mr = tmp_path / "mr"
    for job, (steps, seed) in enumerate([(20, 0), (20, 1), (50, 0), (50, 1)]):
        write_run(mr, job, n_steps=steps, seed=seed, metrics={"explain/auprc": steps / 100 + seed / 100})
    report = build(mr, with_figures=False)
    (section,) = report.sections
    assert section.by == ["explainer.n_steps"]
    assert [(g.keys, g.stats["explain/auprc"].mean) for g in section.groups] == [
        (("20",), pytest.approx(0.205)), (("50",), pytest.approx(0.505))]
    # --by overrides the detection
    assert build(mr, by=["seed"], with_figures=False).sections[0].by == ["seed"]


def test_best_marked_per_dataset_in_each_metrics_direction(sweep):
    assert direction("explain/auprc") == 1 and direction("test/f1") == 1 and direction("test/acc") == 1
    assert direction("val/loss") == -1 and direction("test/mse") == -1 and direction("explain/ms_per_instance") == -1
    assert direction("explain/del_auc") == -1 and direction("explain/ins_auc") == 1
    (section,) = build(sweep, with_figures=False).sections
    best = {g.keys: g.best for g in section.groups}
    # AUPRC: IG wins on freqshapes, Occlusion on lowvar (each dataset apart); time: Occlusion is faster on both
    assert "explain/auprc" in best[("freqshapes", "IntegratedGradients")]
    assert "explain/auprc" in best[("lowvar", "Occlusion")]
    assert "explain/auprc" not in best[("lowvar", "IntegratedGradients")]
    assert "explain/ms_per_instance" in best[("freqshapes", "Occlusion")]
    assert "explain/ms_per_instance" not in best[("freqshapes", "IntegratedGradients")]
    # the same black box under every explainer: equal F1s, so none is marked
    assert not any("test/f1" in b for b in best.values())
    md = to_markdown(build(sweep, with_figures=False))
    assert re.search(r"\| freqshapes \| IntegratedGradients \| 3 \|[^\n]*\*\*0\.900 ± 0\.058\*\*", md)


def test_published_anchors_beside_our_numbers(sweep, tmp_path):
    report = build(sweep, with_figures=False)
    (section,) = report.sections
    rows = {g.keys: i for i, g in enumerate(section.groups)}
    ig_fs = section.anchors[(rows[("freqshapes", "IntegratedGradients")], "explain/auprc")]
    assert ig_fs.value == pytest.approx(0.752) and ig_fs.source == "TimeX paper"
    assert section.anchors[(rows[("lowvar", "IntegratedGradients")], "explain/auprc")].value == pytest.approx(0.869)
    assert section.anchors[(rows[("freqshapes", "Occlusion")], "test/f1")].value == pytest.approx(0.972)
    assert (rows[("freqshapes", "Occlusion")], "explain/auprc") not in section.anchors  # no published Occlusion
    line = next(ln for ln in to_markdown(report).splitlines() if ln.startswith("| freqshapes | IntegratedGradients"))
    assert "| 0.752 |" in line and "| 0.972 |" in line
    # a black box other than the paper's gets no anchor
    other = tmp_path / "other"
    write_run(other, 0, model="resnet_tf", metrics={"explain/auprc": 0.5, "test/f1": 0.9})
    assert build(other, with_figures=False).sections[0].anchors == {}
    # a file of our own, and no anchors at all
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"sources": [{"name": "ours", "model": "transformer",
                                                 "aliases": {"IG": ["IntegratedGradients"]},
                                                 "values": {"lowvar": {"IG": {"explain/auprc": 0.123}}}}]}))
    s = build(sweep, anchors=Anchors.load(mine), with_figures=False).sections[0]
    assert [(a.value, a.source) for a in s.anchors.values()] == [(0.123, "ours")]
    assert build(sweep, anchors=Anchors.load(None), with_figures=False).sections[0].anchors == {}


def test_the_shipped_anchors_hold_the_timex_tables():
    a = Anchors.load()
    table = {(d, m): a.lookup(d, "transformer", m, "explain/auprc").value
             for d in ("freqshapes", "seqcomb_uv", "seqcomb_mv", "lowvar") for m in ("IG", "Dynamask", "TimeX")}
    assert [table[(d, "TimeX")] for d in ("freqshapes", "seqcomb_uv", "seqcomb_mv", "lowvar")] == \
        [0.832, 0.712, 0.688, 0.867]
    assert table[("seqcomb_mv", "Dynamask")] == 0.314 and table[("freqshapes", "IG")] == 0.752
    assert a.lookup("lowvar", "transformer", "TimeX", "explain/aur").value == 0.900
    assert a.lookup("seqcomb_uv", "transformer", "Occlusion", "test/f1").value == 0.942


def test_bad_runs_are_skipped_with_their_reason(sweep):
    good = {"explain/auprc": 0.5}
    crashed = write_run(sweep, 20, metrics=good)
    (crashed / "metrics.json").unlink()
    (crashed / "FAILED").write_text("RuntimeError during explain: CUDA out of memory\n\nTraceback ...")
    half = write_run(sweep, 21, metrics=good)
    (half / "metrics.json").unlink()
    broken = write_run(sweep, 22, metrics=good)
    (broken / "metrics.json").write_text('{"metrics": {"explain/auprc": 0.5')
    old = write_run(sweep, 23, metrics=good)
    (old / "metrics.json").write_text(json.dumps({"test/acc": 0.9, "test/f1": 0.8}))
    lost = write_run(sweep, 24, metrics=good)
    (lost / "config_resolved.yaml").unlink()
    moved = sweep / "0" / "previous" / "20260101-000000"
    moved.mkdir(parents=True)
    (moved / "metrics.json").write_text(json.dumps({"metrics": good, "info": {}}))

    report = build(sweep, with_figures=False)
    assert report.n_runs == 12  # the good runs are all still there
    why = {k.path.name: k.reason for k in report.skipped}
    assert why["20"].startswith("crashed (FAILED): RuntimeError during explain: CUDA out of memory")
    assert why["21"].startswith("unfinished")
    assert why["22"].startswith("unreadable metrics.json (JSONDecodeError")
    assert why["23"].startswith("metrics.json in an older format") and "test/acc" in why["23"]
    assert why["24"].startswith("no config_resolved.yaml")
    assert why["20260101-000000"].startswith("an earlier run's results moved aside")
    md = to_markdown(report)
    skipped = md[md.index("## Skipped"):]
    assert "| 20 | crashed (FAILED)" in skipped and "| 0/previous/20260101-000000 |" in skipped
    assert "<td class='key'>22</td><td class='key'>unreadable metrics.json" in to_html(report)


def test_mixed_sweeps_are_said_and_grouped_apart(sweep, tmp_path):
    other = sweep.parent.parent.parent / "ablation" / "multiruns" / "t"
    for seed in range(2):
        write_run(other, seed, task="ablation", explainer="occlusion", seed=seed, metrics={"explain/auprc": 0.1})
    report = build(sweep.parents[2], with_figures=False)
    assert [s.sweep for s in report.sections] == ["ablation", "bench"]
    assert any("mixes runs of 2 sweeps (ablation, bench)" in n for n in report.notes)
    ablation = report.sections[0]
    assert ablation.by == [] and len(ablation.groups) == 1 and ablation.groups[0].stats["explain/auprc"].n == 2
    assert report.sections[1].by == ["dataset", "explainer"]  # not confused by the other sweep's runs
    assert "> Note: this folder mixes runs of 2 sweeps" in to_markdown(report)


def test_figures_from_the_runs_data(sweep, tmp_path):
    names = [f.name for f in build(sweep).sections[0].figures]
    assert names == ["bench_bars_explain_auprc.png", "bench_deletion.png", "bench_time_auprc.png"]
    sae = tmp_path / "sae"
    for job, (l0, fid) in enumerate([(4.0, 0.7), (8.0, 0.9)]):
        write_run(sae, job, explainer="timesae", seed=job, task="ablation_timesae", n_steps=job,
                  metrics={"explain/l0": l0, "explain/label_fidelity": fid, "explain/auprc": 0.4})
    sections = build(sae).sections
    assert "ablation_timesae_sparsity.png" in [f.name for f in sections[0].figures]
    for f in sections[0].figures:
        assert f.png[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_writes_both_files_and_exit_codes(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out)]) == 0
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "| lowvar | Occlusion | 3 |" in md and (out / "figures" / "bench_deletion.png").is_file()
    # one self-contained page: every image inlined, nothing fetched from elsewhere
    srcs = re.findall(r"src='([^']*)'", page)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"(href|src)=['\"](https?:|//|[^'\"d#])", page)
    assert "wrote " in capsys.readouterr().out

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 1
    assert "no usable run under" in capsys.readouterr().err
    only_bad = tmp_path / "bad" / "mr"
    d = write_run(only_bad, 0, metrics={"explain/auprc": 1.0})
    (d / "metrics.json").write_text("not json")
    assert main([str(only_bad.parent)]) == 1
    err = capsys.readouterr().err
    assert "1 folder(s) skipped" in err and "unreadable metrics.json" in err
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "nope")])
    assert exc.value.code == 2
    bad_anchors = tmp_path / "a.yaml"
    bad_anchors.write_text("just: a mapping\n")
    assert main([str(sweep), "--anchors", str(bad_anchors)]) == 2
    assert "needs a `sources:` list" in capsys.readouterr().err
    # as a module, the way users call it
    proc = subprocess.run([sys.executable, "-m", "tsexplain.report", str(empty)], capture_output=True, text=True)
    assert proc.returncode == 1 and "no usable run" in proc.stderr


def test_swept_keys_ignore_paths_and_seeds(sweep):
    from tsexplain.report.collect import collect

    runs, _ = collect(sweep)
    same = [r for r in runs if r.cfg["dataset"]["name"] == "freqshapes" and r.cfg["explainer"]["_target_"]
            == TARGETS["ig"]]
    assert len(same) == 3 and swept_keys(same) == []


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install -y chromium); "
                                              "the HTML report is checked in a real browser only where one exists")
def test_html_page_renders_in_headless_chromium(sweep, tmp_path):
    from PIL import Image

    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out)]) == 0
    page = (out / "report.html").as_uri()
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page], capture_output=True, text=True, timeout=60).stdout
    rows = re.findall(r"<tr>(.*?)</tr>", dom, flags=re.S)
    texts = [re.sub(r"<[^>]+>", "|", r) for r in rows]
    assert any("freqshapes" in t and "IntegratedGradients" in t and "0.900 ± 0.058" in t and "0.752" in t
               for t in texts)
    assert dom.count("<img") == 3
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, "--window-size=1280,2400", f"--screenshot={shot}", page], capture_output=True,
                   timeout=60, check=True)
    px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert (px.min(axis=2) < 200).mean() > 0.01  # not blank: text, table lines, plots
    # the bar chart's images were decoded and painted: matplotlib's first two colours (tab:blue, tab:orange)
    for rgb in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(px - rgb).sum(axis=2) < 30).sum() > 500
    # the best cells' green background is painted (the CSS is applied)
    assert (np.abs(px - (229, 244, 231)).sum(axis=2) < 6).sum() > 200


def test_cost_note_splits_training_from_explaining(tmp_path):
    """Job time from metrics.json's info: a cache miss's training, a hit's load/lock wait, and the rest."""
    mr = tmp_path / "logs" / "bench" / "multiruns" / "2026-01-01_00-00-00_1"
    infos = [{"job_s": 100.0, "blackbox_cache": "miss", "blackbox_train_s": 60.0},
             {"job_s": 50.0, "blackbox_cache": "hit", "blackbox_train_s": 10.0},
             {"job_s": 30.0, "blackbox_cache": "hit", "blackbox_train_s": 2.0}]
    for job, info in enumerate(infos):
        d = write_run(mr, job, explainer="ig" if job else "occlusion", metrics={"explain/auprc": 0.5 + 0.1 * job})
        payload = json.loads((d / "metrics.json").read_text())
        payload["info"].update(info)
        (d / "metrics.json").write_text(json.dumps(payload))
    (note,) = [n for n in build(mr, with_figures=False).sections[0].notes if n.startswith("cost:")]
    assert "3 jobs, 0.05 h of job time" in note  # 180 s
    assert "training black boxes 0.02 h (33 %, 1 trainings)" in note  # 60 / 180
    assert "2 jobs loading a cached one or waiting on its lock 0.00 h (7 %)" in note  # 12 / 180
    assert "explaining and scoring 0.03 h (60 %)" in note  # 108 / 180
