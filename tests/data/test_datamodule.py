"""ArrayDataModule / SyntheticDataModule: arrays and batches, standardisation on train statistics only,
the on-disk cache, seeded shuffling, label dtypes per task, and a real Lightning fit over the loaders."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from tsexplain.data import datamodule as dm_module
from tsexplain.data.datamodule import ArrayDataModule, SyntheticDataModule
from tsexplain.data.meta import DataMeta
from tsexplain.data.synthetic import generate_splits
from tsexplain.data.validate import DataValidationError

SIZES = {"n_train": 40, "n_val": 8, "n_test": 12}


def synthetic(name: str = "freqshapes", **kw) -> SyntheticDataModule:
    return SyntheticDataModule(name=name, **{**SIZES, "batch_size": 16, **kw})


def test_meta_and_split_arrays() -> None:
    dm = synthetic("seqcomb_uv")
    meta = dm.meta  # before setup: runs it
    assert meta.task == "multiclass" and meta.n_outputs == 4 and meta.has_mask
    assert (meta.n_channels, meta.seq_len) == (1, 200)
    assert meta.class_names == ["none", "dec-dec", "inc-inc", "inc-dec"]
    assert meta.scored_classes == [1, 2, 3] and meta.channel_names == ["ch0"] and meta.units is None
    assert synthetic("freqshapes").meta.scored_classes == [0, 1, 2, 3]
    assert synthetic("freqshapes").meta.class_names == ["down/10", "up/10", "down/17", "up/17"]
    test = dm.split_arrays("test")
    assert set(test) == {"x", "y", "index", "mask"}
    assert test["x"].dtype == torch.float32 and test["x"].shape == (12, 1, 200)
    assert test["y"].dtype == torch.int64 and test["mask"].dtype == torch.bool
    assert torch.equal(test["index"], torch.arange(12))
    # the arrays are the generator's, untouched (standardize=False)
    x, y, mask = generate_splits("seqcomb_uv", **SIZES, split=0, seed=0)["test"]
    np.testing.assert_array_equal(test["x"].numpy(), x)
    np.testing.assert_array_equal(test["mask"].numpy(), mask)
    with pytest.raises(ValueError, match="split='validation' is unknown"):
        dm.split_arrays("validation")


def test_setup_is_idempotent() -> None:
    dm = synthetic()
    dm.prepare_data()
    dm.setup("fit")
    first = dm.split_arrays("train")["x"]
    dm.setup("test")
    assert dm.split_arrays("train")["x"] is first


def test_loaders_yield_dict_batches_train_shuffled_with_seed() -> None:
    dm = synthetic(seed=3)
    batches = list(dm.train_dataloader())
    assert [len(b["x"]) for b in batches] == [16, 16, 8]
    assert set(batches[0]) == {"x", "y", "index", "mask"}
    order = torch.cat([b["index"] for b in batches])
    assert sorted(order.tolist()) == list(range(40)) and not torch.equal(order, torch.arange(40))
    again = torch.cat([b["index"] for b in dm.train_dataloader()])
    assert torch.equal(order, again), "the training order is seeded"
    train = dm.split_arrays("train")
    b = batches[0]
    assert torch.equal(b["x"], train["x"][b["index"]]) and torch.equal(b["y"], train["y"][b["index"]])
    val = torch.cat([b["index"] for b in dm.val_dataloader()])
    assert torch.equal(val, torch.arange(8))


def test_different_splits_and_parts_differ() -> None:
    a, b = synthetic(split=0), synthetic(split=1)
    assert not torch.equal(a.split_arrays("train")["x"], b.split_arrays("train")["x"])
    assert not torch.equal(a.split_arrays("val")["x"], a.split_arrays("test")["x"][:8])


def test_cache_hit_gives_identical_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = synthetic("lowvar", cache_dir=tmp_path)
    first.prepare_data()
    first.setup()
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz", files  # one file, no temp files left behind

    def no_generation(*args, **kwargs):
        raise AssertionError("a cache hit must not regenerate")

    monkeypatch.setattr(dm_module, "generate_splits", no_generation)
    second = synthetic("lowvar", cache_dir=tmp_path)
    second.prepare_data()
    for split in ("train", "val", "test"):
        for key in ("x", "y", "mask"):
            assert torch.equal(first.split_arrays(split)[key], second.split_arrays(split)[key])
    assert len(list(tmp_path.iterdir())) == 1
    # other parameters → another file
    monkeypatch.undo()
    synthetic("lowvar", cache_dir=tmp_path, split=2).prepare_data()
    assert len(list(tmp_path.iterdir())) == 2


def test_corrupt_cache_file_is_regenerated(tmp_path: Path) -> None:
    dm = synthetic(cache_dir=tmp_path)
    dm.prepare_data()
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"half-written")
    again = synthetic(cache_dir=tmp_path)
    assert torch.equal(again.split_arrays("train")["x"], dm.split_arrays("train")["x"])


def test_standardize_uses_train_statistics_only() -> None:
    raw = synthetic("seqcomb_mv")
    std = synthetic("seqcomb_mv", standardize=True)
    x_train = raw.split_arrays("train")["x"].numpy().astype(np.float64)
    mean = x_train.transpose(1, 0, 2).reshape(4, -1).mean(1)
    sd = x_train.transpose(1, 0, 2).reshape(4, -1).std(1)
    np.testing.assert_allclose(std.stats["mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(std.stats["std"], sd, rtol=1e-5)
    for split in ("train", "val", "test"):
        expected = (raw.split_arrays(split)["x"].numpy() - mean[None, :, None]) / sd[None, :, None]
        np.testing.assert_allclose(std.split_arrays(split)["x"].numpy(), expected, rtol=1e-4, atol=1e-5)
        assert torch.equal(std.split_arrays(split)["mask"], raw.split_arrays(split)["mask"])
    # train is exactly standardised per channel; val, scaled with train statistics, is not
    x_std = std.split_arrays("train")["x"].double()
    np.testing.assert_allclose(x_std.mean(dim=(0, 2)).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(x_std.std(dim=(0, 2), unbiased=False).numpy(), 1.0, atol=1e-4)
    assert std.split_arrays("val")["x"].double().mean(dim=(0, 2)).abs().max() > 1e-3


def make_arrays(n: int, task: str = "multiclass", c: int = 2, t: int = 16, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, t)).astype(np.float32)
    if task == "multiclass":
        y = np.arange(n) % 3
    elif task == "multilabel":
        y = rng.integers(0, 2, size=(n, 3))
    else:
        y = rng.normal(size=n)
    return {"x": x, "y": y}


@pytest.mark.parametrize(("task", "shape", "dtype"), [("multiclass", (12,), torch.int64),
                                                      ("multilabel", (12, 3), torch.float32),
                                                      ("regression", (12, 1), torch.float32)])
def test_array_module_label_dtypes(task: str, shape: tuple, dtype: torch.dtype) -> None:
    n_out = 3 if task != "regression" else 1
    meta = DataMeta(name="toy", task=task, n_channels=2, seq_len=16, n_outputs=n_out)
    splits = make_arrays(12, task), make_arrays(6, task, seed=1), make_arrays(12, task, seed=2)
    dm = ArrayDataModule(*splits, meta)
    y = dm.split_arrays("test")["y"]
    assert y.shape == shape and y.dtype == dtype
    assert "mask" not in dm.split_arrays("test")
    assert "mask" not in next(iter(dm.val_dataloader()))


def test_standardize_guards_constant_channel() -> None:
    train = make_arrays(12)
    train["x"][:, 1, :] = 5.0
    meta = DataMeta(name="toy", task="multiclass", n_channels=2, seq_len=16, n_outputs=3)
    dm = ArrayDataModule(train, make_arrays(6), make_arrays(6), meta, standardize=True)
    x = dm.split_arrays("train")["x"]
    assert torch.isfinite(x).all() and torch.all(x[:, 1] == 0)
    assert dm.stats["std"][1] == 1.0


def test_array_module_errors() -> None:
    meta = DataMeta(name="toy", task="multiclass", n_channels=2, seq_len=16, n_outputs=3)
    with pytest.raises(ValueError, match="has no data"):
        ArrayDataModule().setup()
    with pytest.raises(DataValidationError, match=r"\(C, T\) = \(2, 8\) but meta says \(2, 16\)"):
        ArrayDataModule(make_arrays(6), make_arrays(6, t=8), make_arrays(6), meta).setup()
    with pytest.raises(DataValidationError, match=r"split\(s\) \['val'\] are empty"):
        empty = {"x": np.zeros((0, 2, 16), np.float32), "y": np.zeros(0, np.int64)}
        ArrayDataModule(make_arrays(6), empty, make_arrays(6), meta).setup()
    bad_meta = DataMeta(name="toy", task="multiclass", n_channels=2, seq_len=16, n_outputs=3, has_mask=True)
    with pytest.raises(DataValidationError, match="has no mask"):
        ArrayDataModule(make_arrays(6), make_arrays(6), make_arrays(6), bad_meta).setup()
    with pytest.raises(ValueError, match="unknown synthetic dataset"):
        SyntheticDataModule(name="freqshape")
    with pytest.raises(ValueError, match="n_val=2 is too small"):
        SyntheticDataModule(n_val=2)


class TinyNet(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(50, 4))

    def training_step(self, batch, batch_idx):
        assert set(batch) == {"x", "y", "index", "mask"}
        return torch.nn.functional.cross_entropy(self.net(batch["x"]), batch["y"])

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", torch.nn.functional.cross_entropy(self.net(batch["x"]), batch["y"]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_fit_over_the_loaders(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(TinyNet(), datamodule=synthetic("freqshapes"))
    assert trainer.global_step == 3  # 40 train samples / batch 16
    assert "val/loss" in trainer.callback_metrics
