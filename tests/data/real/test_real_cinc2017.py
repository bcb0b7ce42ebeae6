"""CinC 2017 loader on training2017-style fixtures (MATLAB v4 .mat + .hea read by wfdb, REFERENCE.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from real_writers import CINC_FS, write_cinc

from tsexplain.data.real import CinC2017DataModule
from tsexplain.data.validate import DataValidationError, MissingDataFileError


@pytest.fixture(scope="module")
def cinc(tmp_path_factory) -> Path:
    return write_cinc(tmp_path_factory.mktemp("training2017"))


def raw(root: Path, name: str) -> np.ndarray:
    return scipy.io.loadmat(root / f"{name}.mat")["val"][0] / 1000.0


def test_crop_pad_labels_and_stratified_folds(cinc: Path) -> None:
    dm = CinC2017DataModule(cinc, length_s=10, n_folds=4, val_fold=1, test_fold=2, standardize=False)
    meta = dm.meta
    assert (meta.n_channels, meta.seq_len, meta.sampling_rate, meta.units) == (1, 3000, 300.0, ["mV"])
    assert meta.class_names == ["N", "A", "O", "~"] and meta.extra_metrics == ["challenge_f1"]
    arrays = dm.arrays()
    seen = []
    for split in ("train", "val", "test"):
        y = arrays[f"{split}_y"]
        counts = np.bincount(y, minlength=4)
        assert counts.min() == counts.max() >= 1, "stratified: each fold holds every class equally"
        for x, label, name in zip(arrays[f"{split}_x"], y, arrays[f"{split}_record"], strict=True):
            i = int(name[1:])
            assert meta.class_names[label] == ["N", "A", "O", "~"][(i - 1) % 4]
            signal = raw(cinc, name)
            n = min(len(signal), 3000)
            np.testing.assert_allclose(x[0, :n], signal[:n], atol=1e-6)  # crop=start keeps the first 10 s
            assert np.all(x[0, n:] == 0), "shorter records are zero-padded at the end"
            seen.append(name)
    assert sorted(seen) == [f"A{i:05d}" for i in range(1, 17)]
    centre = CinC2017DataModule(cinc, length_s=10, crop="center", n_folds=4, standardize=False).arrays()
    k = list(centre["train_record"]).index(next(r for r in centre["train_record"] if len(raw(cinc, r)) > 3000))
    signal = raw(cinc, centre["train_record"][k])
    a = (len(signal) - 3000) // 2
    np.testing.assert_allclose(centre["train_x"][k, 0], signal[a:a + 3000], atol=1e-6)
    assert CINC_FS == 300


def test_class_subset_and_metric_choice(cinc: Path) -> None:
    dm = CinC2017DataModule(cinc, classes=["N", "A", "O"], length_s=5, n_folds=3, val_fold=0, test_fold=2)
    assert dm.meta.n_outputs == 3 and dm.meta.extra_metrics == ["challenge_f1"]
    no_n = CinC2017DataModule(cinc, classes=["A", "O", "~"], length_s=5, n_folds=3, val_fold=0, test_fold=2)
    assert no_n.meta.extra_metrics == [] and no_n.meta.class_names == ["A", "O", "~"]


def test_bad_input(tmp_path: Path, cinc: Path) -> None:
    with pytest.raises(MissingDataFileError, match=r"(?s)REFERENCE.csv.*A00001.hea, A00001.mat.*challenge-2017"):
        CinC2017DataModule(tmp_path).setup()
    with pytest.raises(DataValidationError, match=r"entry='B'.*'N', 'A', 'O', '~'"):
        CinC2017DataModule(cinc, classes=["N", "B"])
    bad = write_cinc(tmp_path / "bad", labels=["N", "A", "X", "O"])
    with pytest.raises(DataValidationError, match=r"label\(s\) \['X'\] \(e.g. record A00003\)"):
        CinC2017DataModule(bad, n_folds=3).setup()
    with pytest.raises(DataValidationError, match="too small for 10 stratified folds"):
        CinC2017DataModule(cinc).setup()
