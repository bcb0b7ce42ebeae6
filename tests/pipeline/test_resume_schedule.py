"""Resuming a OneCycle training to another trainer.max_epochs is refused before the first step (torch's OneCycleLR
would raise mid-training once it steps past the length it fixed), with the problem and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsexplain.pipeline import run
from tsexplain.utils.checkpoint import safe_load

ONECYCLE = ["explainer=none", "model=transformer", "model/scheduler=onecycle", "callbacks.early_stopping=null"]


def test_onecycle_resume_to_more_epochs_fails_before_training(make_cfg):
    first = make_cfg([*ONECYCLE, "trainer.max_epochs=1"], name="first")
    run(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert safe_load(last)["lr_schedulers"][0]["total_steps"] == 2  # 64 samples / batch 32, one epoch
    resumed = make_cfg([*ONECYCLE, "trainer.max_epochs=3", f"resume_from={last}"], name="resumed")
    with pytest.raises(ValueError, match=r"OneCycle schedule spans 2 steps, but this run has 6 \(trainer.max_epochs=3"
                                         r"\).*Fix: resume with the first run's trainer.max_epochs"):
        run(resumed)
    folder = Path(resumed.paths.output_dir)
    assert "ValueError during training" in (folder / "FAILED").read_text()
    assert not (folder / "metrics.json").exists()
    assert not list(folder.glob("checkpoints/*.ckpt"))  # refused before the first step: nothing trained
