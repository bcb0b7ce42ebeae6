"""Issue-3 benchmark: Grad-CAM, rollout, fusion strategies, IG, amplitude and random on the resnet_tf black
box (FreqShapes, SeqComb-UV; 3 seeds): AUPRC/AUP/AUR, deletion drop at 20 %, ms per instance, and BLEU-4 /
ROUGE-L of template vs T5 narratives. Issue 8: the fusion default and the CAM-variant × layer ablation rows
(`--explainers "fusion default" "fusion no-align hirescam layer3" ...`).

    make bench-explainers        # or: python -m benchmarks.explainers [--seeds 0 1 2] [--max-samples 1000]
"""

from __future__ import annotations

import argparse

from benchmarks.common import BLACKBOX_COL, ROOT, best_ckpt, blackbox, blackbox_cell, blackbox_f1, run_job, slug, table

# The strategy rows keep the paper's recipe (DTW, Grad-CAM on layer4: experiment=fusion_paper) they were measured
# with; "fusion default" is explainer=fusion as shipped (chosen by the CAM rows below).
PAPER = ["experiment=fusion_paper"]
EXPLAINERS = {
    "gradcam": ["explainer=gradcam"],
    "rollout": ["explainer=rollout"],
    "fusion multiply (dtw)": [*PAPER, "explainer/fusion_strategy=multiply"],
    "fusion multiply (no align)": [*PAPER, "explainer/fusion_strategy=multiply", "explainer.align=none"],
    "fusion mean": [*PAPER, "explainer/fusion_strategy=mean"],
    "fusion weighted α=0.5": [*PAPER, "explainer/fusion_strategy=weighted"],
    "fusion max": [*PAPER, "explainer/fusion_strategy=max"],
    "fusion geometric": [*PAPER, "explainer/fusion_strategy=geometric"],
    "fusion concat": [*PAPER, "explainer/fusion_strategy=concat"],
    "fusion learned": [*PAPER, "explainer/fusion_strategy=learned"],
    "fusion default": ["explainer=fusion"],
    "integrated_gradients": ["explainer=integrated_gradients"],
    "amplitude |x−median|": ["explainer=amplitude"],
    "random": ["explainer=random"],
}
# Local-map ablation of the fusion (no alignment, product): CAM variant × ResNet stage.
CAMS = {f"fusion no-align {v} {layer}": ["explainer=fusion", "explainer.align=none",
                                         "explainer/fusion_strategy=multiply", f"explainer.gradcam.variant={v}",
                                         f"explainer.gradcam.layer={layer}"]
        for v in ("gradcam", "hirescam", "gradcampp") for layer in ("layer2", "layer3", "layer4")}
EXPLAINERS.update(CAMS)
NARRATORS = {"template": ["narrator=template"], "t5": ["narrator=t5"]}
COLS = ["dataset", "explainer", "seeds", "AUPRC", "AUP", "AUR", "pooled AUPRC", "deletion drop@20%", "deletion AUC",
        "ms / instance", BLACKBOX_COL]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="+", default=["freqshapes", "seqcomb_uv"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--explainers", nargs="+", default=list(EXPLAINERS))
    p.add_argument("--max-samples", type=int, default=500)
    p.add_argument("--narrators", nargs="*", default=list(NARRATORS), help="none: skip the narrator jobs")
    args = p.parse_args()
    per: dict[tuple[str, str], list[dict]] = {}
    texts: dict[tuple[str, str], list[dict]] = {}
    bb_f1: dict[tuple[str, str], list[float | None]] = {}  # the explained black boxes' test F1, per row
    for seed in args.seeds:  # seed-major: every dataset × explainer cell gets a first seed early
        for dataset in args.datasets:
            bb = blackbox(dataset, "resnet_tf", seed)
            ckpt = best_ckpt(bb)
            if ckpt is None:
                continue
            base = [f"dataset={dataset}", "model=resnet_tf", f"seed={seed}", f"model.ckpt_path={ckpt}",
                    f"evaluation.max_samples={args.max_samples}", "task_name=bench",
                    # sanity checks and the IG reference are benchmarks/sanity.py's job
                    "evaluation.sanity.enabled=false", "evaluation.reference_ig.max_samples=0", "narrator=none"]
            for name in args.explainers:
                tag = slug(name.split(" (")[0]) + ("_noalign" if "no align" in name else "")
                tag = slug(name) if name in CAMS else tag
                result = run_job(f"ex_{dataset}_s{seed}_{tag}", base + EXPLAINERS[name])
                if result is not None:
                    per.setdefault((dataset, name), []).append(result["metrics"])
                    bb_f1.setdefault((dataset, name), []).append(blackbox_f1(bb))
            for nname in args.narrators:
                over = NARRATORS[nname]
                res = run_job(f"nar_{dataset}_s{seed}_{nname}", base[:-1] + ["explainer=fusion", *over])
                if res is not None:
                    texts.setdefault((dataset, nname), []).append(res["metrics"])
                    bb_f1.setdefault((dataset, nname), []).append(blackbox_f1(bb))
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
                         "ms / instance": [m.get("explain/ms_per_instance") for m in ms],
                         BLACKBOX_COL: blackbox_cell(bb_f1.get((dataset, name), []))})
        for nname in args.narrators:
            ms = texts.get((dataset, nname), [])
            text_rows.append({"dataset": dataset, "narrator": nname, "seeds": len(ms),
                              "BLEU-4": [m.get("narrate/bleu4") for m in ms],
                              "ROUGE-L": [m.get("narrate/rougeL_f") for m in ms],
                              "T5 fallback rate": [m.get("narrate/fallback_rate") for m in ms],
                              BLACKBOX_COL: blackbox_cell(bb_f1.get((dataset, nname), []))})
    md = table(rows, COLS) + "\n\n" + table(text_rows, ["dataset", "narrator", "seeds", "BLEU-4", "ROUGE-L",
                                                           "T5 fallback rate", BLACKBOX_COL])
    (ROOT / "bench_results" / "explainers.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
