"""`ArrayDataModule`: a LightningDataModule over in-memory train/val/test arrays; the synthetic benchmarks.

Batches are dicts: `x` float32 [B, C, T], `y` (int64 [B] multiclass; float32 [B, L] multilabel/regression),
`index` int64 [B] (position within the split) and `mask` bool [B, C, T] when the dataset has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, default_collate

from tsexplain.data import validate
from tsexplain.data.cache import cached
from tsexplain.data.meta import DataMeta
from tsexplain.data.synthetic import GENERATOR_VERSION, PARTS, SPECS, check_name, generate_splits

N_SPLITS = 5  # TimeX's five independently generated splits per synthetic dataset

SPLITS = ("train", "val", "test")


class DictDataset(Dataset):
    """Samples of a dict of equal-length tensors; `__getitems__` slices a whole batch at once (fast)."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        self.tensors = dict(tensors)
        self.n = len(next(iter(self.tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {k: v[idx] for k, v in self.tensors.items()}


def collate_dict(batch):
    """Pass batches that `DictDataset.__getitems__` already stacked; collate lists of samples as usual."""
    return batch if isinstance(batch, dict) else default_collate(batch)


class EpochSampler(RandomSampler):
    """A seeded shuffle whose order in epoch e depends only on (seed, e), so a resumed training shuffles like the
    uninterrupted one (Lightning calls `set_epoch` at each epoch start, resumed runs included).

    It reproduces exactly what the former `DataLoader(shuffle=True, generator=manual_seed(seed))` drew under
    Lightning, one generator for all epochs: per epoch the loader's base seed, then one permutation, then
    RandomSampler's trailing empty `randperm` only when the last batch is partial (the batch sampler then asks
    past the end; Lightning stops after len(loader) batches otherwise). Epoch e replays the e epochs before it
    (a few `randperm`s, cheap), so an uninterrupted run's results are unchanged.
    A subclass of RandomSampler: under DDP, Lightning replaces it by a DistributedSampler as before.
    """

    def __init__(self, data_source, seed: int, batch_size: int) -> None:
        super().__init__(data_source)
        self.seed = int(seed)
        self.epoch = 0
        self._partial_last = len(data_source) % int(batch_size) != 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _permutation(self, g: torch.Generator) -> torch.Tensor:
        torch.empty((), dtype=torch.int64).random_(generator=g)  # the loader's base seed, as before
        return torch.randperm(len(self.data_source), generator=g)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed)
        n = len(self.data_source)
        for _ in range(self.epoch):
            self._permutation(g)
            if self._partial_last:
                torch.randperm(n, generator=g)
        yield from self._permutation(g).tolist()
        if self._partial_last:
            torch.randperm(n, generator=g)  # not used: keeps the generator where it was before (see above)


def fit_standardizer(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of x [N, C, T] over samples and time; a constant channel gets std 1."""
    mean = x.mean(axis=(0, 2), dtype=np.float64)
    std = x.std(axis=(0, 2), dtype=np.float64)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return mean, std


class ArrayDataModule(L.LightningDataModule):
    """Holds train/val/test arrays and serves them as dict batches; `meta` describes them.

    Pass the arrays directly (`train={"x":..., "y":..., "mask":...}`, ..., `meta=DataMeta(...)`) or subclass
    and override `load()`. `setup()` validates, standardises (statistics of the train split only) and is
    idempotent; `meta` before `setup()` runs it.
    """

    def __init__(
        self,
        train: Mapping[str, np.ndarray] | None = None,
        val: Mapping[str, np.ndarray] | None = None,
        test: Mapping[str, np.ndarray] | None = None,
        meta: DataMeta | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        standardize: bool = False,
        shuffle_seed: int = 0,
        standardize_targets: bool = False,
    ) -> None:
        super().__init__()
        if int(batch_size) < 1:
            raise ValueError(f"batch_size={batch_size} must be a positive integer.")
        if int(num_workers) < 0:
            raise ValueError(f"num_workers={num_workers} must be >= 0 (0 loads in the main process).")
        given = {"train": train, "val": val, "test": test}
        self._given = None if all(v is None for v in given.values()) and meta is None else (given, meta)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        self.standardize = bool(standardize)
        # y holds future values of x's channels (forecasting, channel-major [N, C·H]): standardised with x's statistics
        self.standardize_targets = bool(standardize_targets)
        self.shuffle_seed = int(shuffle_seed)
        self._stats: dict[str, np.ndarray] | None = None
        self._tensors: dict[str, dict[str, torch.Tensor]] | None = None
        self._meta: DataMeta | None = None

    # -- what subclasses provide ---------------------------------------------------------------------------
    def load(self) -> tuple[dict[str, Mapping[str, np.ndarray]], DataMeta]:
        """The splits ({"train": {"x", "y", optional "mask"}, "val": ..., "test": ...}) and their meta."""
        if self._given is None:
            raise ValueError(
                "ArrayDataModule has no data: pass train=/val=/test= dicts of arrays and meta=DataMeta(...), "
                "or use a subclass that loads them (SyntheticDataModule, NpzDataModule)."
            )
        splits, meta = self._given
        missing = [k for k, v in splits.items() if v is None]
        if missing or meta is None:
            raise ValueError(f"ArrayDataModule needs train, val and test arrays and a meta; missing: "
                             f"{missing + ([] if meta is not None else ['meta'])}.")
        return splits, meta

    # -- Lightning hooks -----------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self._tensors is not None:
            return
        raw, meta = self.load()
        splits = {name: self._checked(name, raw[name], meta) for name in SPLITS}
        if self.standardize:
            mean, std = fit_standardizer(splits["train"]["x"])
            self._stats = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
            for s in splits.values():
                with np.errstate(over="ignore", invalid="ignore"):
                    s["x"] = ((s["x"] - mean[None, :, None]) / std[None, :, None]).astype(np.float32)
                    if self.standardize_targets:  # the context and the values to forecast on one scale
                        y = s["y"].reshape(len(s["y"]), len(mean), -1)
                        s["y"] = ((y - mean[None, :, None]) / std[None, :, None]).reshape(len(y), -1).astype(
                            np.float32)
        for name, s in splits.items():  # what the model receives: float32 (and standardised), not the file's values
            validate.check_model_input(s["x"], np.asarray(raw[name]["x"]).dtype, f"{name} x", self.standardize)
        self._tensors = {name: self._to_tensors(s) for name, s in splits.items()}
        self._meta = meta

    @property
    def meta(self) -> DataMeta:
        """What the data is (task, shape, names); runs `setup()` first if needed."""
        if self._meta is None:
            self.setup()
        assert self._meta is not None
        return self._meta

    @property
    def stats(self) -> dict[str, np.ndarray] | None:
        """Per-channel train `mean` and `std` [C] used to standardise (None when standardize=False)."""
        if self._tensors is None:
            self.setup()
        return self._stats

    def split_arrays(self, split: str) -> dict[str, torch.Tensor]:
        """All of one split as tensors: x, y, index and (if the dataset has masks) mask."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is unknown; use one of {SPLITS}.")
        if self._tensors is None:
            self.setup()
        assert self._tensors is not None
        return dict(self._tensors[split])

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    # -- helpers -------------------------------------------------------------------------------------------
    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = DictDataset(self.split_arrays(split))
        # The loader keeps its own generator (worker base seeds; never the global RNG, as before), the sampler its
        # epoch-indexed shuffle.
        generator = torch.Generator().manual_seed(self.shuffle_seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=EpochSampler(dataset, self.shuffle_seed, self.batch_size) if shuffle else None,
            generator=generator,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate_dict,
        )

    @staticmethod
    def _checked(name: str, split: Mapping[str, np.ndarray], meta: DataMeta) -> dict[str, np.ndarray]:
        """Validate one split against meta; returns x float32, y in the task's dtype, mask bool (if any)."""
        validate.check_keys(list(split), ["x", "y"], f"the {name} split")
        x = np.asarray(split["x"])
        validate.check_nonempty({name: len(x)})
        validate.check_x(x, f"{name} x")
        if x.shape[1:] != (meta.n_channels, meta.seq_len):
            raise validate.DataValidationError(
                f"{name} x has (C, T) = {x.shape[1:]} but meta says ({meta.n_channels}, {meta.seq_len}); "
                "every split must have the same channels and length (resample or crop them first)."
            )
        y = np.asarray(split["y"])
        mask = split.get("mask")
        validate.check_lengths(len(x), y=y, mask=mask)
        n_classes = meta.n_outputs if meta.task == "multiclass" else None
        with np.errstate(over="ignore"):  # overflow to inf is reported by check_model_input in setup()
            x32 = x.astype(np.float32)
        out = {"x": x32, "y": validate.check_labels(y, meta.task, n_classes)}
        if meta.task != "multiclass" and out["y"].shape[1] != meta.n_outputs:
            raise validate.DataValidationError(
                f"{name} y has {out['y'].shape[1]} columns but meta.n_outputs={meta.n_outputs}; "
                "they must match."
            )
        if meta.has_mask:
            if mask is None:
                raise validate.DataValidationError(f"meta.has_mask is true but the {name} split has no mask; "
                                                   "give a mask for every split or set has_mask=False.")
            out["mask"] = validate.check_mask(np.asarray(mask), x.shape)
        return out

    @staticmethod
    def _to_tensors(split: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in split.items()}
        tensors["index"] = torch.arange(len(split["x"]), dtype=torch.int64)
        return tensors


class SyntheticDataModule(ArrayDataModule):
    """A TimeX synthetic benchmark (freqshapes, seqcomb_uv, seqcomb_mv, lowvar) with its ground-truth masks.

    `split` picks one of TimeX's independently generated splits (0–4 in the benchmark); `(name, split, seed)`
    fix the data. Generated arrays are cached under `cache_dir` (None: no cache).
    """

    def __init__(
        self,
        name: str = "freqshapes",
        split: int = 0,
        seed: int = 0,
        n_train: int = 5000,
        n_val: int = 100,
        n_test: int = 1000,
        cache_dir: str | Path | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        standardize: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                         standardize=standardize, shuffle_seed=seed)
        self.name = check_name(name)
        if int(split) < 0 or int(seed) < 0:
            raise ValueError(f"split={split} and seed={seed} must be non-negative integers "
                             "(splits 0–4 are the benchmark's five).")
        if int(split) >= N_SPLITS:
            raise ValueError(f"dataset.split={split} is outside the {N_SPLITS} generated splits of {name} "
                             f"(0–{N_SPLITS - 1}, as TimeX's benchmark); pick one of them, or vary seed= for more "
                             "independent draws.")
        for part, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if int(n) < 4:
                raise ValueError(f"{part}={n} is too small: each split needs n >= 4 for 4 balanced classes.")
        self.split, self.seed = int(split), int(seed)
        self.sizes = {"train": int(n_train), "val": int(n_val), "test": int(n_test)}
        self.cache_dir = cache_dir

    def cache_params(self) -> dict[str, object]:
        """Everything that determines the arrays (it names the cache file)."""
        return {"name": self.name, "n_train": self.sizes["train"], "n_val": self.sizes["val"],
                "n_test": self.sizes["test"], "split": self.split, "seed": self.seed,
                "version": GENERATOR_VERSION}

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat dict {"train_x", "train_y", "train_mask", ...} from the cache, generating it on a miss."""

        def build() -> dict[str, np.ndarray]:
            parts = generate_splits(self.name, self.sizes["train"], self.sizes["val"], self.sizes["test"],
                                    self.split, self.seed)
            return {f"{p}_{k}": a for p in PARTS for k, a in zip(("x", "y", "mask"), parts[p], strict=True)}

        return cached(build, self.cache_params(), self.cache_dir, prefix=self.name)

    def prepare_data(self) -> None:
        if self.cache_dir is not None:  # generate once (rank 0); every process's setup() then reads the file
            self.arrays()

    def load(self) -> tuple[dict[str, dict[str, np.ndarray]], DataMeta]:
        arrays = self.arrays()
        splits = {p: {k: arrays[f"{p}_{k}"] for k in ("x", "y", "mask")} for p in PARTS}
        spec = SPECS[self.name]
        meta = DataMeta(
            name=self.name,
            task="multiclass",
            n_channels=spec.n_channels,
            seq_len=spec.seq_len,
            n_outputs=len(spec.class_names),
            channel_names=[f"ch{i}" for i in range(spec.n_channels)],
            sampling_rate=1.0,
            units=None,
            class_names=list(spec.class_names),
            has_mask=True,
            scored_classes=list(spec.scored_classes),
        )
        return splits, meta
