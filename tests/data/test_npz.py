"""NpzDataModule: metadata and splits from the user's .npz file; a clear error for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tsexplain.data.npz import NpzDataModule


def arrays(n: int = 60, c: int = 2, t: int = 12, n_classes: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(2.0, 3.0, size=(n, c, t)).astype(np.float32),
        "y": np.arange(n) % n_classes,
        "mask": rng.random((n, c, t)) < 0.2,
    }


def write(tmp_path: Path, name: str = "data.npz", **data) -> Path:
    path = tmp_path / name
    np.savez(path, **data)
    return path


def test_meta_and_stratified_seeded_split(tmp_path: Path) -> None:
    data = arrays()
    path = write(tmp_path, "ecg.npz", **data, channel_names=np.array(["I", "II"]),
                 units=np.array(["mV", "mV"]), class_names=np.array(["normal", "af", "other"]),
                 sampling_rate=np.float64(100.0))
    dm = NpzDataModule(path, standardize=False)
    meta = dm.meta
    assert (meta.name, meta.task, meta.n_outputs) == ("ecg", "multiclass", 3)
    assert (meta.n_channels, meta.seq_len) == (2, 12)
    assert meta.channel_names == ["I", "II"] and meta.units == ["mV", "mV"] and meta.sampling_rate == 100.0
    assert meta.class_names == ["normal", "af", "other"] and meta.has_mask
    sizes = {k: len(v) for k, v in dm.source_index.items()}
    assert sizes == {"train": 42, "val": 9, "test": 9}
    rows = np.concatenate(list(dm.source_index.values()))
    assert sorted(rows.tolist()) == list(range(60)), "splits are disjoint and cover the file"
    for split, idx in dm.source_index.items():
        arr = dm.split_arrays(split)
        np.testing.assert_array_equal(arr["x"].numpy(), data["x"][idx])
        np.testing.assert_array_equal(arr["mask"].numpy(), data["mask"][idx])
        assert np.bincount(arr["y"].numpy(), minlength=3).min() >= 3, "stratified: every class in every split"
    again = NpzDataModule(path, standardize=False)
    again.setup()
    assert all(np.array_equal(dm.source_index[k], again.source_index[k]) for k in dm.source_index)
    other = NpzDataModule(path, standardize=False, seed=1)
    other.setup()
    assert not np.array_equal(dm.source_index["test"], other.source_index["test"])


def test_default_standardize_uses_train_only(tmp_path: Path) -> None:
    data = arrays()
    dm = NpzDataModule(write(tmp_path, **data))  # standardize=True by default
    train = data["x"][dm.source_index["train"]].astype(np.float64)
    mean, sd = train.mean(axis=(0, 2)), train.std(axis=(0, 2))
    test = data["x"][dm.source_index["test"]]
    expected = (test - mean[None, :, None]) / sd[None, :, None]
    np.testing.assert_allclose(dm.split_arrays("test")["x"].numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("split", [np.array(["train"] * 30 + ["val"] * 10 + ["test"] * 20),
                                   np.array([0] * 30 + [1] * 10 + [2] * 20)])
def test_explicit_split_array(tmp_path: Path, split: np.ndarray) -> None:
    dm = NpzDataModule(write(tmp_path, **arrays(), split=split))
    dm.setup()
    assert dm.source_index["val"].tolist() == list(range(30, 40))
    assert len(dm.split_arrays("test")["x"]) == 20
    assert torch.equal(dm.split_arrays("test")["index"], torch.arange(20))


def test_n_outputs_inferred(tmp_path: Path) -> None:
    data = arrays(n_classes=5)
    assert NpzDataModule(write(tmp_path, x=data["x"], y=data["y"])).meta.n_outputs == 5
    multilabel = (np.random.default_rng(0).random((60, 4)) < 0.5).astype(np.int64)
    dm = NpzDataModule(write(tmp_path, "ml.npz", x=data["x"], y=multilabel), task="multilabel")
    assert dm.meta.n_outputs == 4 and dm.split_arrays("train")["y"].dtype == torch.float32
    assert not dm.meta.has_mask and "mask" not in dm.split_arrays("train")
    reg = NpzDataModule(write(tmp_path, "reg.npz", x=data["x"], y=np.linspace(0, 1, 60)), task="regression")
    assert reg.meta.n_outputs == 1 and reg.split_arrays("val")["y"].shape[1] == 1


def bad(tmp_path: Path, **changes) -> Path:
    data = {**arrays(), **changes}
    return write(tmp_path, "bad.npz", **{k: v for k, v in data.items() if v is not None})


def nan_x() -> np.ndarray:
    x = arrays()["x"]
    x[3, 1, 4] = np.nan
    x[7, 0, 0] = np.inf
    return x


@pytest.mark.parametrize(
    ("changes", "kwargs", "match"),
    [
        ({"x": None}, {}, r"no key\(s\) \['x'\]; keys present: \['mask', 'y'\]"),
        ({"x": arrays()["x"][:, 0, :]}, {}, r"shape \(60, 12\) \(rank 2\); expected rank 3.*x\[:, None, :\]"),
        ({"x": nan_x()}, {}, r"x contains 2 NaN/inf value\(s\), the first at index \(3, 1, 4\); impute"),
        ({"y": np.where(np.arange(60) == 5, np.nan, np.arange(60) % 3)}, {}, r"y contains 1 NaN/inf.*\(5,\)"),
        ({"mask": np.zeros((60, 2, 11), bool)}, {}, r"mask has shape \(60, 2, 11\) but x has \(60, 2, 12\)"),
        ({"y": np.arange(60) % 3 + 0.5}, {}, r"non-integer"),
        ({"y": np.arange(60) % 3 - 1}, {}, r"negative labels"),
        ({"y": np.arange(60) % 3, "class_names": np.array(["a", "b"])}, {}, r"outside \[0, 2\)"),
        ({"y": np.arange(59) % 3}, {}, r"x has 60 samples but y has 59"),
        ({"split": np.array(["train", "valid"] * 30)}, {}, r"split has values \['valid'\]"),
        ({"split": np.array([0, 1, 3] * 20)}, {}, r"split has values \[3\]"),
        ({"split": np.array([0, 2] * 30)}, {}, r"split\(s\) \['val'\] are empty"),
    ],
)
def test_bad_inputs_fail_clearly(tmp_path: Path, changes: dict, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NpzDataModule(bad(tmp_path, **changes), **kwargs).setup()


def test_missing_file_says_path_and_contents(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(ValueError, match=r"nowhere\.npz.*does not exist.*x \(N, C, T\) and y") as err:
        NpzDataModule(missing).setup()
    assert isinstance(err.value, FileNotFoundError)


def test_bad_options_fail_at_construction(tmp_path: Path) -> None:
    path = write(tmp_path, **arrays())
    with pytest.raises(ValueError, match="task='classification' is unknown"):
        NpzDataModule(path, task="classification")
    with pytest.raises(ValueError, match=r"split_fractions=\[0.7, 0.2, 0.2\] is invalid.*sum to 1"):
        NpzDataModule(path, split_fractions=[0.7, 0.2, 0.2])
    with pytest.raises(ValueError, match="three positive fractions"):
        NpzDataModule(path, split_fractions=[1.0, 0.0, 0.0])


def test_object_arrays_are_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, **arrays(), class_names=np.array(["a", None, "c"], dtype=object))
    with pytest.raises(ValueError, match="object array.*np.array\\(list_of_str\\)"):
        NpzDataModule(path).setup()
