"""sweeps/*.yaml: every sweep composes with its jobs, benchmark jobs share black boxes, and a tiny sweep runs
(basic and submitit-local launchers) with the cache hitting."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import open_dict

from tsexplain.pipeline import cache_nodes
from tsexplain.utils.compose import PROJECT_CONF
from tsexplain.utils.model_cache import KEY_NODES, cache_key

pytestmark = pytest.mark.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]
SWEEPS = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))
ARMS = {"fusion_arm"}  # composed after a sweep, not one on its own
BENCHMARKS = {"benchmark_synthetic", "benchmark_synthetic_paper", "benchmark_real", "ablation_timesae",
              "noise_robustness"}


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(PROJECT_CONF), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def _grid(params) -> list[list[str]]:
    """Every job's overrides, expanded by Hydra's own override parser (as its basic sweeper does)."""
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    dims = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
            else [f"{o.get_key_element()}={o.get_value_element_as_str()}"] for o in parsed]
    return [list(job) for job in itertools.product(*dims)]


def test_the_issue_sweeps_exist_and_are_documented():
    assert BENCHMARKS | {"ablation_fusion", "ablation_fusion_cam", "benchmark_blackbox"} <= set(SWEEPS)
    readme = (ROOT / "sweeps" / "README.md").read_text()
    for name in SWEEPS:
        assert f"`{name}`" in readme, f"sweeps/README.md does not list {name}"


@pytest.mark.parametrize("name", sorted(set(SWEEPS) - ARMS))
def test_every_sweep_composes_with_its_jobs(name, tmp_path):
    cfg = _compose([f"sweep={name}"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    params = cfg.hydra.sweeper.params
    jobs = _grid(params)
    assert len(jobs) >= 2
    for job in (jobs[0], jobs[-1]):  # the first and last jobs compose as the sweeper builds them
        overrides = [f"sweep={name}", *job]
        job_cfg = _compose(overrides)
        for override in job:
            key, value = override.split("=", 1)
            if "/" not in key and "." not in key and key != "seed":  # a group choice
                assert job_cfg.hydra.runtime.choices[key] == value, override
        if name in BENCHMARKS:
            assert job_cfg.blackbox_cache.enabled, f"{name}: the black-box cache is off"


def test_benchmark_synthetic_grid_and_fusion_arm():
    cfg = _compose(["sweep=benchmark_synthetic"])
    jobs = _grid(cfg.hydra.sweeper.params)
    assert len(jobs) == 4 * 2 * 7 * 3
    dynamask = _compose(["sweep=benchmark_synthetic", f"{ARM}=dynamask"]).explainer
    assert dynamask._target_.endswith("Dynamask") and (dynamask.n_epochs, len(dynamask.areas)) == (50, 2)
    timex = _compose(["sweep=benchmark_synthetic", f"{ARM}=timex"]).explainer
    assert timex._target_.endswith("TimeXExplainer") and timex.max_epochs == 10
    assert _compose(["sweep=benchmark_synthetic_paper", f"{ARM}=timex"]).explainer.max_epochs == 50
    assert cfg.dataset.n_train == 1000 and cfg.evaluation.max_samples == 50  # the default (≈ 1 h) size
    arm = _compose(["sweep=[benchmark_synthetic,fusion_arm]"])
    assert arm.hydra.sweeper.params.model == "resnet_tf" and arm.hydra.sweeper.params[ARM] == "fusion"
    assert len(_grid(arm.hydra.sweeper.params)) == 12
    recipe = _compose(["model=transformer", "dataset=seqcomb_uv"])  # conf/model_dataset/: what the papers train
    small = _compose(["sweep=benchmark_synthetic", "model=transformer", "dataset=seqcomb_uv"])
    assert small.trainer.max_epochs == recipe.trainer.max_epochs and small.monitor == recipe.monitor
    paper = _compose(["sweep=benchmark_synthetic_paper", "model=transformer", "dataset=seqcomb_uv"])
    assert paper.dataset.n_train == 5000 and paper.evaluation.max_samples is None
    assert paper.trainer.max_epochs == recipe.trainer.max_epochs


def _is_blackbox_key(key: str) -> bool:
    """A swept key that changes the black box: one under a node the cache key hashes (dataset.name, trainer.…)."""
    return key.replace("/", ".").split(".")[0] in KEY_NODES


# ablation_timesae and benchmark_narrators inherit another sweep's params, so the key they add (explainer.module,
# narrator) is merged in last: the variants of one black box run one after the other (the cost: an idle worker
# while each black box trains; benchmark_narrators' are benchmark_explainers', already in the cache).
@pytest.mark.parametrize("name", sorted(set(SWEEPS) - ARMS - {"ablation_timesae", "benchmark_narrators"}))
def test_black_boxes_vary_fastest_so_no_job_waits_on_a_training(name):
    """Hydra's basic sweeper varies the last key fastest: with the explainer swept first, the first jobs of a sweep
    are distinct black boxes that train side by side under joblib/SLURM, and every later job loads one from the
    cache, instead of a second worker idling on the lock of the black box the first one is training."""
    params = _compose([f"sweep={name}"]).hydra.sweeper.params
    swept = [k for k, v in params.items() if "," in str(v)]
    blackbox = [k for k in swept if _is_blackbox_key(k)]
    if not blackbox:
        pytest.skip(f"{name} sweeps no black-box key")
    tail = swept[-len(blackbox):]
    assert tail == blackbox, f"{name}: sweep the explainer before {blackbox} (the black-box keys last)"


def test_explainers_of_a_sweep_share_one_black_box(tmp_path):
    """The jobs of benchmark_synthetic that differ only in the explainer have one cache key: one training."""

    def key(*overrides: str, sweep: str = "benchmark_synthetic") -> str:
        cfg = _compose([f"sweep={sweep}", "dataset=seqcomb_uv", "model=resnet_tf", *overrides])
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / "|".join(overrides))  # each job has its own folder
        return cache_key(cache_nodes(cfg))

    keys = {key(f"{ARM}={e}") for e in ("integrated_gradients", "timesae", "dynamask", "timex", "random")}
    keys.add(key("explainer=fusion", sweep="[benchmark_synthetic,fusion_arm]"))
    assert len(keys) == 1
    assert key(f"{ARM}=random", "seed=1") not in keys
    assert key(f"{ARM}=random", "model.lr=0.0001") not in keys


def test_ablation_timesae_switches_one_loss_off_per_job():
    cfg = _compose(["sweep=ablation_timesae"])
    modules = [o.split("=", 1)[1] for job in _grid(cfg.hydra.sweeper.params) for o in job
               if o.startswith("explainer.module=")]
    arms = list(dict.fromkeys(modules))  # in the sweep's order
    weights = [_compose(["sweep=ablation_timesae", f"{ARM}=timesae", f"explainer.module={a}"]).explainer.module
               for a in arms]
    off = [sorted(k for k in ("w_cc", "w_cf", "w_fid", "w_sparse") if w[k] == 0) for w in weights]
    assert off == [[], ["w_cc"], ["w_cf"], ["w_cc", "w_cf"], ["w_fid"]]
    assert all(w.encoder._target_.endswith("TCNSEEncoder") for w in weights)  # the rest of the module is kept


@pytest.mark.parametrize("launcher", ["joblib", "slurm"])
def test_launcher_configs_compose(launcher):
    pytest.importorskip({"joblib": "hydra_plugins.hydra_joblib_launcher",
                         "slurm": "hydra_plugins.hydra_submitit_launcher"}[launcher])
    cfg = _compose([f"hydra/launcher={launcher}", "trainer=ddp"])
    target = cfg.hydra.launcher._target_
    assert target.endswith({"joblib": "JoblibLauncher", "slurm": "SlurmLauncher"}[launcher])
    if launcher == "joblib":
        assert cfg.hydra.launcher.n_jobs == 2
    else:
        assert cfg.hydra.launcher.tasks_per_node == 1 and cfg.hydra.launcher.signal_delay_s > 0


ARM = "sweep/explainer_arm@_global_"  # benchmark_synthetic sweeps an explainer and its budget together
TINY_SWEEP = ["dataset=freqshapes", "model=transformer", "seed=0", f"{ARM}=random,amplitude",
              "dataset.n_train=64", "dataset.n_val=32", "dataset.n_test=32", "trainer.max_epochs=2",
              "evaluation.max_samples=16", "n_figures=0", "narrator=none"]


def _sweep(root: Path, *extra: str) -> list[dict]:
    env = {**os.environ, "PROJECT_ROOT": str(root), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "-m", "sweep=benchmark_synthetic", *TINY_SWEEP,
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = sorted((root / "logs" / "benchmark_synthetic" / "multiruns").glob("*/*/metrics.json"))
    return [json.loads(p.read_text()) for p in found]


def test_tiny_sweep_trains_once_and_the_second_explainer_hits(tmp_path):
    runs = _sweep(tmp_path)
    assert len(runs) == 2
    assert [r["info"]["blackbox_cache"] for r in runs] == ["miss", "hit"]  # jobs 0 and 1, in order
    assert runs[0]["info"]["blackbox_cache_key"] == runs[1]["info"]["blackbox_cache_key"]
    assert runs[1]["info"]["blackbox_train_steps"] == 0 < runs[0]["info"]["blackbox_train_steps"]
    assert runs[1]["metrics"]["test/acc"] == pytest.approx(runs[0]["metrics"]["test/acc"])
    assert len(list((tmp_path / "cache" / "blackboxes").glob("*.ckpt"))) == 1


def test_submitit_local_launcher_runs_a_two_job_sweep(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    runs = _sweep(tmp_path, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10")
    assert len(runs) == 2  # the two jobs ran (concurrently): one trained, the other waited on the lock, then loaded
    assert sorted(r["info"]["blackbox_cache"] for r in runs) == ["hit", "miss"]


def test_blackbox_paper_sweep_trains_the_published_schedules():
    cfg = _compose(["sweep=benchmark_blackbox_paper"])
    jobs = _grid(cfg.hydra.sweeper.params)
    assert len(jobs) == 4 * 3
    epochs = {}
    for job in jobs[::3]:  # one seed of each experiment
        job_cfg = _compose(["sweep=benchmark_blackbox_paper", *job])
        assert not job_cfg.explainer and job_cfg.dataset.batch_size == 64 and job_cfg.model.warmup_epochs == 0
        assert job_cfg.model.scheduler._target_.endswith("constant") and job_cfg.blackbox_cache.enabled
        epochs[job_cfg.dataset.name] = job_cfg.trainer.max_epochs
    assert epochs == {"freqshapes": 100, "seqcomb_uv": 200, "lowvar": 120, "seqcomb_mv": 1000}
