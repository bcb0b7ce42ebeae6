"""The black-box cache (tsexplain.utils.model_cache): train once, explain many times, safe under concurrent jobs."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
import torch

from tsexplain.pipeline import cache_nodes, run
from tsexplain.utils.checkpoint import safe_load
from tsexplain.utils.model_cache import cache_key

pytestmark = pytest.mark.filterwarnings("ignore")
BB = ["model=transformer", "dataset=freqshapes", "dataset.n_train=64", "trainer.max_epochs=2", "n_figures=0",
      "evaluation.max_samples=16", "evaluation.sanity.enabled=false", "evaluation.reference_ig.max_samples=0",
      "evaluation.n_narratives=4", "narrator=none"]


def _cache(tmp_path: Path) -> list[str]:
    return ["blackbox_cache.enabled=true", f"blackbox_cache.dir={tmp_path / 'cache'}"]


def _info(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


def test_key_ignores_explainer_evaluation_and_run_folder_but_not_model_hparams(make_cfg):
    base = cache_key(cache_nodes(make_cfg(BB + ["explainer=integrated_gradients"], name="a")))
    for other in (["explainer=fusion", "evaluation.max_samples=3"], ["explainer=timesae", "narrator=template"],
                  ["explainer=dynamask", "explainer.n_epochs=7"]):
        # another folder too: output_dir differs
        assert cache_key(cache_nodes(make_cfg(BB + other, name="b"))) == base, other
    assert cache_key(cache_nodes(make_cfg(BB + ["model.lr=0.0123"]))) != base
    assert cache_key(cache_nodes(make_cfg(BB + ["seed=1"]))) != base
    assert cache_key(cache_nodes(make_cfg(BB + ["dataset.n_train=96"]))) != base
    assert cache_key(cache_nodes(make_cfg(BB + ["trainer.max_epochs=3"]))) != base


def test_hit_skips_training_and_reproduces_the_test_metrics(make_cfg, tmp_path):
    first = make_cfg(BB + _cache(tmp_path) + ["explainer=random"], name="first")
    run(first)
    second = make_cfg(BB + _cache(tmp_path) + ["explainer=amplitude"], name="second")
    run(second)
    a, b = _info(first), _info(second)
    assert a["info"]["blackbox_cache"] == "miss" and b["info"]["blackbox_cache"] == "hit"
    assert a["info"]["blackbox_cache_key"] == b["info"]["blackbox_cache_key"]  # explainers share the black box
    assert a["info"]["blackbox_train_steps"] >= 2 and b["info"]["blackbox_train_steps"] == 0
    # each job's wall time covers its black box's training (or lookup): the report's cost note splits them
    assert a["info"]["job_s"] > a["info"]["blackbox_train_s"] > 0 and b["info"]["job_s"] > b["info"]["blackbox_train_s"]
    assert a["info"]["torch_threads"] == torch.get_num_threads()  # what the run's numerics depended on
    for key, value in a["metrics"].items():
        if key.startswith(("test/", "val/")):
            assert b["metrics"][key] == pytest.approx(value), key
    entry = Path(b["info"]["best_checkpoint"])
    assert entry.parent == tmp_path / "cache" and entry.name == f"{a['info']['blackbox_cache_key']}.ckpt"
    assert json.loads(entry.with_suffix(".json").read_text())["material"]["model"]["lr"] == first.model.lr
    # a different model hyper-parameter is another black box: trained, not loaded
    third = make_cfg(BB + _cache(tmp_path) + ["explainer=random", "model.lr=0.0005"], name="third")
    run(third)
    assert _info(third)["info"]["blackbox_cache"] == "miss"
    assert _info(third)["info"]["blackbox_cache_key"] != a["info"]["blackbox_cache_key"]


def _job(cfg, queue) -> None:  # a forked child: one job of a sweep
    run(cfg)
    queue.put(_info(cfg)["info"])


def test_two_concurrent_jobs_train_once_and_publish_one_valid_file(make_cfg, tmp_path):
    cfgs = [make_cfg(BB + _cache(tmp_path) + ["explainer=none"], name=f"job{i}") for i in range(2)]
    ctx = mp.get_context("fork")  # the composed configs and imported torch carry over; spawn would re-import all
    queue = ctx.Queue()
    procs = [ctx.Process(target=_job, args=(cfg, queue)) for cfg in cfgs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    infos = [queue.get(timeout=5) for _ in procs]
    assert sorted(i["blackbox_cache"] for i in infos) == ["hit", "miss"]  # the second waited, then reused
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    key = infos[0]["blackbox_cache_key"]
    assert files == [f"{key}.ckpt", f"{key}.json", f"{key}.lock"]  # no temp file left behind
    state = safe_load(tmp_path / "cache" / f"{key}.ckpt", "cache entry")["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_corrupt_entry_is_set_aside_and_retrained(make_cfg, tmp_path):
    cfg = make_cfg(BB + _cache(tmp_path) + ["explainer=none"], name="corrupt")
    key = cache_key(cache_nodes(cfg))
    (tmp_path / "cache").mkdir()
    entry = tmp_path / "cache" / f"{key}.ckpt"
    entry.write_bytes(b"half a checkpoint, cut off by a full disk")
    run(cfg)
    info = _info(cfg)["info"]
    assert info["blackbox_cache"] == "miss" and info["blackbox_train_steps"] >= 2
    aside = Path(info["blackbox_cache_refused"])
    assert aside.read_bytes().startswith(b"half a checkpoint") and aside.name.startswith(f"{key}.ckpt.corrupt-")
    assert "state_dict" in safe_load(entry, "cache entry")  # the retrained entry replaced it
