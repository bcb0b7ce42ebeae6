"""What a run sends to W&B beyond Lightning's own logging: a table of narratives, a table of example saliency maps,
saliency.npz as an artifact, and the labels and overrides a W&B Report groups runs by. Every function here is a
no-op without a WandbLogger among the run's loggers, and wandb is imported only when there is one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tsexplain.stages import Explanation, Narration

log = logging.getLogger(__name__)

NARRATIVES_KEY = "narratives"
SALIENCY_KEY = "saliency_examples"
ARTIFACT_TYPE = "saliency"
# W&B config keys the report groups by: `labels.<dataset|model|explainer>` and the job's overrides.
LABELS_KEY = "labels"
OVERRIDES_KEY = "overrides"
SWEPT_KEY = "swept"
_MAX_TAG = 64  # W&B refuses longer tags


def wandb_loggers(loggers: Sequence[Any]) -> list:
    """The WandbLoggers among `loggers` (an empty list when W&B is not configured)."""
    if not loggers:
        return []
    from lightning.pytorch.loggers import WandbLogger

    return [lg for lg in loggers if isinstance(lg, WandbLogger)]


def narratives_rows(explanation: Explanation, narration: Narration) -> tuple[list[str], list[list]]:
    """Columns and rows of the narratives table: sample index, true label, predicted class, narrative, and the
    ground-truth reference narrative where the run has one (records follow the test set's order)."""
    test = explanation.test
    has_ref = any("reference" in r for r in narration.records)
    columns = ["sample", "label", "prediction", "narrative"] + (["reference"] if has_ref else [])
    rows = []
    for i, r in enumerate(narration.records):
        label = test.y[i].tolist() if i < len(test) else None
        row = [int(r["index"]), label, str(r["prediction"]), str(r["narrative"])]
        rows.append(row + ([r.get("reference", "")] if has_ref else []))
    return columns, rows


def log_explanations(loggers: Sequence[Any], explanation: Explanation, narration: Narration,
                     figures: Sequence[Path], saliency_file: str | Path | None, explainer: str = "") -> None:
    """Send the narratives table, the example saliency maps (the run's saliency_<index>.png figures, with their
    sample's prediction and label) and saliency.npz (an artifact of type `saliency`) to every WandbLogger."""
    targets = wandb_loggers(loggers)
    if not targets:
        return
    import wandb

    from tsexplain.report.explanations import prediction_text

    test = explanation.test
    by_index = {int(test.index[i]): i for i in range(len(test))}
    examples = []
    for path in figures:
        p = Path(path)
        if p.stem.startswith("saliency_") and p.stem[9:].isdigit() and int(p.stem[9:]) in by_index:
            examples.append((int(p.stem[9:]), p))
    for lg in targets:
        try:
            run = lg.experiment
            payload: dict[str, Any] = {}
            if narration.records:
                columns, rows = narratives_rows(explanation, narration)
                payload[NARRATIVES_KEY] = wandb.Table(columns=columns, data=rows)
            if examples:
                rows = []
                for index, p in examples:
                    i = by_index[index]
                    rows.append([index, test.y[i].tolist(), prediction_text(test.pred[i], test.meta), explainer,
                                 wandb.Image(str(p))])
                payload[SALIENCY_KEY] = wandb.Table(columns=["sample", "label", "prediction", "explainer", "saliency"],
                                                    data=rows)
            if payload:
                run.log(payload)
            if saliency_file and Path(saliency_file).is_file():
                art = wandb.Artifact(f"saliency-{run.id}", type=ARTIFACT_TYPE,
                                     description="saliency.npz of the run (python -m tsexplain.report reads it)",
                                     metadata={"explainer": explainer, "n_samples": len(test),
                                               "shape": list(explanation.saliency.shape)})
                art.add_file(str(saliency_file), name="saliency.npz")
                run.log_artifact(art)
        except Exception as err:  # noqa: BLE001 - W&B refusing a table or artifact must not fail a finished run
            log.warning("could not send the explanations to W&B: %s", err)


def _hydra(cfg: Any) -> Any:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return HydraConfig.get()
    return cfg.get("hydra") if hasattr(cfg, "get") else None


def job_overrides(cfg: Any) -> dict[str, str]:
    """The job's command-line and sweeper overrides as {key: value} (`+`/`~` prefixes dropped), from Hydra."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    hc = _hydra(cfg)
    lines = [str(o) for o in ((hc.overrides.task if hc is not None and "overrides" in hc else None) or [])]
    return {o.key_or_group: o.input_line.split("=", 1)[1] if "=" in o.input_line else ""
            for o in OverridesParser.create().parse_overrides(lines)}


def swept_keys(cfg: Any) -> set[str]:
    """The keys the job's sweep varies: those of `hydra.sweeper.params` (a sweep config's) and the sweep overrides
    (`a,b`, `range(...)`) of the command line, read from the multirun's multirun.yaml. Empty for a single run."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    hc = _hydra(cfg)
    if hc is None or not str(hc.get("mode")).endswith("MULTIRUN"):
        return set()
    keys = {str(k).lstrip("+~") for k in ((hc.get("sweeper") or {}).get("params") or {})}
    master = Path(str(hc.sweep.dir)) / "multirun.yaml"
    if master.is_file():
        try:
            lines = OmegaConf.load(master).hydra.overrides.task
            keys |= {o.key_or_group for o in OverridesParser.create().parse_overrides([str(x) for x in lines])
                     if o.is_sweep_override()}
        except Exception as err:  # noqa: BLE001 - an unreadable multirun.yaml only loses the command-line sweeps
            log.warning("could not read the sweep's overrides from %s: %s", master, err)
    return keys


def describe_run(loggers: Sequence[Any], config: dict, cfg: Any) -> None:
    """Add `labels` (dataset, model, explainer as the comparison report names them), `overrides` (all the job's)
    and `swept` (those its sweep varies) to each W&B run's config, and the swept ones as `key=value` tags, so a W&B
    Report can group and filter runs by what their sweep varied. `config`: the resolved run config; `cfg`: the
    composed one (for Hydra's overrides)."""
    targets = wandb_loggers(loggers)
    if not targets:
        return
    from tsexplain.report.grouping import LABELS

    labels = {key: fn(config) for key, fn in LABELS.items()}
    for lg in targets:
        try:
            overrides, swept = job_overrides(cfg), swept_keys(cfg)
            varied = {k: v for k, v in overrides.items() if k in swept}
            run = lg.experiment
            run.config.update({LABELS_KEY: labels, OVERRIDES_KEY: dict(overrides), SWEPT_KEY: varied},
                              allow_val_change=True)
            tags = [t for t in (f"{k}={v}" for k, v in varied.items()) if len(t) <= _MAX_TAG]
            tags = [t for t in tags if t not in (run.tags or ())]
            if tags:
                run.tags = tuple(run.tags or ()) + tuple(tags)
        except Exception as err:  # noqa: BLE001 - a refused config value must not fail a finished run
            log.warning("could not send the run's labels to W&B: %s", err)
