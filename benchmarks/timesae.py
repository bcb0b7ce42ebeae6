"""Issue-4 benchmark: TimeSAE (JumpReLU, TopK) and its ablations vs integrated gradients and the amplitude
baseline on the `transformer` black box, four synthetic datasets, 3 seeds; TimeX's published numbers beside.

    make bench-timesae           # or: python benchmarks/timesae.py [--seeds 0 1 2] [--datasets ...]
"""

from __future__ import annotations

import argparse

from common import BLACKBOX_COL, ROOT, best_ckpt, blackbox, blackbox_cell, blackbox_f1, run_job, slug, table

EXPLAINERS = {
    "TimeSAE JumpReLU": ["explainer=timesae"],
    "TimeSAE TopK": ["explainer=timesae_topk"],
    "JumpReLU w/o L_cc": ["explainer=timesae", "explainer.module.w_cc=0"],
    "JumpReLU w/o L_cf": ["explainer=timesae", "explainer.module.w_cf=0"],
    "JumpReLU w/o both": ["explainer=timesae", "explainer.module.w_cc=0", "explainer.module.w_cf=0"],
    "integrated_gradients": ["explainer=integrated_gradients"],
    "amplitude |x−median|": ["explainer=amplitude"],
}
# TimeX paper (arXiv 2306.02109) Tables 1–2, transformer black box: AUPRC / AUP / AUR.
PUBLISHED = {
    "freqshapes": {"IG": ".752/.691/.598", "TimeX": ".832/.722/.638"},
    "seqcomb_uv": {"IG": ".576/.816/.287", "TimeX": ".712/.941/.338"},
    "seqcomb_mv": {"IG": ".330/.748/.258", "TimeX": ".688/.833/.387"},
    "lowvar": {"IG": ".869/.483/.817", "TimeX": ".867/.545/.900"},
}
COLS = ["dataset", "explainer", "seeds", "AUPRC", "AUP", "AUR", "F_x", "label fidelity", "dead frac", "L0",
        "deletion drop@20%", "ms / instance", "fit s", BLACKBOX_COL]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="+", default=["freqshapes", "seqcomb_uv", "seqcomb_mv", "lowvar"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--explainers", nargs="+", default=list(EXPLAINERS))
    p.add_argument("--ablation-seeds", nargs="+", type=int, default=[0, 1, 2],
                   help="seeds for the w/o L_cc / L_cf rows (each is a full TimeSAE training)")
    p.add_argument("--max-samples", type=int, default=500)
    args = p.parse_args()
    per: dict[tuple[str, str], list[dict]] = {}
    bb_f1: dict[tuple[str, str], list[float | None]] = {}  # the explained black boxes' test F1, per row
    for seed in args.seeds:  # seed-major: every dataset × explainer cell gets a first seed early
        for dataset in args.datasets:
            bb = blackbox(dataset, "transformer", seed)
            ckpt = best_ckpt(bb)
            if ckpt is None:
                continue
            base = [f"dataset={dataset}", "model=transformer", f"seed={seed}", f"model.ckpt_path={ckpt}",
                    f"evaluation.max_samples={args.max_samples}", "task_name=bench", "narrator=none"]
            for name in args.explainers:
                if name.startswith("JumpReLU w/o") and seed not in args.ablation_seeds:
                    continue
                result = run_job(f"sae_{dataset}_s{seed}_{slug(name)}", base + EXPLAINERS[name])
                if result is not None:
                    per.setdefault((dataset, name), []).append(result["metrics"])
                    bb_f1.setdefault((dataset, name), []).append(blackbox_f1(bb))
    rows = []
    for dataset in args.datasets:
        for name in args.explainers:
            ms = per.get((dataset, name), [])
            rows.append({"dataset": dataset, "explainer": name, "seeds": len(ms),
                         BLACKBOX_COL: blackbox_cell(bb_f1.get((dataset, name), [])),
                         **{col: [m.get(key) for m in ms] for col, key in (
                             ("AUPRC", "explain/auprc"), ("AUP", "explain/aup"), ("AUR", "explain/aur"),
                             ("F_x", "explain/faithfulness_fx"), ("label fidelity", "explain/label_fidelity"),
                             ("dead frac", "explain/dead_fraction"), ("L0", "explain/l0"),
                             ("deletion drop@20%", "explain/del_drop20"),
                             ("ms / instance", "explain/ms_per_instance"), ("fit s", "explain/fit_s"))}})
        for method, value in PUBLISHED[dataset].items():
            rows.append({"dataset": dataset, "explainer": f"{method} (TimeX paper, AUPRC/AUP/AUR)", "AUPRC": value})
    md = table(rows, COLS)
    (ROOT / "bench_results" / "timesae.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
