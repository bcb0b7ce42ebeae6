"""The comparison report aggregates metrics.json files by config keys."""

from __future__ import annotations

import json

import pytest
import yaml

from tsexplain.report.compare import aggregate, collect, main


def _fake_run(root, name, dataset, seed, acc):
    d = root / name
    d.mkdir(parents=True)
    (d / "config_resolved.yaml").write_text(yaml.safe_dump(
        {"dataset": {"name": dataset}, "model": {"name": "transformer"}, "explainer": {}, "seed": seed}))
    (d / "metrics.json").write_text(json.dumps({"metrics": {"test/acc": acc}, "info": {}}))


def test_groups_mean_and_std(tmp_path):
    _fake_run(tmp_path, "0", "freqshapes", 0, 0.9)
    _fake_run(tmp_path, "1", "freqshapes", 1, 1.0)
    _fake_run(tmp_path, "2", "lowvar", 0, 0.5)
    (tmp_path / "3").mkdir()  # an unfinished run: no metrics.json, ignored
    rows = aggregate(collect(tmp_path), ["dataset"], ["test/acc"])
    by = {r["dataset"]: r for r in rows}
    assert by["freqshapes"]["n"] == 2
    mean, std, n = by["freqshapes"]["test/acc"]
    assert mean == pytest.approx(0.95) and std == pytest.approx(0.05) and n == 2
    assert by["lowvar"]["test/acc"][0] == pytest.approx(0.5)
    table = main([str(tmp_path), "--by", "dataset", "--metrics", "test/acc", "--out", str(tmp_path / "t.md")])
    assert "0.950 ± 0.050" in table and (tmp_path / "t.md").read_text().strip() == table


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        main([str(tmp_path / "nope")])
