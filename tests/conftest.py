"""Shared fixtures: compose the real Hydra config the way `run.py` does, with tiny sizes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from tsexplain.utils.compose import PROJECT_CONF
from tsexplain.utils.resolvers import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# One thread: tiny models on a 2-core machine run much faster than with two contending threads.
torch.set_num_threads(1)

# Small enough for a CPU test, big enough that every model sees every class.
TINY = [
    "dataset.n_train=64",
    "dataset.n_val=32",
    "dataset.n_test=32",
    "dataset.batch_size=32",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.enable_model_summary=false",
    "callbacks.rich_progress_bar=null",
    "print_config=false",
    "n_figures=1",
]


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    """The TINY overrides, for tests that start `run.py` in a subprocess."""
    return list(TINY)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """One synthetic-data cache for the whole session, as sweeps share one."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def make_cfg(tmp_path: Path, data_cache: Path):
    """`make_cfg(overrides)` → the composed config with run folders under tmp_path."""

    def _make(overrides: list[str] | None = None, tiny: bool = True, name: str = "run") -> DictConfig:
        register_resolvers()
        GlobalHydra.instance().clear()
        base = TINY if tiny else []
        if "dataset=npz" in (overrides or []):  # user data: its size is the file's
            base = [o for o in base if not o.startswith("dataset.n_")]
        with initialize_config_dir(str(PROJECT_CONF), version_base="1.3"):
            cfg = compose("config", overrides=base + list(overrides or []), return_hydra_config=True)
        HydraConfig().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / name)
            cfg.paths.data_dir = str(data_cache)
            cfg.paths.log_dir = str(tmp_path / "logs")
        return cfg

    yield _make
    GlobalHydra.instance().clear()
