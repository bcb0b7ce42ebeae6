"""PTB-XL loader on a fixture written in the published layout (wfdb.wrsamp records, the two CSVs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from real_writers import SCP_CODES, write_ptbxl

from tsexplain.data.real import PTBXLDataModule, RealDataWarning
from tsexplain.data.validate import DataValidationError, MissingDataFileError


@pytest.fixture(scope="module")
def ptbxl(tmp_path_factory) -> Path:
    return write_ptbxl(tmp_path_factory.mktemp("ptbxl"), n=20)


def test_superdiagnostic_multilabel_folds_and_meta(ptbxl: Path) -> None:
    dm = PTBXLDataModule(ptbxl, standardize=False)
    meta = dm.meta
    assert (meta.task, meta.n_channels, meta.seq_len, meta.sampling_rate) == ("multilabel", 12, 1000, 100.0)
    assert meta.channel_names == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert meta.units == ["mV"] * 12 and meta.extra_metrics == ["macro_auroc"]
    assert meta.class_names == ["CD", "HYP", "MI", "NORM", "STTC"]
    ids = dm.ecg_ids
    # strat_fold = (ecg_id - 1) % 10 + 1; records 6, 12, 18 carry only PVC (no diagnostic code) and are left out.
    assert ids["val"].tolist() == [9, 19] and ids["test"].tolist() == [10, 20]
    assert sorted(ids["train"].tolist()) == [i for i in range(1, 21) if (i - 1) % 10 < 8 and i % 6 != 0]
    y = dm.split_arrays("train")["y"].numpy()
    row = {int(i): y[k] for k, i in enumerate(ids["train"])}
    expect = {1: {"NORM"}, 2: {"HYP", "MI"}, 3: {"MI"}, 4: {"STTC"}, 5: {"CD", "NORM"}}
    for ecg_id, labels in expect.items():
        assert {meta.class_names[j] for j in np.flatnonzero(row[ecg_id])} == labels
    signal, _ = wfdb.rdsamp(str(ptbxl / "records100/00000/00002_lr"))
    x = dm.split_arrays("train")["x"].numpy()[list(ids["train"]).index(2)]
    np.testing.assert_allclose(x, signal.T, atol=1e-6)


@pytest.mark.parametrize("task, expected", [
    ("diagnostic", [["NORM"], ["IMI", "LVH"], ["ASMI"], ["NDT"], ["LAFB", "NORM"], []]),
    ("subdiagnostic", [["NORM"], ["IMI", "LVH"], ["AMI"], ["STTC"], ["LAFB/LPFB", "NORM"], []]),
    ("form", [[], [], [], ["NDT", "PVC"], [], ["PVC"]]),
    ("rhythm", [["SR"], ["SR"], ["AFIB"], ["SR"], ["AFIB"], []]),
    ("all", [sorted(c) for c in SCP_CODES]),
])
def test_label_aggregation_per_task(ptbxl: Path, task: str, expected: list[list[str]]) -> None:
    dm = PTBXLDataModule(ptbxl, task=task)
    db, statements = dm.read_tables()
    assert dm.labels(db.iloc[:6], statements) == expected


def test_single_label_and_500_hz(tmp_path: Path) -> None:
    root = write_ptbxl(tmp_path, n=10, rates=(500,), codes=[{"NORM": 100.0}, {"IMI": 100.0},
                                                                 {"IMI": 1, "LVH": 1}, {"NORM": 80.0}])
    dm = PTBXLDataModule(root, sampling_rate=500, single_label=True, standardize=False)
    meta = dm.meta
    assert (meta.task, meta.seq_len, meta.sampling_rate, meta.class_names) == ("multiclass", 5000, 500.0,
                                                                                ["MI", "NORM"])
    kept = np.concatenate(list(dm.ecg_ids.values()))
    assert sorted(kept.tolist()) == [i for i in range(1, 11) if i % 4 != 3], "two-label records are left out"
    assert dm.split_arrays("val")["y"].tolist() == [1]  # ecg_id 9: NORM
    assert dm.split_arrays("test")["y"].tolist() == [0]  # ecg_id 10: IMI → MI


def test_bad_options_name_the_choices(ptbxl: Path) -> None:
    with pytest.raises(DataValidationError, match=r"sampling_rate=250.*100, 500"):
        PTBXLDataModule(ptbxl, sampling_rate=250)
    with pytest.raises(DataValidationError, match=r"task='rhythms'.*'superdiagnostic'.*'rhythm'"):
        PTBXLDataModule(ptbxl, task="rhythms")
    with pytest.raises(DataValidationError, match="disjoint"):
        PTBXLDataModule(ptbxl, val_folds=[8])


def test_unknown_scp_code_is_named(tmp_path: Path) -> None:
    root = write_ptbxl(tmp_path, n=10, codes=[{"NORM": 100.0}, {"XYZ": 100.0}])
    with pytest.raises(DataValidationError, match=r"ecg_id 2 has SCP code\(s\) \['XYZ'\].*scp_statements.csv"):
        PTBXLDataModule(root).setup()


def test_missing_layout_shows_layout_and_download_page(tmp_path: Path) -> None:
    with pytest.raises(MissingDataFileError) as err:
        PTBXLDataModule(tmp_path).setup()
    text = str(err.value)
    assert "ptbxl_database.csv" in text and "records100/00000/00001_lr.hea" in text
    assert "https://physionet.org/content/ptb-xl/" in text
    with pytest.raises(MissingDataFileError, match="needs dataset.data_dir"):
        PTBXLDataModule(None).setup()


def test_corrupt_records_skipped_with_count_then_fail(tmp_path: Path) -> None:
    root = write_ptbxl(tmp_path / "a", n=20)
    dat = root / "records100/00000/00001_lr.dat"
    dat.write_bytes(dat.read_bytes()[:1000])  # truncated
    with pytest.warns(RealDataWarning, match=r"1 of 17 records could not be read.*\b1 \("):
        dm = PTBXLDataModule(root, max_bad_fraction=0.1)
        dm.setup()
    assert 1 not in dm.ecg_ids["train"]
    for i in (2, 3):
        (root / f"records100/00000/{i:05d}_lr.dat").write_bytes(b"")
    cache = tmp_path / "cache"
    with pytest.raises(DataValidationError, match=r"3 of 17 records.*max_bad_fraction=0.1"):
        PTBXLDataModule(root, max_bad_fraction=0.1, cache_dir=cache).setup()
    assert not cache.exists() or not any(cache.iterdir()), "nothing cached after a failure"


def test_damaged_database_csv(tmp_path: Path, ptbxl: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(ptbxl, root)
    db = pd.read_csv(root / "ptbxl_database.csv").drop(columns=["strat_fold"])
    db.to_csv(root / "ptbxl_database.csv", index=False)
    with pytest.raises(DataValidationError, match=r"lacks the column\(s\) \['strat_fold'\]"):
        PTBXLDataModule(root).setup()
