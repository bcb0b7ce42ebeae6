"""One option of a config group, composed by Hydra from its search path: the running app's when there is one
(`python run.py`, a test's composed config), else the configs shipped in the package (`tsexplain/conf`). Used where
a run needs a second node of a group (the OOD dataset) and by `tsexplain.explain.explain`, so neither reads YAML
files by path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from hydra import compose, initialize_config_dir, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

# Outside a Hydra app: the configs inside the package (installed: copied into it; a checkout: tsexplain/conf is a
# link to the top-level conf/).
PROJECT_CONF = Path(__file__).resolve().parents[1] / "conf"


@contextlib.contextmanager
def _hydra() -> Iterator[GlobalHydra]:
    """GlobalHydra with the run's search path: as it is inside an app, else initialised for the block only."""
    gh = GlobalHydra.instance()
    if gh.is_initialized():
        yield gh
        return
    source = _main_source()
    if source is not None and source.startswith("pkg://"):
        ctx = initialize_config_module(source.removeprefix("pkg://").replace("/", "."), version_base="1.3")
    else:
        path = source.removeprefix("file://") if source else str(PROJECT_CONF)
        ctx = initialize_config_dir(path, version_base="1.3")
    with ctx:
        yield GlobalHydra.instance()


def _main_source() -> str | None:
    """The primary config source of the composed run config (HydraConfig is set by run.py and by the tests)."""
    if not HydraConfig.initialized():
        return None
    for src in HydraConfig.get().runtime.config_sources:
        if src.provider == "main":
            return f"{src.schema}://{src.path}"
    return None


def group_options(group: str) -> list[str]:
    """The options of a config group, e.g. `group_options("dataset")`."""
    with _hydra() as gh:
        return sorted(gh.config_loader().get_group_options(group))


def compose_option(group: str, option: str) -> DictConfig:
    """`<group>/<option>` with its defaults list applied; a ValueError naming the options when it does not exist."""
    options = group_options(group)
    if option not in options:
        raise ValueError(f"{option!r} is not a {group} config; use one of {options}.")
    with _hydra():
        cfg = compose(config_name=f"{group}/{option}")
    for part in group.split("/"):
        cfg = cfg[part]
    return cfg
