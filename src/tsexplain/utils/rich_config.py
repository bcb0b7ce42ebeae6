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


def print_summary(metrics: Mapping[str, float], title: str = "results") -> None:
    """One table of the scalar metrics, grouped by prefix."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in sorted(metrics):
        value = metrics[key]
        if isinstance(value, float | int):
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    rich.print(table)
