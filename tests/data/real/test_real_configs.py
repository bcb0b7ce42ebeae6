"""The real-dataset configs compose, instantiate their loaders from YAML, and the bundled GunPoint demo runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.utils import instantiate
from real_writers import write_cinc, write_mitbih

from tsexplain.data.real import (
    CinC2017DataModule,
    ETTDataModule,
    MITBIHDataModule,
    PAMAP2DataModule,
    PTBXLDataModule,
    UCIEnergyDataModule,
    UCRDataModule,
)
from tsexplain.data.validate import MissingDataFileError

CLASSES = {"ptbxl": PTBXLDataModule, "mitbih": MITBIHDataModule, "cinc2017": CinC2017DataModule,
           "uci_energy": UCIEnergyDataModule, "etth1": ETTDataModule, "etth2": ETTDataModule,
           "pamap2": PAMAP2DataModule, "ucr": UCRDataModule, "uea": UCRDataModule}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_config_instantiates_its_loader(make_cfg, name: str) -> None:
    cfg = make_cfg([f"dataset={name}"], tiny=False)
    dm = instantiate(cfg.dataset)
    assert type(dm) is CLASSES[name] and dm.cache_dir == cfg.paths.data_dir + "/cache"
    if name not in ("ucr", "uea"):  # data_dir is required: the error shows the layout and the download page
        with pytest.raises(MissingDataFileError, match=r"(?s)needs dataset.data_dir.*Expected layout.*Download: http"):
            dm.setup()


def test_yaml_options_reach_the_loaders(make_cfg, tmp_path: Path) -> None:
    cinc = write_cinc(tmp_path / "training2017")
    cfg = make_cfg(["dataset=cinc2017", f"dataset.data_dir={cinc}", "dataset.n_folds=4", "dataset.length_s=5"],
                   tiny=False)
    dm = instantiate(cfg.dataset)
    assert dm.meta.class_names == ["N", "A", "O", "~"], "the quoted '~' of the YAML is the noisy class, not null"
    write_mitbih(tmp_path / "mitdb")
    cfg = make_cfg(["dataset=mitbih", f"dataset.data_dir={tmp_path / 'mitdb'}"], tiny=False)
    mit = instantiate(cfg.dataset)
    assert mit.meta.has_mask and mit.meta.seq_len == 360
    assert len(list(Path(cfg.dataset.cache_dir).glob("mitbih_*.npz"))) == 1, "parsed arrays cached"


def test_gunpoint_demo_runs_end_to_end(make_cfg) -> None:
    from tsexplain.pipeline import run

    cfg = make_cfg(["dataset=ucr", "dataset.name=GunPoint", "model=resnet", "explainer=none", "debug=fast_dev_run",
                    "optimized_metric=null", "trainer.accelerator=cpu", "print_config=false"], tiny=False)
    run(cfg)
    out = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["metrics"]
    assert 0.0 <= out["test/acc"] <= 1.0
