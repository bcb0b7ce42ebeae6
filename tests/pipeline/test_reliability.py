"""Issue 10: nothing lost, nothing run that should not be. A bad-input and a fault matrix, each case asserting the
exit code (or the exception a Hydra run turns into one), the message (the problem and the fix) and what the run
folder holds afterwards. Faults are real: pickle payloads, signals sent to the process, a diverging optimiser."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tsexplain.pipeline import run
from tsexplain.report.results import RunFolder, _atomic_write
from tsexplain.utils.checkpoint import CheckpointError, safe_load
from tsexplain.utils.guards import RunInterrupted, TrainingDiverged

ROOT = Path(__file__).resolve().parents[2]
BB = ["explainer=none", "model=resnet"]
RESULTS_FREE = ("metrics.json", "saliency.npz")


class _Payload:
    """Unpickling this runs `touch <marker>`: what a hostile checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious(path: Path, marker: Path, legacy: bool = False) -> Path:
    payload = {"state_dict": {"w": torch.zeros(1)}, "epoch": 0, "loops": {}, "optimizer_states": [],
               "hyper_parameters": _Payload(marker)}
    if legacy:  # a plain pickle, not torch's zip container
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    return path


def _cli(args: list[str], tmp_path: Path, data_cache: Path, tiny: list[str], run_dir: Path,
         wait_for: Path | None = None, send: int | None = None) -> subprocess.CompletedProcess | tuple[int, str]:
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    flags = [a for a in args if a.startswith("-")]  # Hydra wants -m before the overrides
    cmd = [sys.executable, str(ROOT / "run.py"), *flags, *tiny, *[a for a in args if a not in flags],
           f"hydra.run.dir={run_dir}",
           f"paths.data_dir={data_cache}"]
    if send is None:
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while not (wait_for and wait_for.exists()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, f"the run ended before the signal: {proc.communicate()[0][-3000:]}"
    proc.send_signal(send)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out


def _no_results(folder: Path) -> None:
    for name in RESULTS_FREE:
        assert not (folder / name).exists(), name


# ---------------------------------------------------------------------------------------------------------------
# Security: every checkpoint is read without executing code
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("legacy", [False, True], ids=["torch_zip", "plain_pickle"])
def test_pickle_payload_at_model_ckpt_path_never_runs(tmp_path, data_cache, tiny_overrides, legacy):
    marker = tmp_path / "PWNED"
    ckpt = _malicious(tmp_path / "evil.ckpt", marker, legacy)
    folder = tmp_path / "run"
    proc = _cli([*BB, f"model.ckpt_path={ckpt}"], tmp_path, data_cache, tiny_overrides, folder)
    assert not marker.exists(), "the checkpoint's payload ran"
    assert proc.returncode == 1
    failed = (folder / "FAILED").read_text()
    assert str(ckpt) in failed and "model.ckpt_path" in failed and "Fix:" in failed
    assert "weights_only=False" not in failed + proc.stderr  # never the advice to switch safety off
    assert "checks before training" in failed.splitlines()[0]
    _no_results(folder)
    assert not (folder / "checkpoints").exists()


@pytest.mark.parametrize("option", ["resume_from", "explainer.ckpt_path"])
def test_pickle_payload_at_resume_or_explainer_ckpt_refused_before_training(make_cfg, tmp_path, option):
    marker = tmp_path / "PWNED"
    ckpt = _malicious(tmp_path / "evil.ckpt", marker)
    extra = ["model=transformer", "explainer=timesae"] if option == "explainer.ckpt_path" else BB
    cfg = make_cfg([*extra, f"{option}={ckpt}"])
    with pytest.raises(CheckpointError, match=f"{option}={ckpt} was refused.*GLOBAL posix.system.*Fix:"):
        run(cfg)
    assert not marker.exists()
    folder = Path(cfg.paths.output_dir)
    assert "CheckpointError" in (folder / "FAILED").read_text()
    assert not (folder / "checkpoints").exists()  # nothing trained
    _no_results(folder)


def _foreign(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.ckpt"
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "truncated":
        full = tmp_path / "full.ckpt"
        torch.save({"state_dict": {"w": torch.randn(256, 256)}}, full)
        path.write_bytes(full.read_bytes()[:5000])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not_lightning":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "directory":
        path.mkdir()
    return path


@pytest.mark.parametrize(("kind", "match"), [
    ("random_bytes", "is not a PyTorch checkpoint"),
    ("truncated", "is not a readable PyTorch checkpoint.*truncated"),
    ("empty", "is not a readable PyTorch checkpoint"),
    ("not_lightning", r"not a Lightning checkpoint \(it lacks \['state_dict'\]; it holds \['weights'\]\)"),
    ("directory", "does not exist"),
    ("missing", "does not exist"),
])
def test_unreadable_or_foreign_checkpoint_named_with_fix(tmp_path, kind, match):
    path = tmp_path / "missing.ckpt" if kind == "missing" else _foreign(tmp_path, kind)
    with pytest.raises((CheckpointError, FileNotFoundError)) as err:
        safe_load(path, "model.ckpt_path")
    text = str(err.value)
    assert f"model.ckpt_path={path}" in text
    assert __import__("re").search(match, text), text
    assert "weights_only=False" not in text


def test_foreign_checkpoint_through_the_run_fails_before_training(make_cfg, tmp_path):
    cfg = make_cfg([*BB, f"model.ckpt_path={_foreign(tmp_path, 'truncated')}"])
    with pytest.raises(CheckpointError, match="truncated"):
        run(cfg)
    folder = Path(cfg.paths.output_dir)
    assert (folder / "FAILED").is_file() and not (folder / "checkpoints").exists()


@pytest.mark.parametrize("schedule", [["model/scheduler=cosine"], ["model/scheduler=onecycle",
                                                                      "model.warmup_epochs=1"],
                                      ["model/scheduler=cosine", "model.warmup_epochs=1"]],
                         ids=["cosine", "onecycle_warmup", "cosine_warmup"])
def test_own_checkpoints_load_safely_and_resume(make_cfg, schedule):
    """Every scheduler's checkpoint is weights-only loadable, and Lightning resumes from it with weights_only.
    OneCycle fixes its total steps from max_epochs, so it resumes only to the same max_epochs (checked: loads)."""
    sched = ["explainer=none", "model=transformer", *schedule]
    cfg = make_cfg([*sched, "trainer.max_epochs=1", "callbacks.early_stopping=null"], name="first")
    run(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert safe_load(last, "resume_from")["epoch"] == 0
    if "model/scheduler=onecycle" in schedule:
        return
    resumed = make_cfg([*sched, "trainer.max_epochs=2", "callbacks.early_stopping=null",
                        f"resume_from={last}"], name="resumed")
    run(resumed)
    assert safe_load(Path(resumed.paths.output_dir) / "checkpoints" / "last.ckpt")["epoch"] == 1


# ---------------------------------------------------------------------------------------------------------------
# Interruptions exit non-zero and leave FAILED, never metrics.json
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_during_training_exits_non_zero_with_failed(tmp_path, data_cache, tiny_overrides, signum, code):
    folder = tmp_path / "run"
    rc, out = _cli([*BB, "trainer.max_epochs=500", "callbacks.early_stopping=null"], tmp_path, data_cache,
                   tiny_overrides, folder, wait_for=folder / "checkpoints" / "last.ckpt", send=signum)
    assert rc == code, out[-3000:]
    failed = (folder / "FAILED").read_text()
    assert failed.startswith(f"RunInterrupted during training: interrupted by {signal.Signals(signum).name}")
    assert "resume_from=" in failed  # how to continue
    _no_results(folder)
    assert safe_load(folder / "checkpoints" / "last.ckpt")["epoch"] >= 0  # the last complete epoch is resumable
    assert not list(folder.rglob("*.tmp"))


def test_sigterm_during_an_optuna_sweep_exits_143(tmp_path, data_cache, tiny_overrides):
    sweep = tmp_path / "sweep"
    rc, out = _cli(["-m", "hparams_search=optuna_blackbox", "hydra.sweeper.n_trials=3", *BB,
                    "trainer.max_epochs=500", "callbacks.early_stopping=null", f"hydra.sweep.dir={sweep}"],
                   tmp_path, data_cache, tiny_overrides, tmp_path / "unused",
                   wait_for=sweep / "0" / "checkpoints" / "last.ckpt", send=signal.SIGTERM)
    assert rc == 143, out[-3000:]
    assert (sweep / "0" / "FAILED").read_text().startswith("RunInterrupted during training: interrupted by SIGTERM")
    assert not list(sweep.rglob("metrics.json"))


def test_a_failing_optuna_trial_is_recorded_and_the_search_goes_on(tmp_path, data_cache, tiny_overrides):
    """model.warmup_epochs < 0 is refused by the model: with the sampler's fixed seed, 2 of the 4 trials fail."""
    sweep = tmp_path / "sweep"
    proc = _cli(["-m", "hparams_search=optuna_blackbox", "hydra.sweeper.n_trials=4", "explainer=none",
                 "model=transformer", "model.warmup_epochs=interval(-1,1)", f"hydra.sweep.dir={sweep}"],
                tmp_path, data_cache, tiny_overrides, tmp_path / "unused")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))  # not .progress/
    failed = [t for t in trials if (t / "FAILED").is_file()]
    done = [t for t in trials if (t / "metrics.json").is_file()]
    assert len(trials) == 4 and failed and done and len(failed) + len(done) == 4
    assert all("warmup_epochs" in (t / "FAILED").read_text() for t in failed)
    assert "Failed experiment" in proc.stderr + proc.stdout
    best = __import__("yaml").safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_params"]["model.warmup_epochs"] >= 0


@pytest.mark.parametrize(("how", "code"), [("sigterm", 143), ("keyboard", 130)])
def test_interruption_during_explanation_leaves_failed(make_cfg, monkeypatch, how, code):
    from tsexplain.explain.captum_baselines import IntegratedGradients

    real = IntegratedGradients.attribute

    def attribute(self, x, target=None):
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises here, in the main thread
        else:
            raise KeyboardInterrupt
        return real(self, x, target)

    monkeypatch.setattr(IntegratedGradients, "attribute", attribute)  # the explainer is interrupted, not the pipeline
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    cfg = make_cfg(["model=resnet", "explainer=integrated_gradients", "narrator=none"])
    with pytest.raises(RunInterrupted) as err:
        run(cfg)
    assert err.value.code == code
    folder = Path(cfg.paths.output_dir)
    first = (folder / "FAILED").read_text().splitlines()[0]
    assert first.startswith("RunInterrupted during explanation: interrupted by SIG"), first
    _no_results(folder)
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # the run's handlers are gone again


# ---------------------------------------------------------------------------------------------------------------
# Divergence fails with the epoch and the metric, unless opted out
# ---------------------------------------------------------------------------------------------------------------

def test_diverging_training_fails_naming_epoch_and_metric(make_cfg):
    cfg = make_cfg([*BB, "model.lr=1e30", "trainer.max_epochs=3"])
    with pytest.raises(TrainingDiverged, match=r"training diverged: .*loss.* = (nan|inf|-inf) at epoch \d+.*"
                                                r"Fix: lower model.lr.*callbacks.finite_loss=null"):
        run(cfg)
    folder = Path(cfg.paths.output_dir)
    assert "TrainingDiverged during training" in (folder / "FAILED").read_text()
    _no_results(folder)


def test_divergence_check_can_be_opted_out(make_cfg):
    cfg = make_cfg([*BB, "model.lr=1e30", "trainer.max_epochs=2", "callbacks.finite_loss=null"])
    run(cfg)  # the user asked for it: the run completes and reports what it got
    assert (Path(cfg.paths.output_dir) / "metrics.json").is_file()


# ---------------------------------------------------------------------------------------------------------------
# Atomic writes: a partial file never carries a final name
# ---------------------------------------------------------------------------------------------------------------

def test_checkpoint_write_failing_midway_leaves_no_final_name(make_cfg, monkeypatch):
    import lightning as L

    def disk_full(self, filepath, weights_only=False, storage_options=None):
        Path(filepath).parent.mkdir(parents=True, exist_ok=True)
        Path(filepath).write_bytes(b"PK\x03\x04partial")  # what a full disk leaves: a few bytes
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(L.Trainer, "save_checkpoint", disk_full)
    cfg = make_cfg(BB)
    with pytest.raises(OSError, match="No space left"):
        run(cfg)
    folder = Path(cfg.paths.output_dir)
    assert not list(folder.rglob("*.ckpt")) and not list(folder.rglob("*.tmp"))
    assert "No space left" in (folder / "FAILED").read_text()
    _no_results(folder)


def test_atomic_write_failing_midway_leaves_nothing(tmp_path):
    target = tmp_path / "FAILED"
    with pytest.raises(TypeError):
        _atomic_write(target, object())  # write() raises after the temporary file was created
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# A folder holding an earlier run's results is refused (or moved aside on request)
# ---------------------------------------------------------------------------------------------------------------

def test_rerun_into_a_finished_run_folder_moves_it_aside_or_is_refused(tmp_path, data_cache, tiny_overrides):
    folder = tmp_path / "run"
    first = _cli(BB, tmp_path, data_cache, tiny_overrides, folder)
    assert first.returncode == 0, first.stderr[-3000:]
    before = (folder / "metrics.json").read_bytes()
    again = _cli(BB, tmp_path, data_cache, tiny_overrides, folder)  # default existing_results=move
    assert again.returncode == 0, again.stderr[-3000:]
    (moved,) = (folder / "previous").iterdir()
    assert (moved / "metrics.json").read_bytes() == before  # nothing lost
    assert (folder / "metrics.json").is_file() and (folder / "csv" / "metrics.csv").is_file()
    after = (folder / "metrics.json").read_bytes()
    refused = _cli([*BB, "existing_results=refuse"], tmp_path, data_cache, tiny_overrides, folder)
    assert refused.returncode == 1
    assert "already holds an earlier run's results" in refused.stderr
    assert "existing_results=move" in refused.stderr
    assert (folder / "metrics.json").read_bytes() == after  # untouched
    assert not (folder / "FAILED").exists()


def test_existing_results_move_keeps_the_old_run_aside(make_cfg):
    cfg = make_cfg(BB)
    run(cfg)
    folder = Path(cfg.paths.output_dir)
    old = json.loads((folder / "metrics.json").read_text())
    again = make_cfg([*BB, "seed=1"])  # existing_results=move is the default
    run(again)  # no CSVLogger "dict contains fields not in fieldnames" crash: csv/ was moved too
    (moved,) = (folder / "previous").iterdir()
    assert json.loads((moved / "metrics.json").read_text()) == old
    assert (moved / "checkpoints" / "last.ckpt").is_file() and (moved / "csv").is_dir()
    assert (folder / "metrics.json").is_file() and not (folder / "FAILED").exists()


def test_move_refused_when_the_run_reads_from_the_old_results(make_cfg):
    cfg = make_cfg([*BB, "callbacks.early_stopping=null"])
    run(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    again = make_cfg([*BB, "existing_results=move", f"resume_from={last}", "trainer.max_epochs=2"])
    with pytest.raises(FileExistsError, match="reads .*last.ckpt from among them"):
        run(again)
    assert last.is_file()


def test_failed_run_folder_is_refused_too(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "FAILED").write_text("earlier failure")
    with pytest.raises(FileExistsError, match=r"FAILED.*new folder"):
        RunFolder(folder)
    (folder / "FAILED").unlink()
    (folder / ".hydra").mkdir()  # Hydra's own files are not results
    RunFolder(folder)


# ---------------------------------------------------------------------------------------------------------------
# Options the run will need are checked before anything trains
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "match"), [
    (["trainer.max_epochs=abc"], r"trainer.max_epochs='abc' must be a whole number"),
    (["trainer.max_epochs=2.5"], r"trainer.max_epochs=2.5 must be a whole number"),
    (["trainer.check_val_every_n_epoch=0"], r"check_val_every_n_epoch=0 is out of range"),
    (["model=transformer", "explainer=timesae", "explainer.ckpt_path=/no/such.ckpt"],
     r"explainer.ckpt_path=/no/such.ckpt does not exist"),
    (["resume_from=/no/such/last.ckpt"], r"resume_from=/no/such/last.ckpt does not exist"),
])
def test_bad_option_fails_before_training(make_cfg, overrides, match):
    cfg = make_cfg([*BB, *overrides])
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        run(cfg)
    folder = Path(cfg.paths.output_dir)
    assert "during checks before training" in (folder / "FAILED").read_text().splitlines()[0]
    assert not (folder / "checkpoints").exists() and not (folder / "csv").exists()


