"""PAMAP2 loader on Protocol-style .dat fixtures (54 space-separated columns, NaN for missing values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from real_writers import pamap2_rows, write_pamap2

from tsexplain.data.real import PAMAP2DataModule, RealDataWarning
from tsexplain.data.validate import DataValidationError, MissingDataFileError

RUNS = {101: [(1, 1300), (0, 100), (2, 1000), (4, 700), (5, 900)], 102: [(1, 900), (2, 900), (4, 1300)],
        103: [(2, 700), (1, 700), (4, 700)]}


@pytest.fixture(scope="module")
def pamap(tmp_path_factory) -> Path:
    return write_pamap2(tmp_path_factory.mktemp("PAMAP2_Dataset"), RUNS, nan_rows=5)


def segments(length: int, window: int = 600, stride: int = 300) -> int:
    return 0 if length < window else (length - window) // stride + 1


def test_segments_channels_and_labels(pamap: Path) -> None:
    dm = PAMAP2DataModule(pamap, activities=[1, 2, 4], subjects=[101, 102, 103], standardize=False)
    meta = dm.meta
    assert meta.class_names == ["lying", "sitting", "walking"] and meta.sampling_rate == 100.0
    assert meta.n_channels == 27 and meta.seq_len == 600
    assert meta.channel_names[:4] == ["hand_acc16_x", "hand_acc16_y", "hand_acc16_z", "hand_gyro_x"]
    assert meta.units[:4] == ["m/s²", "m/s²", "m/s²", "rad/s"] and meta.units[-1] == "μT"
    y = np.concatenate([dm.split_arrays(s)["y"].numpy() for s in ("train", "val", "test")])
    want = {a: sum(segments(n) for runs in RUNS.values() for b, n in runs if b == a) for a in (1, 2, 4)}
    assert np.bincount(y).tolist() == [want[1], want[2], want[4]], "activity 0 and 5 (running) are left out"
    assert np.isfinite(dm.split_arrays("train")["x"].numpy()).all(), "interpolate (default) fills the IMU dropout"
    rows = pamap2_rows(RUNS[102], seed=102)
    second = rows[1200:1800, 4:7].T  # subject 102's sitting run (rows 900–1799): its second segment, hand acc16 xyz
    found = [(s, k) for s in ("train", "val", "test") for k, xk in enumerate(dm.split_arrays(s)["x"].numpy())
             if np.allclose(xk[:3], second, atol=1e-4)]
    assert len(found) == 1 and int(dm.split_arrays(found[0][0])["y"][found[0][1]]) == 1


def test_nan_policies_and_heart_rate(pamap: Path) -> None:
    base = dict(activities=[1, 2, 4], subjects=[101, 102, 103])
    with pytest.raises(DataValidationError, match=r"hand_acc16_x.*nan_policy=interpolate"):
        PAMAP2DataModule(pamap, nan_policy="fail", **base).setup()
    drop = PAMAP2DataModule(pamap, nan_policy="drop", **base)
    full = PAMAP2DataModule(pamap, **base)
    n = lambda d: sum(len(d.split_arrays(s)["y"]) for s in ("train", "val", "test"))  # noqa: E731
    assert n(drop) == n(full) - 3, "rows 10–14 of each file sit in the first segment of its first run"
    hr = PAMAP2DataModule(pamap, heart_rate=True, signals=["temp"], imus=["chest"], **base)
    assert hr.meta.channel_names == ["heart_rate", "chest_temp"] and hr.meta.units == ["bpm", "°C"]
    assert np.isfinite(hr.split_arrays("train")["x"].numpy()).all(), "heart rate (~9 Hz) interpolated to 100 Hz"


def test_subject_split(pamap: Path) -> None:
    dm = PAMAP2DataModule(pamap, activities=[1, 2, 4], subjects=[101, 102, 103], split="subject",
                          val_subjects=[102], test_subjects=[103])
    dm.setup()
    a = dm.arrays()
    assert set(a["train_subject"].tolist()) == {101} and set(a["val_subject"].tolist()) == {102}
    assert set(a["test_subject"].tolist()) == {103}
    with pytest.raises(DataValidationError, match="disjoint, non-empty val_subjects"):
        PAMAP2DataModule(pamap, subjects=[101, 102, 103], split="subject", val_subjects=[102], test_subjects=[102])


def test_bad_input(tmp_path: Path, pamap: Path) -> None:
    with pytest.raises(MissingDataFileError, match=r"(?s)Protocol.*subject101.dat.*pamap2"):
        PAMAP2DataModule(tmp_path).setup()
    with pytest.raises(MissingDataFileError, match=r"subject104.dat"):
        PAMAP2DataModule(pamap, subjects=[101, 104]).setup()
    with pytest.raises(DataValidationError, match=r"activities entry=8 .*1, 2, 3"):
        PAMAP2DataModule(pamap, activities=[1, 8])
    root = write_pamap2(tmp_path / "p", {s: [(1, 1500), (2, 1500)] for s in (101, 102, 103, 104)})
    f = root / "Protocol/subject104.dat"
    f.write_text("\n".join(" ".join(line.split()[:53]) for line in f.read_text().splitlines()) + "\n")
    with pytest.warns(RealDataWarning, match=r"1 of 4 subject files could not be read.*53 columns"):
        PAMAP2DataModule(root, activities=[1, 2], subjects=[101, 102, 103, 104], max_bad_fraction=0.3).setup()
    with pytest.raises(DataValidationError, match="max_bad_fraction=0.05"):
        PAMAP2DataModule(root, activities=[1, 2], subjects=[101, 102, 103, 104]).setup()
