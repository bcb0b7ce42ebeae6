"""TimeSAE benchmark: TimeSAE JumpReLU / TopK (the default `effect` map and the model-blind `footprint` map of
the same fit), its loss ablations, integrated gradients, amplitude and random, on trained black boxes of the
four synthetic datasets; the TimeX paper's published numbers beside.

    make bench-timesae           # or: python -m benchmarks.timesae [--models ...] [--seeds 0 1 2] [--datasets ...]

A TimeSAE fit that fails its health gate (a collapse) is counted in the `collapsed` column and never scored.
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.common import (
    BLACKBOX_COL,
    ONLY_FINISHED,
    ROOT,
    best_ckpt,
    blackbox,
    blackbox_cell,
    blackbox_f1,
    run_explainer_job,
    slug,
    table,
)

SAE = {
    "TimeSAE JumpReLU": ["explainer=timesae"],
    "TimeSAE TopK": ["explainer=timesae_topk"],
}
ABLATIONS = {
    "JumpReLU w/o L_cc": ["explainer=timesae", "explainer.module.w_cc=0"],
    "JumpReLU w/o L_cf": ["explainer=timesae", "explainer.module.w_cf=0"],
    "JumpReLU w/o L_fid": ["explainer=timesae", "explainer.module.w_fid=0"],
    "JumpReLU w/o L_cc, L_cf, L_fid": ["explainer=timesae", "explainer.module.w_cc=0", "explainer.module.w_cf=0",
                                       "explainer.module.w_fid=0"],
}
BASELINES = {
    "integrated_gradients": ["explainer=integrated_gradients"],
    "amplitude |x−median|": ["explainer=amplitude"],
    "random": ["explainer=random"],
}
# TimeX paper (arXiv 2306.02109) Tables 1–2, transformer black box: AUPRC / AUP / AUR.
PUBLISHED = {
    "freqshapes": {"IG": ".752/.691/.598", "TimeX": ".832/.722/.638"},
    "seqcomb_uv": {"IG": ".576/.816/.287", "TimeX": ".712/.941/.338"},
    "seqcomb_mv": {"IG": ".330/.748/.258", "TimeX": ".688/.833/.387"},
    "lowvar": {"IG": ".869/.483/.817", "TimeX": ".867/.545/.900"},
}
SCORES = (("AUPRC", "auprc"), ("AUP", "aup"), ("AUR", "aur"), ("del drop@20%", "del_drop20"),
          ("rand ρ", "rand_spearman_all"), ("infidelity", "infidelity"))
SAE_STATS = (("F_x", "explain/faithfulness_fx"), ("label fid.", "explain/label_fidelity"), ("FVU", "explain/fvu"),
             ("L0", "explain/l0"), ("dead frac", "explain/dead_fraction"), ("fit s", "explain/fit_s"))
COLS = ["dataset", "model", "explainer", "seeds", "collapsed", *[c for c, _ in SCORES], "ms / instance",
        *[c for c, _ in SAE_STATS], BLACKBOX_COL]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="+", default=["freqshapes", "seqcomb_uv", "seqcomb_mv", "lowvar"])
    p.add_argument("--models", nargs="+", default=["resnet_tf", "transformer"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--ablation-seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--ablation-datasets", nargs="+", default=["freqshapes", "seqcomb_uv"])
    p.add_argument("--max-samples", type=int, default=500)
    args = p.parse_args()
    methods = {**SAE, **ABLATIONS, **BASELINES}
    per: dict[tuple, list] = {}
    for seed in args.seeds:  # seed-major: every cell gets a first seed early
        for dataset in args.datasets:
            for model in args.models:
                bb = blackbox(dataset, model, seed)
                ckpt = best_ckpt(bb)
                if ckpt is None:
                    continue
                base = [f"dataset={dataset}", f"model={model}", f"seed={seed}", f"model.ckpt_path={ckpt}",
                        f"evaluation.max_samples={args.max_samples}", "task_name=bench", "narrator=none"]
                for name, ov in methods.items():
                    if name in ABLATIONS and (seed not in args.ablation_seeds or dataset not in args.ablation_datasets):
                        continue
                    result = run_explainer_job(f"sae_{model}_{dataset}_s{seed}_{slug(name)}", base + ov)
                    if result is not None:
                        per.setdefault((dataset, model, name), []).append((result, blackbox_f1(bb)))
    rows = []
    for dataset in args.datasets:
        for model in args.models:
            for name in methods:
                runs = per.get((dataset, model, name), [])
                ok = [r["metrics"] for r, _ in runs if r != "collapsed"]
                collapsed = sum(r == "collapsed" for r, _ in runs)
                readings = [("effect", "explain"), ("footprint", "explain_footprint")] if name in SAE else [
                    ("", "explain")]
                if not runs:  # never run (or not finished): no row, rather than a row of dashes
                    continue
                for reading, prefix in readings:
                    timing = [m.get("explain/ms_per_instance") for m in ok] if prefix == "explain" else "–"
                    row = {"dataset": dataset, "model": model, "seeds": len(ok),
                           "collapsed": f"{collapsed}/{len(runs)}",
                           "explainer": f"{name} ({reading})" if reading else name,
                           BLACKBOX_COL: blackbox_cell([f for _, f in runs]), "ms / instance": timing}
                    for col, key in SCORES:
                        row[col] = [m.get(f"{prefix}/{key}") for m in ok]
                    if name in SAE or name in ABLATIONS:
                        for col, key in SAE_STATS:
                            row[col] = [m.get(key) for m in ok]
                    rows.append(row)
        for method, value in PUBLISHED[dataset].items():
            rows.append({"dataset": dataset, "model": "transformer (paper)", "explainer": f"{method} (TimeX paper, "
                         "AUPRC/AUP/AUR)", "AUPRC": value})
    md = table(rows, COLS)
    (ROOT / "bench_results" / "timesae.md").write_text(md + "\n")
    print(md)
    if not ONLY_FINISHED and not per:
        sys.exit("no benchmark job ran")


if __name__ == "__main__":
    main()
