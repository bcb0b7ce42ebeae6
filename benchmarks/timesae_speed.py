"""Amortised speed: TimeSAE's default map vs integrated gradients (50 steps) on the same trained black box, the same
samples and the same attribution batch size, one intra-op thread, after a warm-up call.

    python benchmarks/timesae_speed.py bench_results/sweeps/timesae [--out bench_results/timesae_speed.md]
        [--readme README.md --marker timesae_speed]        # make bench-timesae runs it after its sweeps

Kept outside the sweeps on purpose: a sweep job times its own explainer alone (`explain/ms_per_instance`), in its
own process, under whatever else the machine runs at that moment, at that explainer's batch size. This script
times the two explainers back to back in one process on one black box, the same 128 test samples and TimeSAE's
batch size, which is what the speed-up column claims. It reads the seed-0 TimeSAE runs of the sweeps under the
folder (their resolved config, the black box of `info.best_checkpoint` and the fit of `info.explainer_checkpoint`),
so it starts no training.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tsexplain.report.collect import collect
from tsexplain.report.grouping import label
from tsexplain.report.readme import update_readme
from tsexplain.training import load_blackbox_weights

N = 128
# conf/explainer/integrated_gradients.yaml (the batch size is set to TimeSAE's)
IG = {"_target_": "tsexplain.explain.captum_baselines.IntegratedGradients", "n_steps": 50, "baseline": 0.0,
      "internal_batch_size": None, "sign": "abs"}


def per_instance_ms(explainer, x: torch.Tensor, t: torch.Tensor, repeats: int = 1) -> float:
    explainer.attribute(x[:8], t[:8])
    t0 = time.perf_counter()
    for _ in range(repeats):
        explainer.attribute(x, t)
    return (time.perf_counter() - t0) / repeats / len(x) * 1000


def table(rows: list[dict], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path, help="a folder of sweeps holding TimeSAE runs (bench_results/sweeps/timesae)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--readme", type=Path, default=None)
    p.add_argument("--marker", default="timesae_speed")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs, _ = collect(args.root, progress=False)
    rows = []
    for run in sorted(runs, key=lambda r: (label(r, "model"), label(r, "dataset"), str(r.path))):
        explainer = run.cfg.get("explainer") or {}
        if not str(explainer.get("_target_", "")).endswith("TimeSAEExplainer") or str(run.cfg.get("seed")) != "0":
            continue
        info = json.loads((run.path / "metrics.json").read_text())["info"]
        if run.cfg.get("task_name") == "ablation_timesae" or not info.get("explainer_checkpoint"):
            continue
        cfg = OmegaConf.create(run.cfg)
        data = instantiate(cfg.dataset)
        data.prepare_data()
        data.setup("fit")
        bb = load_blackbox_weights(instantiate(cfg.model, meta=data.meta), info["best_checkpoint"], "best checkpoint")
        x = data.split_arrays("test")["x"][:N]
        with torch.no_grad():
            t = bb(x).argmax(-1)
        sae_cfg = copy.deepcopy(cfg.explainer)
        sae_cfg.ckpt_path = info["explainer_checkpoint"]
        sae = instantiate(sae_cfg).fit(bb, None)
        ig = instantiate({**IG, "batch_size": sae.batch_size}).fit(bb, None)
        ms_sae, ms_ig = per_instance_ms(sae, x, t), per_instance_ms(ig, x, t)
        sparsity = str(cfg.explainer.module.sparsity._target_).rsplit(".", 1)[-1]
        rows.append({"dataset": label(run, "dataset"), "model": label(run, "model"), "explainer": f"TimeSAE {sparsity}",
                     "batch": sae.batch_size, "TimeSAE ms": f"{ms_sae:.2f}", "IG-50 ms": f"{ms_ig:.2f}",
                     "speed-up": f"{ms_ig / ms_sae:.1f}×"})
        print(rows[-1], flush=True)
    if not rows:
        raise SystemExit(f"no finished seed-0 TimeSAE run with an explainer checkpoint under {args.root}")
    md = table(rows, ["dataset", "model", "explainer", "batch", "TimeSAE ms", "IG-50 ms", "speed-up"])
    print(md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(md + "\n")
    if args.readme:
        update_readme(args.readme, args.marker, md)
    return md


if __name__ == "__main__":
    main()
