"""UCR/UEA through aeon: the datasets bundled in aeon's wheel for real (no network), and a local archive folder."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from real_writers import write_ts

from tsexplain.data.real import UCRDataModule
from tsexplain.data.real.ucr import bundled
from tsexplain.data.validate import DataValidationError, MissingDataFileError


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_bundled_gunpoint_and_basicmotions(no_network) -> None:
    assert {"GunPoint", "ItalyPowerDemand", "ArrowHead", "OSULeaf", "BasicMotions"} <= set(bundled())
    dm = UCRDataModule("GunPoint", standardize=False)
    meta = dm.meta
    assert (meta.name, meta.task, meta.n_channels, meta.seq_len, meta.class_names) == (
        "GunPoint", "multiclass", 1, 150, ["1", "2"])
    sizes = {s: len(dm.split_arrays(s)["x"]) for s in ("train", "val", "test")}
    assert sizes == {"train": 40, "val": 10, "test": 150}  # the archive's 50/150, 20 % of TRAIN held out
    assert np.bincount(dm.split_arrays("val")["y"].numpy()).tolist() == [5, 5], "stratified hold-out"
    from aeon.datasets import load_classification

    x_test, y_test = load_classification("GunPoint", split="test")
    np.testing.assert_allclose(dm.split_arrays("test")["x"].numpy(), x_test, rtol=1e-6)
    uea = UCRDataModule("BasicMotions", archive="uea")
    assert (uea.meta.n_channels, uea.meta.seq_len, uea.meta.n_outputs) == (6, 100, 4)


def test_not_bundled_without_folder_names_the_option(no_network) -> None:
    with pytest.raises(MissingDataFileError, match=r"(?s)'ECG200' is not shipped inside aeon.*dataset.data_dir"
                                                   r".*timeseriesclassification.com.*Nothing is downloaded"):
        UCRDataModule("ECG200").setup()


def test_local_archive_folder_equal_and_unequal_lengths(tmp_path: Path, no_network) -> None:
    rng = np.random.default_rng(0)
    series = [rng.standard_normal((1, 12)) for _ in range(12)]
    labels = ["a", "b"] * 6
    write_ts(tmp_path / "Tiny/Tiny_TRAIN.ts", series, labels, ["a", "b"])
    write_ts(tmp_path / "Tiny/Tiny_TEST.ts", series[:4], labels[:4], ["a", "b"])
    dm = UCRDataModule("Tiny", data_dir=tmp_path, val_fraction=0.25, standardize=False)
    assert dm.meta.class_names == ["a", "b"] and dm.meta.seq_len == 12
    np.testing.assert_allclose(dm.split_arrays("test")["x"].numpy()[:, 0], np.stack(series[:4])[:, 0], atol=1e-4)
    assert dm.split_arrays("test")["y"].tolist() == [0, 1, 0, 1]
    uneven = [rng.standard_normal((2, n)) for n in (8, 10, 12, 9, 11, 8)]
    write_ts(tmp_path / "Uneven/Uneven_TRAIN.ts", uneven, ["x", "y"] * 3, ["x", "y"])
    write_ts(tmp_path / "Uneven/Uneven_TEST.ts", uneven[:2], ["x", "y"], ["x", "y"])
    with pytest.raises(DataValidationError, match=r"different lengths \(8–12\); set dataset.length"):
        UCRDataModule("Uneven", data_dir=tmp_path, archive="uea").setup()
    fixed = UCRDataModule("Uneven", data_dir=tmp_path, archive="uea", length=10, standardize=False)
    x = fixed.split_arrays("test")["x"].numpy()
    assert x.shape == (2, 2, 10) and np.all(x[0, :, 8:] == 0)
    np.testing.assert_allclose(x[1], uneven[1], atol=1e-4)
    with pytest.raises(MissingDataFileError, match=r"Nope/Nope_TRAIN.ts"):
        UCRDataModule("Nope", data_dir=tmp_path).setup()
    (tmp_path / "Bad").mkdir()
    (tmp_path / "Bad/Bad_TRAIN.ts").write_text("@problemName Bad\n@data\n1,2,3\n")
    (tmp_path / "Bad/Bad_TEST.ts").write_text("")
    with pytest.raises(DataValidationError, match=r"Bad_TRAIN.ts is not a readable .ts file"):
        UCRDataModule("Bad", data_dir=tmp_path).setup()