# ---------------------------------------------------------------------------------------------------------------
# Data: unreadable files and values the model would see as NaN/inf
# ---------------------------------------------------------------------------------------------------------------

def _good_npz(path: Path, x: np.ndarray | None = None) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2, 24)).astype(np.float32) if x is None else x
    np.savez(path, x=x, y=np.arange(60) % 3)
    return path


def _bad_npz(tmp_path: Path, kind: str) -> Path:
    good = _good_npz(tmp_path / "good.npz")
    path = tmp_path / f"{kind}.npz"
    if kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "random_bytes":
        path.write_bytes(np.random.default_rng(1).bytes(2048))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros((60, 2, 24)))
    elif kind == "overflow_after_cast":  # finite as float64, inf as the float32 the model receives
        x = np.random.default_rng(0).normal(size=(60, 2, 24))
        x[5, 1, 7] = 1e300
        _good_npz(path, x)
    return path


@pytest.mark.parametrize(("kind", "match"), [
    ("truncated", r"is truncated or corrupted, not a readable \.npz \(BadZipFile"),
    ("random_bytes", r"is not a \.npz file \(starts with bytes"),
    ("empty", r"is not a \.npz file \(empty\)"),
    ("npy", r"is a \.npy file \(one array\), not a \.npz archive"),
    ("overflow_after_cast", r"finite in the file \(dtype float64\) but 1 value\(s\) are NaN/inf as the model "
                            r"receives it \(float32 and standardised per channel\), the first at index \(\d+, 1, 7\)"),
])
def test_bad_data_file_named_with_fix_before_training(make_cfg, tmp_path, kind, match):
    path = _bad_npz(tmp_path, kind)
    cfg = make_cfg(["dataset=npz", f"dataset.path={path}", "explainer=none"])
    with pytest.raises(ValueError, match=match) as err:
        run(cfg)
    assert str(path) in str(err.value) or kind == "overflow_after_cast"
    assert "np.savez" in str(err.value) or "Rescale" in str(err.value)  # the fix
    folder = Path(cfg.paths.output_dir)
    assert (folder / "FAILED").read_text().startswith("DataValidationError during data preparation")
    assert not (folder / "checkpoints").exists()
    _no_results(folder)


