"""`make bench-*`: each target runs sweeps of sweeps/ into bench_results/sweeps/<table>/, then the comparison report,
whose tables replace the README's `<!-- bench:<table> -->` block (tsexplain.report.readme, report --readme)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tsexplain.report.__main__ import main
from tsexplain.report.build import WEAK_F1, build_section
from tsexplain.report.collect import Run
from tsexplain.report.readme import check_marker, replace_block

pytestmark = pytest.mark.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]
TARGETS = {"bench-blackbox": ["blackbox"], "bench-blackbox-paper": ["blackbox_paper"],
           "bench-explainers": ["explainers", "narrators"], "bench-sanity": ["sanity"],
           "bench-timesae": ["timesae", "timesae_speed"], "bench-synthetic": ["synthetic"], "bench-ucr": ["ucr"]}
README = """# Project

Intro kept as is.

<!-- bench:one -->
| old | table |
|---|---|
<!-- /bench:one -->

Between.

<!-- bench:two -->
two's old text
<!-- /bench:two -->
"""


def test_replace_block_rewrites_its_block_only():
    new = replace_block(README, "one", "| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert new == README.replace("| old | table |\n|---|---|\n", "| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert replace_block(new, "one", "| a | b |\n|---|---|\n| 1 | 2 |") == new  # idempotent
    assert "two's old text" in new and new.endswith("<!-- /bench:two -->\n")
    assert replace_block(README, "two", "") == README.replace("two's old text\n", "")
    for bad in ("three", "on", "one two"):  # absent, a prefix of another, not a name
        with pytest.raises(ValueError):
            replace_block(README, bad, "x")
    twice = README + "<!-- bench:one -->\n<!-- /bench:one -->\n"
    assert "exactly one" in check_marker(twice, "one")
    swapped = "<!-- /bench:x -->\n<!-- bench:x -->\n"
    assert check_marker(swapped, "x") is not None


def test_report_cli_refuses_a_readme_without_its_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    runs = tmp_path / "runs"
    runs.mkdir()
    for argv in ([str(runs), "--readme", str(readme)], [str(runs), "--marker", "one"],
                 [str(runs), "--readme", str(readme), "--marker", "three"],
                 [str(runs), "--readme", str(tmp_path / "missing.md"), "--marker", "one"]):
        with pytest.raises(SystemExit) as err:
            main(argv)
        assert err.value.code == 2, argv
    assert readme.read_text() == README


def test_weak_black_box_is_noted():
    def run(i: int, f1: float) -> Run:
        cfg = {"task_name": "t", "seed": i, "dataset": {"name": "freqshapes"}, "model": {"name": "transformer"},
               "explainer": {"_target_": "tsexplain.explain.captum_baselines.RandomExplainer"}}
        return Run(Path(str(i)), cfg, {"test/f1": f1, "explain/auprc": 0.5}, "t")

    from tsexplain.report.anchors import Anchors

    weak = build_section("t", [run(0, WEAK_F1 - 0.1), run(1, WEAK_F1 - 0.05)], None, None, Anchors([]), False)
    assert any(n.startswith("⚠ weak model") for n in weak.notes)
    strong = build_section("t", [run(0, 0.99), run(1, 0.97)], None, None, Anchors([]), False)
    assert not any("weak model" in n for n in strong.notes)


def _dry_run(target: str) -> list[list[str]]:
    proc = subprocess.run(["make", "-n", "-s", "-o", ".venv/.installed", target], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return [shlex.split(line) for line in proc.stdout.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_bench_target_runs_sweeps_then_reports_into_a_readme_block(target):
    readme = (ROOT / "README.md").read_text()
    commands = _dry_run(target)
    sweeps = [c for c in commands if "run.py" in " ".join(c)]
    reports = [c for c in commands if "tsexplain.report" in c or "benchmarks/timesae_speed.py" in " ".join(c)]
    assert sweeps and len(sweeps) + len(reports) == len(commands), commands
    for c in sweeps:
        assert c[c.index("-m") + 1].startswith("sweep=") and "run.py" in c[c.index("-m") - 1]
        names = c[c.index("-m") + 1].removeprefix("sweep=").strip("[]").split(",")
        assert all((ROOT / "sweeps" / f"{n}.yaml").is_file() for n in names), c
        sweep_dir = next(a for a in c if a.startswith("hydra.sweep.dir=")).split("=", 1)[1]
        assert re.fullmatch(r"bench_results/sweeps/[a-z_]+/[a-z_]+", sweep_dir), sweep_dir
    markers = [c[c.index("--marker") + 1] for c in reports]
    assert markers == TARGETS[target]
    for c, marker in zip(reports, markers, strict=True):
        assert c[c.index("--readme") + 1] == "README.md"
        assert check_marker(readme, marker) is None, marker
        if "tsexplain.report" in c:  # the report reads the folder the table's sweeps were written to
            assert c[c.index("tsexplain.report") + 1] == f"bench_results/sweeps/{marker}"
            assert any(s for s in sweeps if f"hydra.sweep.dir=bench_results/sweeps/{marker}/" in " ".join(s))


TINY = ["dataset=freqshapes", "explainer=random,amplitude", "dataset.n_train=64", "dataset.n_val=32",
        "dataset.n_test=32", "trainer.max_epochs=2", "evaluation.max_samples=16", "evaluation.sanity.max_samples=8",
        "evaluation.sanity.sensitivity_max_samples=4"]


def test_make_bench_sanity_runs_its_sweep_and_writes_the_readme_table(tmp_path):
    """The real target on a 2-job sweep: the jobs land in the fixed folder, the report is written and its table
    replaces the README block (the randomisation check of random and amplitude maps is 1 by construction)."""
    readme = tmp_path / "README.md"
    text = "# X\n\nkept\n\n<!-- bench:sanity -->\nold numbers\n<!-- /bench:sanity -->\n\nkept too\n"
    readme.write_text(text)
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path), "TSX_PROGRESS": "0"}
    cmd = ["make", "-s", "-o", ".venv/.installed", "bench-sanity", f"PY={sys.executable}",
           f"BENCH_ROOT={tmp_path / 'bench'}", f"BENCH_README={readme}", f"ARGS={' '.join(TINY)}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    jobs = sorted((tmp_path / "bench" / "sweeps" / "sanity" / "benchmark_sanity").glob("*/metrics.json"))
    assert len(jobs) == 2
    assert (tmp_path / "bench" / "sanity" / "report.md").is_file()
    assert (tmp_path / "bench" / "sanity" / "report.html").is_file()
    new = readme.read_text()
    assert "old numbers" not in new
    assert new.startswith("# X\n\nkept\n\n<!-- bench:sanity -->\n")
    assert new.endswith("<!-- /bench:sanity -->\n\nkept too\n")
    block = new.split("<!-- bench:sanity -->\n")[1].split("<!-- /bench:sanity -->")[0]
    assert "**benchmark_sanity**" in block and "2 runs, 0 skipped" in block
    header = next(line for line in block.splitlines() if line.startswith("| explainer"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols[:2] == ["explainer", "n"] and "explain/rand_spearman_all ↓" in cols
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in block.splitlines() if line.startswith("| ") and "Explainer" in line}
    assert set(rows) == {"AmplitudeExplainer", "RandomExplainer"}
    rho = cols.index("explain/rand_spearman_all ↓")
    assert all(r[rho].strip("*") == "1.000" for r in rows.values()), rows
    # bench-report rewrites the block from the same runs: nothing changes
    again = subprocess.run(["make", "-s", "-o", ".venv/.installed", "bench-report", f"PY={sys.executable}",
                            f"BENCH_ROOT={tmp_path / 'bench'}", f"BENCH_README={readme}"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "unchanged: the `sanity` block" in again.stdout
    assert readme.read_text() == new
