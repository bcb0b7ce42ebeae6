"""Every dataset × model composes from the real configs and survives a fast_dev_run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tsexplain.pipeline import run
from tsexplain.utils.compose import PROJECT_CONF

ROOT = Path(__file__).resolve().parents[2]
CONF = PROJECT_CONF


def _targets(group: str, suffix: str) -> list[str]:
    """The options of a config group whose `_target_` ends with `suffix` (real datasets need files on disk and are
    tested with fixtures in tests/data/real; forecasters on forecasting data in tests/forecast)."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml")
                  if OmegaConf.load(p).get("_target_", "").endswith(suffix))


DATASETS = _targets("dataset", "SyntheticDataModule")
MODELS = _targets("model", "BlackBox")


def test_config_groups_are_populated():
    assert {"freqshapes", "seqcomb_uv", "seqcomb_mv", "lowvar"} <= set(DATASETS)
    assert {"resnet", "transformer2d", "resnet_tf", "transformer", "lstm", "dlinear", "patchtst",
            "itransformer"} <= set(MODELS)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("model", MODELS)
def test_fast_dev_run(make_cfg, dataset, model):
    cfg = make_cfg([f"dataset={dataset}", f"model={model}", "explainer=none", "debug=fast_dev_run",
                    "optimized_metric=null"])
    run(cfg)
    out = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["metrics"]
    assert 0.0 <= out["test/acc"] <= 1.0
    assert (Path(cfg.paths.output_dir) / "config_resolved.yaml").is_file()