def test_synthetic_split_outside_the_generated_ones_is_refused(make_cfg):
    cfg = make_cfg([*BB, "dataset.split=5"])
    with pytest.raises(Exception, match=r"dataset.split=5 is outside the 5 generated splits .*0–4"):
        run(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


@pytest.mark.parametrize(("arrays", "match"), [
    ({"y": np.zeros(60, dtype=int)}, r"y holds a single class \(0\) in all 60 samples.*at least 2 classes"),
    ({"x": np.random.default_rng(0).normal(size=(60, 2, 1)).astype(np.float32)},
     r"T=1 time step\(s\); every model here needs at least 2"),
    ({"class_names": np.array(["a", "b"])}, r"y has labels in \[0, 2\], outside \[0, 2\); relabel"),
    ({"channel_names": np.array(["a", "b", "c"])}, r"3 channel names given for 2 channels"),
])
def test_degenerate_data_gets_our_message_before_training(make_cfg, tmp_path, arrays, match):
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(60, 2, 24)).astype(np.float32), "y": np.arange(60) % 3, **arrays}
    np.savez(tmp_path / "d.npz", **data)
    cfg = make_cfg(["dataset=npz", f"dataset.path={tmp_path / 'd.npz'}", *BB])
    with pytest.raises(Exception, match=match):
        run(cfg)
    folder = Path(cfg.paths.output_dir)
    assert (folder / "FAILED").is_file() and not (folder / "checkpoints").exists()
    _no_results(folder)


