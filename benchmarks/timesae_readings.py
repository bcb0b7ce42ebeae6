"""TimeSAE map readings on one fit: ground-truth AUPRC, deletion drop at 20 % and model-randomisation Spearman ρ.

Fits the default TimeSAE (or loads `--fit`) on a trained black box and scores every concept reading of that one
fit on the same test samples, beside integrated gradients: the comparison behind the default `effect` map
(README "TimeSAE"). A sweep job scores one headline map and its randomisation check only; comparing the readings'
ρ needs them side by side on one fit, hence a script.

    python benchmarks/timesae_readings.py --model resnet_tf --dataset freqshapes --blackbox <best.ckpt> [overrides]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from captum.attr import IntegratedGradients
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from tsexplain.evaluate.faithfulness import deletion_curve
from tsexplain.evaluate.groundtruth import gt_scores_per_sample
from tsexplain.evaluate.randomization import randomized_copy, spearman_per_sample
from tsexplain.pipeline import load_blackbox_weights
from tsexplain.utils.compose import PROJECT_CONF

#: reading name → (saliency reading, effect, signed)
READINGS = {
    "effect integrated |w| (default)": ("effect", "integrated", False),
    "effect integrated w>0": ("effect", "integrated", True),
    "effect insertion w>0 (former default)": ("effect", "insertion", True),
    "effect insertion |w|": ("effect", "insertion", False),
    "effect shapley2 |w|": ("effect", "shapley2", False),
    "footprint (model-blind)": ("footprint", "integrated", False),
    "mask (paper Eq. 15)": ("mask", "integrated", False),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--blackbox", required=True, help="the trained black box's checkpoint")
    p.add_argument("--explainer", default="timesae", help="timesae | timesae_topk")
    p.add_argument("--fit", help="a saved fit (state dict) to load instead of fitting; written there otherwise")
    p.add_argument("--n", type=int, default=300, help="test samples scored")
    p.add_argument("--ig-steps", type=int, default=50)
    p.add_argument("overrides", nargs="*", help="hydra overrides of the run config")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(0)
    with initialize_config_dir(config_dir=str(PROJECT_CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"dataset={args.dataset}", f"model={args.model}",
                                           f"explainer={args.explainer}", *args.overrides])
    data = instantiate(cfg.dataset)
    data.prepare_data()
    data.setup("fit")
    blackbox = load_blackbox_weights(instantiate(cfg.model, meta=data.meta), args.blackbox).eval()
    explainer = instantiate(cfg.explainer)
    if args.fit and Path(args.fit).exists():
        explainer.module = explainer.module_factory(blackbox=blackbox, meta=data.meta)
        explainer.module.load_state_dict(torch.load(args.fit, weights_only=True))
        explainer.blackbox = blackbox
    else:
        explainer.fit(blackbox, data)
        print("health:", {k: round(float(v), 3) for k, v in explainer.health.as_metrics().items()})
        if args.fit:
            torch.save(explainer.module.state_dict(), args.fit)
    arr = data.split_arrays("test")
    x, y, mask = arr["x"][: args.n], arr["y"][: args.n], arr["mask"][: args.n]
    with torch.no_grad():
        target = blackbox(x).argmax(-1)
    randomized = randomized_copy(blackbox, None, seed=0).eval()
    hp = explainer.module.hparams

    def maps(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        ex = explainer.rebind(model)
        out = {}
        for name, (reading, effect, signed) in READINGS.items():
            hp.saliency, hp.effect, hp.effect_signed = reading, effect, signed
            out[name] = ex.attribute(x, target)
        ig = IntegratedGradients(lambda z: torch.log_softmax(model(z), -1))
        out[f"integrated gradients ({args.ig_steps} steps)"] = ig.attribute(
            x, target=target, n_steps=args.ig_steps, internal_batch_size=512).abs().detach()
        return out

    trained, rand = maps(blackbox), maps(randomized)
    print(f"\n{args.explainer} on {args.model} / {args.dataset}, {len(x)} test samples")
    print("| reading | AUPRC | deletion drop@20% | rand ρ (all at once) |\n|---|---|---|---|")
    for name, sal in trained.items():
        auprc = gt_scores_per_sample(sal.numpy(), mask.numpy(), y.numpy(), data.meta.scored_classes)["auprc"]
        drop = deletion_curve(blackbox, x, sal, target)["drop_at_20"]
        rho = float(np.nanmean(spearman_per_sample(sal, rand[name])))
        print(f"| {name} | {auprc:.3f} | {drop:.3f} | {rho:.2f} |")


if __name__ == "__main__":
    main()
