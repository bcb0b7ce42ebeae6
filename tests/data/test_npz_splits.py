"""Too few samples, a class absent from train, too few class names: our own message, before anything trains."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from tsexplain.data.npz import NpzDataModule, split_sizes
from tsexplain.data.validate import DataValidationError


def _file(tmp_path, y, split=None):
    rng = np.random.default_rng(0)
    arrays = {"x": rng.normal(size=(len(y), 1, 16)).astype(np.float32), "y": np.asarray(y)}
    if split is not None:
        arrays["split"] = np.asarray(split)
    np.savez(tmp_path / "d.npz", **arrays)
    return tmp_path / "d.npz"


@pytest.mark.parametrize("n", [4, 7, 10, 23, 101])
def test_split_sizes_are_the_sizes_the_seeded_splits_give(n):
    train, rest = train_test_split(np.arange(n), test_size=0.3, random_state=0)
    val, test = train_test_split(rest, test_size=0.5, random_state=1)
    assert split_sizes(n, (0.7, 0.15, 0.15)) == (len(train), len(val), len(test))


def test_too_few_samples_name_the_sizes_and_the_smallest_workable_count(tmp_path):
    with pytest.raises(DataValidationError) as err:
        NpzDataModule(_file(tmp_path, [0, 1, 2])).setup()
    msg = str(err.value)
    assert "train/val/test = 2/0/1" in msg and "at least 4 samples" in msg and "split_fractions" in msg
    NpzDataModule(_file(tmp_path, [0, 1, 0, 1])).setup()  # the count it names is enough


def test_a_class_missing_from_train_is_refused_with_the_class_counts(tmp_path):
    pattern = r"class\(es\) \[1\] have no sample in the train split .* \{0: 5, 1: 1\}"
    with pytest.raises(DataValidationError, match=pattern):
        NpzDataModule(_file(tmp_path, [0, 0, 0, 0, 0, 1])).setup()


def test_a_split_array_without_a_class_in_train_is_refused(tmp_path):
    path = _file(tmp_path, [0, 0, 1, 1, 0, 1], split=["train", "train", "val", "test", "val", "test"])
    with pytest.raises(DataValidationError, match=r"\[1\] have no sample in the train split .* split array"):
        NpzDataModule(path).setup()


def test_fewer_class_names_than_classes_names_both_counts(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(20, 1, 16)).astype(np.float32), y=np.arange(20) % 2,
             class_names=np.array(["normal"]))
    pattern = r"outside \[0, 1\).* has 1 name\(s\) \['normal'\] for 2 classes"
    with pytest.raises(DataValidationError, match=pattern):
        NpzDataModule(tmp_path / "d.npz").setup()
