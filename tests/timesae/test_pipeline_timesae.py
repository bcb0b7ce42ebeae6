"""TimeSAE through `pipeline.run` on tiny FreqShapes: metrics, figures, checkpoints, reuse, TopK, OOD, DDP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tsexplain.pipeline import run

SAE = ["dataset=freqshapes", "model=transformer", "explainer=timesae", "explainer.max_epochs=1",
       "explainer.init_samples=64", "explainer.n_counterfactuals=8", "explainer.module.encoder.hidden=32",
       "explainer.module.encoder.n_blocks=1", "narrator=none", "evaluation.max_samples=16"]


def _out(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


def test_probe(make_cfg):
    import time
    t0 = time.time()
    cfg = make_cfg(SAE)
    run(cfg)
    print("RUN_S", time.time() - t0)
    out = _out(cfg)
    print(json.dumps(out, indent=1))
    import subprocess
    print(subprocess.run(["find", cfg.paths.output_dir], capture_output=True, text=True).stdout)
