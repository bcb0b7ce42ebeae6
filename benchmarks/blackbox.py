"""Issue-2 benchmark: test accuracy and macro-F1 of `transformer` and `resnet_tf` on the four synthetic
datasets at default settings, 3 seeds, beside TimeX's published black-box F1.

    make bench-blackbox          # or: python -m benchmarks.blackbox [--seeds 0 1 2] [--models ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common import ROOT, blackbox, table

PUBLISHED_F1 = {"freqshapes": 0.972, "seqcomb_uv": 0.942}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="+", default=["freqshapes", "seqcomb_uv", "seqcomb_mv", "lowvar"])
    p.add_argument("--models", nargs="+", default=["transformer", "resnet_tf"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = p.parse_args()
    rows = []
    for dataset in args.datasets:
        for model in args.models:
            res = [r for r in (blackbox(dataset, model, s) for s in args.seeds) if r is not None]
            rows.append({
                "dataset": dataset, "model": model, "seeds": len(res),
                "test acc": [r["metrics"]["test/acc"] for r in res],
                "test macro-F1": [r["metrics"]["test/f1"] for r in res],
                "train wall s": [r["info"]["wall_s"] for r in res],
                "TimeX published F1": PUBLISHED_F1.get(dataset, "–") if model == "transformer" else "–",
            })
    md = table(rows, ["dataset", "model", "seeds", "test acc", "test macro-F1", "train wall s", "TimeX published F1"])
    out = Path(ROOT / "bench_results" / "blackbox.md")
    out.write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
