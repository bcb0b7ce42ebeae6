"""Issue-11 benchmark on the UCR datasets aeon ships in its wheel (no download): black-box test accuracy of
`resnet`, `resnet_tf` and `transformer` (3 seeds) beside the UCR deep-learning review's ResNet (Fawaz et al. 2019),
and the explanation scores that need no ground truth (deletion, insertion, model randomisation) for IG, fusion and
TimeSAE on the seed-0 black boxes.

    make bench-ucr          # or: python -m benchmarks.ucr [--datasets GunPoint ...] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse

from benchmarks.common import ROOT, best_ckpt, run_explainer_job, run_job, table

# Fawaz et al. 2019 (Deep learning for time series classification: a review), ResNet, mean test accuracy.
PUBLISHED_RESNET = {"GunPoint": 0.991, "ItalyPowerDemand": 0.963}
# The explainers each black box supports (fusion needs resnet_tf's Grad-CAM and rollout).
EXPLAINERS = {"resnet": ["integrated_gradients", "timesae"], "resnet_tf": ["integrated_gradients", "fusion", "timesae"],
              "transformer": ["integrated_gradients", "timesae"]}
SCORES = (("del drop@20%", "del_drop20"), ("del AUC (acc)", "del_auc"), ("ins AUC (acc)", "ins_auc"),
          ("rand ρ all", "rand_spearman_all"), ("infidelity", "infidelity"), ("ms / instance", "ms_per_instance"))


def _bb(name: str, model: str, seed: int) -> dict | None:
    return run_job(f"ucr_{model}_{name}_s{seed}", ["dataset=ucr", f"dataset.name={name}", f"model={model}",
                                                   f"seed={seed}", "explainer=none", "task_name=bench"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="+", default=["GunPoint", "ItalyPowerDemand"])
    p.add_argument("--models", nargs="+", default=["resnet", "resnet_tf", "transformer"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--explain-seeds", nargs="+", type=int, default=[0])
    p.add_argument("--max-samples", type=int, default=100)
    args = p.parse_args()
    bb_rows, ex_rows = [], []
    for name in args.datasets:
        for model in args.models:
            res = {s: _bb(name, model, s) for s in args.seeds}
            done = [r for r in res.values() if r is not None]
            bb_rows.append({"dataset": name, "model": model, "seeds": len(done),
                            "test acc": [r["metrics"]["test/acc"] for r in done],
                            "test macro-F1": [r["metrics"]["test/f1"] for r in done],
                            "wall s": [r["info"]["wall_s"] for r in done if "wall_s" in r["info"]],
                            "published ResNet acc": PUBLISHED_RESNET.get(name, "–") if model == "resnet" else "–"})
            for explainer in EXPLAINERS[model]:
                runs, collapsed = [], 0
                for s in args.explain_seeds:
                    ckpt = best_ckpt(res.get(s))
                    if ckpt is None:
                        continue
                    r = run_explainer_job(f"ucrx_{model}_{name}_s{s}_{explainer}",
                                ["dataset=ucr", f"dataset.name={name}", f"model={model}", f"seed={s}",
                                 f"model.ckpt_path={ckpt}", f"explainer={explainer}", "narrator=none",
                                 f"evaluation.max_samples={args.max_samples}", "task_name=bench"])
                    if r == "collapsed":  # TimeSAE's health gate refused the fit: counted, never scored
                        collapsed += 1
                    elif r is not None:
                        runs.append(r["metrics"])
                if runs or collapsed:
                    row = {"dataset": name, "model": model, "explainer": explainer, "seeds": len(runs),
                           "refused (unhealthy)": collapsed}
                    row.update({col: [m.get(f"explain/{key}") for m in runs] for col, key in SCORES})
                    ex_rows.append(row)
    md = table(bb_rows, ["dataset", "model", "seeds", "test acc", "test macro-F1", "wall s", "published ResNet acc"])
    md += "\n\n" + table(ex_rows, ["dataset", "model", "explainer", "seeds", "refused (unhealthy)",
                                   *[c for c, _ in SCORES]])
    (ROOT / "bench_results" / "ucr.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
