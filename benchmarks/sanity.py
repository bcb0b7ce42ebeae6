"""Issue-8 benchmark: sanity checks of every explainer on the resnet_tf black box — model-parameter
randomisation (Spearman of |maps|, trained vs re-initialised model: all weights, and cascading from the head
down), captum infidelity and sensitivity-max — next to ground-truth AUPRC (FreqShapes, SeqComb-UV, LowVar).

    python -m benchmarks.sanity [--seeds 0] [--max-samples 200] [--datasets ...] [--explainers ...]

Each job reuses the dataset's black box (trained once by common.blackbox) through model.ckpt_path.
"""

from __future__ import annotations

import argparse

from benchmarks.common import ROOT, best_ckpt, blackbox, run_job, table

EXPLAINERS = ["saliency", "integrated_gradients", "smoothgrad", "gradient_shap", "occlusion", "feature_ablation",
              "random", "amplitude", "gradcam", "rollout", "fusion"]
COLS = ["dataset", "explainer", "seeds", "AUPRC", "rand ρ all", "rand ρ head", "rand ρ head+tf", "infidelity",
        "sensitivity max", "ms / instance", "sanity s"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="+", default=["freqshapes", "seqcomb_uv", "lowvar"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--explainers", nargs="+", default=EXPLAINERS)
    p.add_argument("--max-samples", type=int, default=200)
    args = p.parse_args()
    per: dict[tuple[str, str], list[dict]] = {}
    for seed in args.seeds:
        for dataset in args.datasets:
            ckpt = best_ckpt(blackbox(dataset, "resnet_tf", seed))
            if ckpt is None:
                continue
            base = [f"dataset={dataset}", "model=resnet_tf", f"seed={seed}", f"model.ckpt_path={ckpt}",
                    f"evaluation.max_samples={args.max_samples}", "task_name=bench", "narrator=none",
                    "evaluation.reference_ig.max_samples=0"]
            for name in args.explainers:
                result = run_job(f"sanity_{dataset}_s{seed}_{name}", base + [f"explainer={name}"])
                if result is not None:
                    per.setdefault((dataset, name), []).append(result["metrics"])
    rows = []
    for dataset in args.datasets:
        for name in args.explainers:
            ms = per.get((dataset, name), [])

            def col(key: str, ms=ms) -> list:
                return [m.get(key) for m in ms]

            rows.append({"dataset": dataset, "explainer": name, "seeds": len(ms), "AUPRC": col("explain/auprc"),
                         "rand ρ all": col("explain/rand_spearman_all"),
                         "rand ρ head": col("explain/rand_spearman_cascade/head"),
                         "rand ρ head+tf": col("explain/rand_spearman_cascade/transformer"),
                         "infidelity": col("explain/infidelity"),
                         "sensitivity max": col("explain/sensitivity_max"),
                         "ms / instance": col("explain/ms_per_instance"), "sanity s": col("explain/sanity_s")})
    md = table(rows, COLS)
    (ROOT / "bench_results" / "sanity.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
