"""UCI energy and ETT loaders on CSVs with the published headers: windows, targets, splits, NaN policy, caching."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate
from real_writers import write_energy, write_ett

from tsexplain.data.real import ETTDataModule, UCIEnergyDataModule
from tsexplain.data.real.uci_energy import DEFAULT_FEATURES
from tsexplain.data.validate import DataValidationError, MissingDataFileError


@pytest.fixture(scope="module")
def ett(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ETT-small")
    write_ett(root, "ETTh1")
    return write_ett(root, "ETTh2", offset=3.0)


def test_energy_windows_targets_and_chronological_blocks(tmp_path: Path) -> None:
    root = write_energy(tmp_path, n=400)
    frame = pd.read_csv(root / "energydata_complete.csv")
    dm = UCIEnergyDataModule(root, window=24, stride=2, horizon=1, standardize=False)
    meta = dm.meta
    assert (meta.task, meta.n_channels, meta.seq_len) == ("regression", 26, 24)
    assert meta.channel_names == list(DEFAULT_FEATURES) and "rv1" not in meta.channel_names
    assert meta.units[:3] == ["Wh", "Wh", "°C"] and meta.sampling_rate == pytest.approx(1 / 600)
    train = dm.split_arrays("train")
    np.testing.assert_allclose(train["x"][0].numpy(), frame[list(DEFAULT_FEATURES)].to_numpy()[:24].T, rtol=1e-6)
    assert float(train["y"][0]) == frame["Appliances"][24]
    assert float(train["y"][1]) == frame["Appliances"][26]
    # blocks 0–279, 280–339, 340–399 are windowed apart: the last train target lies before the first val input
    assert len(train["x"]) == (280 - 24 - 1) // 2 + 1
    val = dm.split_arrays("val")
    np.testing.assert_allclose(val["x"][0].numpy(), frame[list(DEFAULT_FEATURES)].to_numpy()[280:304].T, rtol=1e-6)


def test_ett_standard_split(ett: Path) -> None:
    frame = pd.read_csv(ett / "ETTh1.csv")
    dm = ETTDataModule(ett, standardize=False)
    meta = dm.meta
    assert (meta.name, meta.n_channels, meta.seq_len, meta.channel_names[-1]) == ("etth1", 7, 96, "OT")
    assert meta.sampling_rate == pytest.approx(1 / 3600) and meta.units[-1] == "°C"
    sizes = {s: len(dm.split_arrays(s)["x"]) for s in ("train", "val", "test")}
    assert sizes == {"train": 8544, "val": 2880, "test": 2880}  # Informer's Dataset_ETT_hour lengths
    val = dm.split_arrays("val")
    np.testing.assert_allclose(val["x"][0].numpy(), frame.iloc[8640 - 96:8640, 1:].to_numpy().T, rtol=1e-6)
    assert float(val["y"][0]) == pytest.approx(frame["OT"][8640])  # the first val target is the block's first row
    no_ot = ETTDataModule(ett, include_target=False, horizon=0, stride=50)
    assert no_ot.meta.channel_names == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]


def test_nan_policies(tmp_path: Path) -> None:
    root = write_energy(tmp_path, n=300)
    path = root / "energydata_complete.csv"
    frame = pd.read_csv(path)
    frame.loc[50:52, "T3"] = np.nan
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"\{'T3': 3\}.*nan_policy=interpolate.*drop"):
        UCIEnergyDataModule(root, window=24, stride=1).setup()
    interp = UCIEnergyDataModule(root, window=24, stride=1, nan_policy="interpolate", standardize=False)
    x = interp.split_arrays("train")["x"].numpy()
    expect = np.interp(51, [49, 53], [frame["T3"][49], frame["T3"][53]])
    assert x[51 - 23, DEFAULT_FEATURES.index("T3"), 23] == pytest.approx(expect, rel=1e-5)
    drop = UCIEnergyDataModule(root, window=24, stride=1, nan_policy="drop")
    assert len(drop.split_arrays("train")["x"]) == len(x) - (24 + 2)  # windows over rows 50–52 removed
    with pytest.raises(DataValidationError, match=r"nan_policy='zero'.*'interpolate', 'drop', 'fail'"):
        UCIEnergyDataModule(root, nan_policy="zero")


def test_bad_files_and_options(tmp_path: Path, ett: Path) -> None:
    with pytest.raises(MissingDataFileError, match=r"(?s)energydata_complete.csv.*archive.ics.uci.edu"):
        UCIEnergyDataModule(tmp_path).setup()
    pd.DataFrame({"date": ["2016-01-11 17:00:00"], "Appliance": [1]}).to_csv(tmp_path / "energydata_complete.csv")
    with pytest.raises(DataValidationError, match=r"lacks the column\(s\) \['Appliances'"):
        UCIEnergyDataModule(tmp_path).setup()
    with pytest.raises(DataValidationError, match=r"name='ETTh3'.*'ETTh1', 'ETTh2', 'ETTm1', 'ETTm2'"):
        ETTDataModule(ett, name="ETTh3")
    with pytest.raises(MissingDataFileError, match=r"(?s)ETTm1.csv.*github.com/zhouhaoyi/ETDataset"):
        ETTDataModule(ett, name="ETTm1").setup()
    short = write_ett(tmp_path / "short", n=1000)
    with pytest.raises(DataValidationError, match=r"1000 rows.*needs 14400"):
        ETTDataModule(short).setup()


def test_cache_keyed_by_files_and_options_and_atomic(tmp_path: Path) -> None:
    root = write_energy(tmp_path / "data", n=300)
    cache = tmp_path / "cache"
    path = root / "energydata_complete.csv"
    first = UCIEnergyDataModule(root, window=24, cache_dir=cache, standardize=False)
    first.setup()
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 1 and not list(cache.glob(".*tmp"))
    # Same name, size and mtime: the cache answers (the changed byte is not read) ...
    st = path.stat()
    text = path.read_text()
    i = text.index(",", text.index("\n") + 25)
    path.write_text(text[:i - 1] + ("9" if text[i - 1] != "9" else "8") + text[i:])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = UCIEnergyDataModule(root, window=24, cache_dir=cache, standardize=False)
    assert np.array_equal(again.split_arrays("train")["x"].numpy(), first.split_arrays("train")["x"].numpy())
    # ... a new mtime re-parses into a second cache file, and so does another option.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = UCIEnergyDataModule(root, window=24, cache_dir=cache, standardize=False)
    assert not np.array_equal(changed.split_arrays("train")["x"].numpy(), first.split_arrays("train")["x"].numpy())
    UCIEnergyDataModule(root, window=12, cache_dir=cache).setup()
    assert len(list(cache.glob("*.npz"))) == 3
    frame = pd.read_csv(path)
    frame.loc[5, "T1"] = np.nan
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError):
        UCIEnergyDataModule(root, window=24, cache_dir=cache).setup()
    assert len(list(cache.glob("*.npz"))) == 3 and not list(cache.iterdir())[0].name.startswith(".")


def test_ood_experiment_config(make_cfg, ett: Path) -> None:
    """experiment=timesae_ood_ett: fit on ETTh1, explainer.ood_dataset=etth2 read from the same ETT-small folder."""
    cfg = make_cfg(["experiment=timesae_ood_ett", f"dataset.data_dir={ett}", "dataset.stride=40"], tiny=False)
    assert cfg.dataset.name == "ETTh1" and cfg.explainer.ood_dataset == "etth2"
    assert cfg.explainer._target_.endswith("TimeSAEExplainer")
    fit = instantiate(cfg.dataset)
    other = make_cfg(["dataset=etth2", f"dataset.data_dir={ett}", "dataset.stride=40"], tiny=False)
    ood = instantiate(other.dataset)
    assert (fit.meta.name, ood.meta.name) == ("etth1", "etth2")
    assert instantiate(cfg.model, meta=fit.meta)(torch.randn(2, 7, 96)).shape == (2, fit.meta.n_outputs)
    assert (ood.meta.n_channels, ood.meta.seq_len) == (fit.meta.n_channels, fit.meta.seq_len) == (7, 96)
    assert not np.allclose(ood.split_arrays("test")["y"].numpy(), fit.split_arrays("test")["y"].numpy())
