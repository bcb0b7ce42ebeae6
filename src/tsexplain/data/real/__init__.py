"""Real datasets read from `data_dir` exactly as their publishers ship them (one loader module per dataset)."""

from tsexplain.data.real.base import RealDataModule, RealDataWarning
from tsexplain.data.real.cinc2017 import CinC2017DataModule
from tsexplain.data.real.ett import ETTDataModule
from tsexplain.data.real.mitbih import MITBIHDataModule
from tsexplain.data.real.pamap2 import PAMAP2DataModule
from tsexplain.data.real.ptbxl import PTBXLDataModule
from tsexplain.data.real.uci_energy import UCIEnergyDataModule
from tsexplain.data.real.ucr import UCRDataModule

__all__ = ["RealDataModule", "RealDataWarning", "PTBXLDataModule", "MITBIHDataModule", "CinC2017DataModule",
           "UCIEnergyDataModule", "ETTDataModule", "PAMAP2DataModule", "UCRDataModule"]
