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


def headline_verdict(metrics: Mapping[str, float], name: str | None = None) -> str | None:
    """One line: the headline map's score against each component map and the IG reference of the same run
    (ground-truth AUPRC when the run has it, else the deletion drop at 20 %); None without an explanation."""
    key = next((k for k in ("auprc", "del_drop20") if isinstance(metrics.get(f"explain/{k}"), float | int)), None)
    if key is None:
        return None
    label = {"auprc": "AUPRC", "del_drop20": "deletion drop@20%"}[key]
    head = float(metrics[f"explain/{key}"])
    comps = {m.split("/", 1)[0].removeprefix("explain_"): float(v) for m, v in metrics.items()
             if m.startswith("explain_") and m.endswith(f"/{key}") and not m.startswith("explain_ig_ref/")}

    def rel(other: float) -> str:
        return "level with" if abs(head - other) < 0.01 else ("above" if head > other else "below")

    line = f"{name or 'explainer'} {label} {head:.3f}"
    against = []
    fusion = name is not None and name.startswith("fusion")
    if comps:  # a fusion's component maps, or another explainer's alternative readings (TimeSAE's footprint)
        best = max(comps, key=comps.get)
        rest = "".join(f"; {k} {v:.3f}" for k, v in comps.items() if k != best)
        kind = "component" if fusion else "other map"
        against.append(f"{rel(comps[best])} its best {kind} {best} ({comps[best]:.3f}{rest})")
    ig = metrics.get(f"explain_ig_ref/{key}")
    if ig is not None:
        n = metrics.get("explain_ig_ref/n_samples")
        on = f", first {int(n)} samples" if n else ""
        against.append(f"{rel(float(ig))} integrated gradients ({float(ig):.3f}{on})")
    elif name == "integrated_gradients":
        against.append("this is the IG reference")
    if against:
        line += " — " + ", ".join(against)
    if comps and fusion:
        line += ": fusion helped" if head >= max(comps.values()) + 0.01 else ": fusion did not beat its best component"
    if "explain/healthy" in metrics:  # a learned explainer's fit (TimeSAE): its health in the same line
        target = metrics.get("explain/health_l0_target")
        line += (f" | fit {'healthy' if metrics['explain/healthy'] else 'UNHEALTHY'}: FVU "
                 f"{metrics['explain/health_fvu']:.2f} (PCA {metrics['explain/health_pca_fvu']:.2f}), L0 "
                 f"{metrics['explain/health_l0']:.1f}" + (f"/{target:g}" if target else "") +
                 f", {100 * metrics['explain/health_dead_fraction']:.0f}% dead")
    return line


def print_summary(metrics: Mapping[str, float], title: str = "results", headline: str | None = None) -> None:
    """One screen: the scalar metrics, a map × score grid (everything, incl. robustness, is in metrics.json) and
    one line comparing the headline map with its components and with IG."""
    for table in summary_tables(metrics, title):
        rich.print(table)
    line = headline_verdict(metrics, headline)
    if line:
        rich.print(f"[bold]headline:[/bold] {line}")
