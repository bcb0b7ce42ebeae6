"""The configs ship inside the package: `python -m tsexplain` composes a run from any folder, like run.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tsexplain.utils.compose import PROJECT_CONF

ROOT = Path(__file__).resolve().parents[2]


def _job_config(cmd: list[str], cwd: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROJECT_ROOT": str(cwd)}
    proc = subprocess.run([*cmd, "--cfg", "job", "dataset=ucr", "model=resnet"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return yaml.safe_load(proc.stdout)


def test_python_m_tsexplain_composes_from_the_package_outside_a_checkout(tmp_path):
    assert PROJECT_CONF.parent.name == "tsexplain" and (PROJECT_CONF / "config.yaml").is_file()
    cfg = _job_config([sys.executable, "-m", "tsexplain"], tmp_path)
    assert cfg["dataset"]["_target_"] == "tsexplain.data.real.ucr.UCRDataModule"
    assert cfg["dataset"]["batch_size"] == 16  # conf/model_dataset/resnet_ucr.yaml applied: the whole tree is found


def test_run_py_is_the_same_app(tmp_path):
    assert _job_config([sys.executable, str(ROOT / "run.py")], tmp_path) == _job_config(
        [sys.executable, "-m", "tsexplain"], tmp_path)
