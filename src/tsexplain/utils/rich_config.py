"""Print the composed config as a tree and the test metrics as a one-screen table."""

from __future__ import annotations

from collections.abc import Mapping

import rich
import rich.syntax
import rich.tree
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

ORDER = ("dataset", "model", "explainer", "narrator", "trainer", "logger", "callbacks", "evaluation", "paths")


def print_config_tree(cfg: DictConfig) -> None:
    """Rich tree of the resolved config, main groups first."""
    tree = rich.tree.Tree("config", style="dim", guide_style="dim")
    keys = [k for k in ORDER if k in cfg] + [k for k in cfg if k not in ORDER and k != "hydra"]
    for key in keys:
        branch = tree.add(str(key), style="bold")
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=True) if isinstance(node, DictConfig) else str(node)
        branch.add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)


MAP_COLUMNS = ("auprc", "aup", "aur", "pooled_auprc", "del_drop20", "del_auc", "ins_auc")
# Per-map scores shown in the grid or only kept in metrics.json (probability-curve twins, pooled AUP/AUR).
MAP_KEYS = MAP_COLUMNS + ("del_auc_prob", "ins_auc_prob", "pooled_aup", "pooled_aur")
HEADERS = {"auprc": "AUPRC", "aup": "AUP", "aur": "AUR", "pooled_auprc": "pooled", "del_drop20": "del@20",
           "del_auc": "delAUC", "ins_auc": "insAUC"}
HIDDEN = ("_sem", "/n_", "/params_", "robust/")  # kept in metrics.json, left off the screen


def summary_tables(metrics: Mapping[str, float], title: str = "results") -> list[Table]:
    """The end-of-run summary: task metrics, one row per explanation map, then the remaining scalars."""
    scalars = {k: float(v) for k, v in metrics.items() if isinstance(v, float | int)}
    maps = sorted({k.split("/", 1)[0] for k in scalars
                   if k.startswith("explain") and k.endswith(("/auprc", "/del_drop20"))})
    used = {f"{m}/{c}" for m in maps for c in MAP_KEYS}
    tables = []
    main = Table(title=title)
    main.add_column("metric")
    main.add_column("value", justify="right")
    for key in sorted(scalars):
        if key in used or any(h in key for h in HIDDEN):
            continue
        main.add_row(key, f"{scalars[key]:.4g}")
    tables.append(main)
    if maps:
        grid = Table(title="explanation maps: GT AUPRC/AUP/AUR (per sample; pooled AUPRC), deletion/insertion")
        grid.add_column("map", no_wrap=True)
        for c in MAP_COLUMNS:
            grid.add_column(HEADERS.get(c, c), justify="right")
        for m in maps:
            name = "explainer" if m == "explain" else m.removeprefix("explain_")
            grid.add_row(name, *(f"{scalars[f'{m}/{c}']:.3f}" if f"{m}/{c}" in scalars else "–" for c in MAP_COLUMNS))
        tables.append(grid)
    return tables


def print_summary(metrics: Mapping[str, float], title: str = "results") -> None:
    """One screen: the scalar metrics and a map × score grid (everything, incl. robustness, is in metrics.json)."""
    for table in summary_tables(metrics, title):
        rich.print(table)
