"""Stage 8 for explanations: saliency.npz, curves and narratives as JSON, figures (also sent to the loggers)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tsexplain.data.meta import DataMeta
from tsexplain.report.figures import plot_deletion_curves, plot_saliency
from tsexplain.report.results import RunFolder
from tsexplain.stages import Explanation, Narration, Scores
from tsexplain.tasks import task_for

log = logging.getLogger(__name__)


def write_explanation_report(folder: RunFolder, explanation: Explanation, scores: Scores, narration: Narration,
                             loggers: list, n_figures: int = 3, save_saliency: bool = True) -> list[Path]:
    """Write the explanation artefacts of a run (saliency.npz, curves, narratives, figures) and return the figure
    paths. The figures mark the regions the narratives talk about (`narration.regions`); samples beyond the
    narrated ones, or a run without a narrator, get `find_regions`' defaults."""
    from tsexplain.narrate.regions import find_regions

    if save_saliency:
        folder.record("saliency_file", str(folder.save_arrays("saliency.npz", **explanation.arrays())))
    curves = {name: c for name, c in scores.curves.items() if c}  # {} per map when faithfulness is disabled
    if curves:
        folder.write_json("faithfulness_curves.json", curves)
    if narration.records:
        folder.write_json("narratives.json", narration.records)
        folder.record("example_narratives", [r["narrative"] for r in narration.records[:2]])

    fig_dir = folder.path / "figures"
    fig_dir.mkdir(exist_ok=True)
    paths: list[Path] = []
    test = explanation.test
    for i in range(min(int(n_figures), len(test))):
        sal = explanation.saliency[i].detach().cpu().numpy()
        maps = {k: v[i].detach().cpu().numpy() for k, v in explanation.maps.items()} or {"saliency": sal}
        regions = narration.regions[i] if i < len(narration.regions) else find_regions(sal)
        index = int(test.index[i])
        paths.append(plot_saliency(
            test.x[i].detach().cpu().numpy(), maps, mask=None if test.mask is None else test.mask[i].cpu().numpy(),
            regions=regions, title=f"test sample {index}: predicted {prediction_text(test.pred[i], test.meta)}",
            channel_names=test.meta.channel_names, path=fig_dir / f"saliency_{index}.png", meta=test.meta,
            headline=sal))  # meta: time in s/min/h and units; headline: the map many-channel heatmaps show
    named = {name: c["deletion"] for name, c in curves.items() if "deletion" in c}
    if named:
        paths.append(plot_deletion_curves(named, fig_dir / "deletion_curves.png"))
    folder.record("figures", [str(p) for p in paths])
    log_figures(loggers, paths)
    return paths


def prediction_text(pred: Any, meta: DataMeta) -> str:
    """A figure title's prediction: the class name, or the number for regression (never `tensor(...)`)."""
    from tsexplain.narrate.templates import prediction_label

    value = task_for(meta).prediction_value(pred)  # what the narratives are given
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
