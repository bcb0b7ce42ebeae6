"""Tiny data, a tiny trained black box and a datamodule-like loader for the TimeSAE tests."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tsexplain.data.meta import DataMeta
from tsexplain.models.blackbox import BlackBox

N, C, T, K = 128, 1, 24, 2

# The test machine is shared: one intra-op thread is ~20× faster than two under contention.
torch.set_num_threads(1)


class TinyNet(nn.Module):
    """Conv → ReLU → mean over time → Linear: enough to separate up- from down-bumps."""

    def __init__(self, in_channels: int, seq_len: int, n_outputs: int, width: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, width, 5, padding=2)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x):
        return self.head(F.relu(self.conv(x)).mean(-1))


def make_bumps(n: int = N, seed: int = 0, c: int = C, t: int = T) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class 1: an upward Gaussian bump at a random position; class 0: a downward one; plus noise.

    Returns x [n, c, t], y [n], ground-truth mask [n, c, t] (the bump's support)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    centre = torch.randint(4, t - 4, (n,), generator=g)
    tt = torch.arange(t)[None, :]
    bump = torch.exp(-0.5 * ((tt - centre[:, None]) / 1.5) ** 2)
    sign = (2 * y - 1).float()[:, None]
    x = (sign * 2.0 * bump)[:, None, :].repeat(1, c, 1) + 0.1 * torch.randn(n, c, t, generator=g)
    mask = (bump > 0.1)[:, None, :].repeat(1, c, 1).float()
    return x, y, mask


class DictDataset(Dataset):
    def __init__(self, x, y, mask=None):
        self.x, self.y, self.mask = x, y, mask

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        d = {"x": self.x[i], "y": self.y[i], "index": i}
        if self.mask is not None:
            d["mask"] = self.mask[i]
        return d


class TinyDataModule:
    """Duck-typed datamodule: `meta`, `train_dataloader()`, `val_dataloader()`, `split_arrays(split)`."""

    def __init__(self, n: int = N, seed: int = 0, batch_size: int = 32, c: int = C, t: int = T) -> None:
        self.meta = DataMeta(name="bumps", task="multiclass", n_channels=c, seq_len=t, n_outputs=K, has_mask=True)
        self.splits = {
            "train": make_bumps(n, seed, c, t),
            "val": make_bumps(32, seed + 1, c, t),
            "test": make_bumps(64, seed + 2, c, t),
        }
        self.batch_size = batch_size

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        return DataLoader(DictDataset(*self.splits["train"]), batch_size=self.batch_size, shuffle=True,
                          drop_last=True, generator=g)

    def val_dataloader(self):
        return DataLoader(DictDataset(*self.splits["val"]), batch_size=self.batch_size)

    def split_arrays(self, split: str) -> dict:
        x, y, m = self.splits[split]
        return {"x": x, "y": y, "mask": m}


def train_blackbox(dm: TinyDataModule, steps: int = 150) -> BlackBox:
    torch.manual_seed(0)
    bb = BlackBox(backbone=functools.partial(TinyNet), meta=dm.meta)
    x, y, _ = dm.splits["train"]
    opt = torch.optim.Adam(bb.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(bb(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return bb.eval()


@pytest.fixture(scope="session")
def dm() -> TinyDataModule:
    return TinyDataModule()


@pytest.fixture(scope="session")
def blackbox(dm) -> BlackBox:
    bb = train_blackbox(dm)
    x, y, _ = dm.splits["test"]
    with torch.no_grad():
        acc = (bb(x).argmax(-1) == y).float().mean()
    assert acc > 0.95, f"tiny black box failed to learn the toy task (acc={acc:.2f})"
    return bb


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: multi-process (DDP) runs; deselect with -m 'not slow'")
