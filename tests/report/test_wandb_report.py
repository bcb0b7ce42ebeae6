"""`python -m tsexplain.report <folder> --wandb ENTITY/PROJECT`: the W&B Report built from wandb-workspaces' own
objects (not saved: that needs the network), the offline path that prints `wandb sync` instructions and still writes
the Markdown/HTML report, and a malformed --wandb value failing before anything is built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tsexplain.report.__main__ import main
from tsexplain.report.build import build
from tsexplain.report.wandb_report import build_wandb_report, offline_reason, parse_target, run_group

wr = pytest.importorskip("wandb_workspaces.reports.v2")
expr = pytest.importorskip("wandb_workspaces.expr")

LAUNCHES = ("2026-01-01_10-00-00_11", "2026-01-02_10-00-00_22")
AUPRC = {"IntegratedGradients": 0.7, "Occlusion": 0.6}


def _runs_folder(root: Path) -> Path:
    """Two launches of one sweep (two W&B groups), two explainers each; the first launch logged to W&B offline
    (its config names the group, its runs have unsynced offline folders), the second had no W&B logger."""
    for n, launch in enumerate(LAUNCHES):
        sweep = root / "bench" / "multiruns" / launch
        sweep.mkdir(parents=True)
        (sweep / "multirun.yaml").write_text("hydra: {}\n")
        for j, (explainer, auprc) in enumerate(AUPRC.items()):
            d = sweep / str(j)
            d.mkdir()
            cfg = {"task_name": "bench", "seed": 0, "dataset": {"name": "freqshapes"},
                   "model": {"name": "transformer"}, "explainer": {"name": explainer}}
            if n == 0:
                cfg["logger"] = {"wandb": {"group": f"bench/{launch}", "project": "tsexplain"}}
                offline = d / "wandb" / f"offline-run-20260101_100000-ab{j}"
                offline.mkdir(parents=True)
                (offline / f"run-ab{j}.wandb").write_bytes(b":W&B")
            (d / "config_resolved.yaml").write_text(yaml.safe_dump(cfg))
            metrics = {"test/f1": 0.9, "explain/auprc": auprc + 0.01 * n, "explain/del_auc": 0.3,
                       "explain/ms_per_instance": 2.0 + j}
            (d / "metrics.json").write_text(json.dumps({"metrics": metrics, "info": {}}))
    return root


def test_the_w_and_b_report_compares_the_sweeps_groups_by_the_swept_key(tmp_path):
    report = build(_runs_folder(tmp_path), with_figures=False)
    wb = build_wandb_report(report, "ent", "proj")
    assert isinstance(wb, wr.Report)
    assert (wb.entity, wb.project, wb.title) == ("ent", "proj", "tsexplain: bench")
    md = wb.blocks[0]
    assert isinstance(md, wr.MarkdownBlock)
    assert "| explainer | n | test/f1 ↑ |" in md.text and "| Occlusion | 2 |" in md.text
    assert "![" not in md.text  # the local figures' links would not resolve in W&B
    heading, grids = wb.blocks[1], [b for b in wb.blocks if isinstance(b, wr.PanelGrid)]
    assert isinstance(heading, wr.H2) and heading.text == "bench"
    assert len(grids) == 1
    (runset,) = grids[0].runsets
    assert (runset.entity, runset.project) == ("ent", "proj")
    assert runset.groupby == ["config.labels.explainer"]
    assert expr.groupby_str_to_key(runset.groupby[0]).name == "labels.value.explainer"  # how W&B stores it
    tree = expr.expr_to_filters(runset.filters)  # the filter wandb-workspaces will send, parsed back
    leaf = tree if tree.key is not None else tree.filters[0]
    assert (leaf.op, leaf.key.section, leaf.key.name) == ("IN", "run", "group")
    assert sorted(leaf.value) == [f"bench/{launch}" for launch in LAUNCHES]
    bars = [p for p in grids[0].panels if isinstance(p, wr.BarPlot)]
    assert [p.metrics for p in bars][:3] == [["explain/auprc"], ["explain/del_auc"], ["explain/ms_per_instance"]]
    assert bars[0]._to_model().config.group_agg == "mean"
    (scatter,) = [p for p in grids[0].panels if isinstance(p, wr.ScatterPlot)]
    backend = scatter._to_model().config
    assert (backend.x_axis, backend.y_axis) == ("summary:explain/ms_per_instance", "summary:explain/auprc")


def test_a_run_without_a_wandb_logger_gets_the_group_its_launch_would_have(tmp_path):
    report = build(_runs_folder(tmp_path), with_figures=False)
    runs = report.sections[0].runs
    assert len(runs) == 4
    for r in runs:  # the logged launch reads its group from the config, the other computes the same form
        assert run_group(r) == f"bench/{r.path.parent.name}"
    assert sum("logger" in r.cfg for r in runs) == 2


@pytest.mark.parametrize("bad", ["proj", "ent/proj/extra", "/proj", "ent/", "ent proj/x"])
def test_a_malformed_wandb_value_fails_before_anything_is_built(tmp_path, capsys, bad):
    root = _runs_folder(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main([str(root), "--wandb", bad, "--no-figures"])
    assert exit_.value.code == 2
    assert "ENTITY/PROJECT" in capsys.readouterr().err
    assert not (root / "report").exists()
    with pytest.raises(ValueError, match="ENTITY/PROJECT"):
        parse_target(bad)
    assert parse_target("my-team/tsexplain.v2") == ("my-team", "tsexplain.v2")


def test_offline_prints_how_to_sync_and_build_later_and_writes_the_report(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    root = _runs_folder(tmp_path)
    assert main([str(root), "--wandb", "ent/proj", "--no-figures", "--by", "explainer"]) == 0
    out = capsys.readouterr().out
    assert "W&B is offline (WANDB_MODE=offline)" in out
    sync = next(ln for ln in out.splitlines() if ln.strip().startswith("wandb sync"))
    assert "-e ent -p proj" in sync
    launch = root / "bench" / "multiruns" / LAUNCHES[0]
    for j in (0, 1):  # both offline folders, none of the runs that never logged to W&B
        assert str(next((launch / str(j) / "wandb").glob("offline-run-*"))) in sync
    assert LAUNCHES[1] not in sync
    assert f"python -m tsexplain.report {root} --wandb ent/proj --no-figures --by explainer" in out
    assert (root / "report" / "report.md").is_file() and (root / "report" / "report.html").is_file()


def test_unsynced_offline_runs_keep_the_report_offline_even_with_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    runs = build(_runs_folder(tmp_path), with_figures=False).sections[0].runs
    assert offline_reason(runs) == "2 run(s) were logged offline and are not synced yet"
    for f in tmp_path.rglob("run-*.wandb"):  # what `wandb sync` leaves beside a synced run
        f.with_suffix(".wandb.synced").write_text("")
    assert offline_reason(runs) is None
    monkeypatch.delenv("WANDB_API_KEY")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    assert "no W&B credentials" in offline_reason(runs)


def test_wandb_workspaces_is_imported_only_on_the_wandb_path():
    code = ("import sys, tsexplain.pipeline, tsexplain.report.__main__, tsexplain.report.wandb_report; "
            "print(sorted(m for m in sys.modules if m.startswith('wandb_workspaces')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
