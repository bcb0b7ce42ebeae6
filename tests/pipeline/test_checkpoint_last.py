"""`last.ckpt` follows every epoch even when the monitored metric stops improving (resume_from needs it)."""

from __future__ import annotations

import lightning as L
import torch

from tsexplain.utils.checkpoint import ModelCheckpoint


class _Flat(L.LightningModule):
    """Trains, but its validation metric never improves after epoch 0 (like val/f1 saturating at 1.0)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.lin(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/f1", 1.0)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_last_checkpoint_is_the_last_epoch_not_the_best(tmp_path):
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=4)
    ck = ModelCheckpoint(dirpath=tmp_path, monitor="val/f1", mode="max", save_last=True, filename="epoch_{epoch:03d}",
                         auto_insert_metric_name=False)
    L.Trainer(max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
              callbacks=[ck]).fit(_Flat(), dl, dl)
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["epoch"] == 2
    assert sorted(p.name for p in tmp_path.glob("epoch_*.ckpt")) == ["epoch_000.ckpt"]  # best kept: epoch 0
    assert ck.best_model_path.endswith("epoch_000.ckpt")
