"""Stage 8 for explanations: saliency.npz, curves and narratives as JSON, figures (also sent to the loggers)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from tsexplain.data.meta import DataMeta
from tsexplain.report.figures import plot_deletion_curves, plot_saliency
from tsexplain.report.results import RunFolder

log = logging.getLogger(__name__)


def write_explanation_report(cfg: DictConfig, folder: RunFolder, ex, meta: DataMeta, curves: dict,
                             narratives: list[dict], loggers: list) -> list[Path]:
    """Write the explanation artefacts of a run and return the figure paths."""
    from tsexplain.narrate.regions import find_regions
    from tsexplain.stages import saliency_arrays

    if cfg.evaluation.get("save_saliency", True):
        folder.record("saliency_file", str(folder.save_arrays("saliency.npz", **saliency_arrays(ex))))
    curves = {name: c for name, c in curves.items() if c}  # {} per map when faithfulness is disabled
    if curves:
        folder.write_json("faithfulness_curves.json", curves)
    if narratives:
        folder.write_json("narratives.json", narratives)
        folder.record("example_narratives", [r["narrative"] for r in narratives[:2]])

    fig_dir = folder.path / "figures"
    fig_dir.mkdir(exist_ok=True)
    paths: list[Path] = []
    region_kwargs = narrator_region_kwargs(cfg)
    for i in range(min(int(cfg.get("n_figures", 3)), len(ex.x))):
        maps = dict(ex.maps) if ex.maps else {}
        maps = {k: v[i] for k, v in maps.items()} or {"saliency": ex.saliency[i]}
        regions = find_regions(ex.saliency[i].numpy(), **region_kwargs)
        paths.append(plot_saliency(
            ex.x[i].detach().cpu().numpy(), {k: v.numpy() for k, v in maps.items()},
            mask=None if ex.mask is None else ex.mask[i].numpy(), regions=regions,
            title=f"test sample {int(ex.index[i])}: predicted {prediction_text(ex.pred[i], meta)}",
            channel_names=meta.channel_names, path=fig_dir / f"saliency_{int(ex.index[i])}.png"))
    named = {name: c["deletion"] for name, c in curves.items() if "deletion" in c}
    if named:
        paths.append(plot_deletion_curves(named, fig_dir / "deletion_curves.png"))
    folder.record("figures", [str(p) for p in paths])
    log_figures(loggers, paths)
    return paths


def narrator_region_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """`find_regions` settings of the regions the narrator talks about: its `region_kwargs` and `max_regions`
    (a T5 narrator's come from its template); `find_regions`' defaults without a narrator."""
    nar = cfg.get("narrator") or {}
    source = nar if "region_kwargs" in nar or "max_regions" in nar else (nar.get("template") or {})
    kwargs = dict(source.get("region_kwargs") or {})
    if source.get("max_regions") is not None:
        kwargs["max_regions"] = int(source.get("max_regions"))
    return kwargs


def prediction_text(pred: Any, meta: DataMeta) -> str:
    """A figure title's prediction: the class name, or the number for regression (never `tensor(...)`)."""
    from tsexplain.narrate.templates import prediction_label

    value = float(pred) if meta.task == "regression" else int(pred)  # what the narratives are given
    return prediction_label(value, meta) or str(value)


def log_figures(loggers: list, paths: list[Path]) -> None:
    """Send PNGs to every logger that takes images (W&B, TensorBoard); CSV keeps the file paths only."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    for lg in loggers:
        try:
            if isinstance(lg, WandbLogger):
                lg.log_image(key="explanations", images=[str(p) for p in paths])
            elif isinstance(lg, TensorBoardLogger):
                import matplotlib.image as mpimg

                for p in paths:
                    lg.experiment.add_image(p.stem, mpimg.imread(p)[..., :3], dataformats="HWC")
        except Exception as err:  # noqa: BLE001 - a figure a logger refuses must not fail the run
            log.warning("could not send figures to %s: %s", type(lg).__name__, err)


def print_highlights(info: dict[str, Any]) -> None:
    """The last lines a user sees: where the figures are and two example narratives."""
    figures = info.get("figures") or []
    if figures:
        print(f"figures: {Path(figures[0]).parent}  (e.g. {Path(figures[0]).name})")
    for text in info.get("example_narratives", [])[:2]:
        print(f"narrative: {text}")
