"""Amortised speed: TimeSAE's default map vs integrated gradients (50 steps) on the same trained black box, the same
samples and the same attribution batch size, one intra-op thread, after a warm-up call.

    python -m benchmarks.timesae_speed   # reads finished bench-timesae runs; writes bench_results/timesae_speed.md
"""

from __future__ import annotations

import json
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from benchmarks.common import ROOT, RUNS, table
from tsexplain.pipeline import load_blackbox_weights
from tsexplain.utils.compose import PROJECT_CONF

N = 128


def per_instance_ms(explainer, x: torch.Tensor, t: torch.Tensor, repeats: int = 1) -> float:
    explainer.attribute(x[:8], t[:8])
    t0 = time.perf_counter()
    for _ in range(repeats):
        explainer.attribute(x, t)
    return (time.perf_counter() - t0) / repeats / len(x) * 1000


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    for run in sorted(RUNS.glob("sae_*_s0_TimeSAE_*")):
        if not (run / "metrics.json").is_file():
            continue
        info = json.loads((run / "metrics.json").read_text())["info"]
        ov = [o for o in OmegaConf.load(run / ".hydra" / "overrides.yaml") if not o.startswith("hydra.")]
        with initialize_config_dir(config_dir=str(PROJECT_CONF), version_base="1.3"):
            cfg = compose("config", overrides=[*ov, f"explainer.ckpt_path={info['explainer_checkpoint']}"])
            ig_cfg = compose("config", overrides=[*[o for o in ov if not o.startswith("explainer")],
                                                  "explainer=integrated_gradients"])
        data = instantiate(cfg.dataset)
        data.prepare_data()
        data.setup("fit")
        bb = load_blackbox_weights(instantiate(cfg.model, meta=data.meta), cfg.model.ckpt_path)
        x = data.split_arrays("test")["x"][:N]
        with torch.no_grad():
            t = bb(x).argmax(-1)
        sae = instantiate(cfg.explainer).fit(bb, None)
        ig = instantiate(ig_cfg.explainer).fit(bb, None)
        ms_sae, ms_ig = per_instance_ms(sae, x, t), per_instance_ms(ig, x, t)
        sparsity = cfg.explainer.module.sparsity._target_.rsplit(".", 1)[-1]
        rows.append({"dataset": cfg.dataset.name, "model": cfg.model.name, "explainer": f"TimeSAE {sparsity}",
                     "batch": sae.batch_size, "TimeSAE ms": f"{ms_sae:.2f}", "IG-50 ms": f"{ms_ig:.2f}",
                     "speed-up": f"{ms_ig / ms_sae:.1f}×"})
        print(rows[-1], flush=True)
    md = table(rows, ["dataset", "model", "explainer", "batch", "TimeSAE ms", "IG-50 ms", "speed-up"])
    (ROOT / "bench_results" / "timesae_speed.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