# ---------------------------------------------------------------------------------------------------------------
# Resume reproduces the uninterrupted run
# ---------------------------------------------------------------------------------------------------------------

def test_resume_reproduces_the_uninterrupted_run_on_cpu(make_cfg):
    """Epoch-indexed shuffle (EpochSampler) + RNG states in the checkpoint (RngState): a training resumed from
    epoch 0 ends with exactly the metrics of the uninterrupted one (transformer: dropout; 60 samples: the last
    batch is partial). No monitor: both runs test their last epoch's weights (with val/f1 tied at chance over
    3 epochs the kept "best" is whichever tied epoch each run saw first, which says nothing about resuming)."""
    common = ["explainer=none", "model=transformer", "dataset.n_train=60", "dataset.batch_size=16",
              "trainer.max_epochs=3", "callbacks.early_stopping=null", "+callbacks.model_checkpoint.save_top_k=-1",
              "callbacks.model_checkpoint.monitor=null"]
    whole = make_cfg(common, name="whole")
    run(whole)
    epoch0 = Path(whole.paths.output_dir) / "checkpoints" / "epoch_000.ckpt"
    resumed = make_cfg([*common, f"resume_from={epoch0}"], name="resumed")
    run(resumed)
    got = json.loads((Path(resumed.paths.output_dir) / "metrics.json").read_text())["metrics"]
    want = json.loads((Path(whole.paths.output_dir) / "metrics.json").read_text())["metrics"]
    assert got == want


def test_data_cache_files_follow_the_umask_not_0600(tmp_path):
    from tsexplain.data.cache import cached

    old = os.umask(0o002)  # a group-shared cache
    try:
        cached(lambda: {"a": np.zeros(3)}, {"k": 1}, tmp_path, prefix="t")
    finally:
        os.umask(old)
    (path,) = tmp_path.glob("t_*.npz")
    assert path.stat().st_mode & 0o777 == 0o664
