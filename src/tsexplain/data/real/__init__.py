"""Real datasets read from `data_dir` exactly as their publishers ship them (one loader module per dataset).

The loaders are imported on first use (PEP 562 `__getattr__`): the black box imports this package's `metrics`, and
should not pull pandas and wfdb in with it."""

from importlib import import_module

_LOADERS = {"RealDataModule": "base", "RealDataWarning": "base", "PTBXLDataModule": "ptbxl",
            "MITBIHDataModule": "mitbih", "CinC2017DataModule": "cinc2017", "UCIEnergyDataModule": "uci_energy",
            "ETTDataModule": "ett", "PAMAP2DataModule": "pamap2", "UCRDataModule": "ucr"}

__all__ = list(_LOADERS)


def __getattr__(name: str):
    if name not in _LOADERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_LOADERS[name]}"), name)
