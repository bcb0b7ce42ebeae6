"""Issue-3 benchmark: Grad-CAM, rollout, fusion strategies, IG, amplitude and random on the resnet_tf black
box (FreqShapes, SeqComb-UV; 3 seeds): AUPRC/AUP/AUR, deletion drop at 20 %, ms per instance, and BLEU-4 /
ROUGE-L of template vs T5 narratives.

    make bench-explainers        # or: python benchmarks/explainers.py [--seeds 0 1 2] [--max-samples 1000]
"""

from __future__ import annotations

import argparse

from common import ROOT, best_ckpt, blackbox, run_job, slug, table

EXPLAINERS = {
    "gradcam": ["explainer=gradcam"],
    "rollout": ["explainer=rollout"],
    "fusion multiply (dtw)": ["explainer=fusion", "explainer.fusion=multiply"],
    "fusion multiply (no align)": ["explainer=fusion", "explainer.fusion=multiply", "explainer.align=none"],
    "fusion mean": ["explainer=fusion", "explainer.fusion=mean"],
    "fusion weighted α=0.5": ["explainer=fusion", "explainer.fusion=weighted"],
    "fusion max": ["explainer=fusion", "explainer.fusion=max"],
    "fusion geometric": ["explainer=fusion", "explainer.fusion=geometric"],
    "fusion concat": ["explainer=fusion", "explainer.fusion=concat"],
    "fusion learned": ["explainer=fusion", "explainer.fusion=learned"],
    "integrated_gradients": ["explainer=integrated_gradients"],
    "amplitude |x−median|": ["explainer=amplitude"],
    "random": ["explainer=random"],
}
NARRATORS = {"template": ["narrator=template"], "t5": ["narrator=t5"]}
COLS = ["dataset", "explainer", "seeds", "AUPRC", "AUP", "AUR", "pooled AUPRC", "deletion drop@20%", "deletion AUC",
        "ms / instance"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="+", default=["freqshapes", "seqcomb_uv"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--explainers", nargs="+", default=list(EXPLAINERS))
    p.add_argument("--max-samples", type=int, default=500)
    args = p.parse_args()
    per: dict[tuple[str, str], list[dict]] = {}
    texts: dict[tuple[str, str], list[dict]] = {}
    for seed in args.seeds:  # seed-major: every dataset × explainer cell gets a first seed early
        for dataset in args.datasets:
            ckpt = best_ckpt(blackbox(dataset, "resnet_tf", seed))
            if ckpt is None:
                continue
            base = [f"dataset={dataset}", "model=resnet_tf", f"seed={seed}", f"model.ckpt_path={ckpt}",
                    f"evaluation.max_samples={args.max_samples}", "task_name=bench", "narrator=none"]
            for name in args.explainers:
                tag = slug(name.split(" (")[0]) + ("_noalign" if "no align" in name else "")
                result = run_job(f"ex_{dataset}_s{seed}_{tag}", base + EXPLAINERS[name])
                if result is not None:
                    per.setdefault((dataset, name), []).append(result["metrics"])
            for nname, over in NARRATORS.items():
                res = run_job(f"nar_{dataset}_s{seed}_{nname}", base[:-1] + ["explainer=fusion", *over])
                if res is not None:
                    texts.setdefault((dataset, nname), []).append(res["metrics"])
    rows, text_rows = [], []
    for dataset in args.datasets:
        for name in args.explainers:
            ms = per.get((dataset, name), [])
            rows.append({"dataset": dataset, "explainer": name, "seeds": len(ms),
                         "AUPRC": [m.get("explain/auprc") for m in ms], "AUP": [m.get("explain/aup") for m in ms],
                         "AUR": [m.get("explain/aur") for m in ms],
                         "pooled AUPRC": [m.get("explain/pooled_auprc") for m in ms],
                         "deletion drop@20%": [m.get("explain/del_drop20") for m in ms],
                         "deletion AUC": [m.get("explain/del_auc") for m in ms],
                         "ms / instance": [m.get("explain/ms_per_instance") for m in ms]})
        for nname in NARRATORS:
            ms = texts.get((dataset, nname), [])
            text_rows.append({"dataset": dataset, "narrator": nname, "seeds": len(ms),
                              "BLEU-4": [m.get("narrate/bleu4") for m in ms],
                              "ROUGE-L": [m.get("narrate/rougeL_f") for m in ms],
                              "T5 fallback rate": [m.get("narrate/fallback_rate") for m in ms]})
    md = table(rows, COLS) + "\n\n" + table(text_rows, ["dataset", "narrator", "seeds", "BLEU-4", "ROUGE-L",
                                                           "T5 fallback rate"])
    (ROOT / "bench_results" / "explainers.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
