"""`TimeXExplainer`: trains (or reloads) a `TimeXModule` against the black box, then explains with its mask."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable

import lightning as L
import torch

from tsexplain.explain.base import Explainer, TrainerFactory, patience_of
from tsexplain.explain.timex.module import LOG_NAMESPACE, TimeXModule
from tsexplain.explain.timex.networks import core_of, embedding_reader
from tsexplain.tasks import Multiclass, task_of
from tsexplain.utils.checkpoint import safe_load
from tsexplain.utils.tensors import device_of, frozen

log = logging.getLogger(__name__)


class TimeXExplainer(Explainer):
    """TimeX as an `Explainer`: the saliency is the mask generator's keep probability `[B, C, T]` in (0, 1).

    The map is amortised and class-agnostic (one forward pass of the generator; `target` is not used), as in TimeX.
    `module` is a factory (Hydra `_partial_`) called as `module(blackbox=..., in_channels=, seq_len=, n_outputs=)`.
    """

    name = "timex"
    monitor = (f"{LOG_NAMESPACE}/val/loss", "min")

    def __init__(self, module: Callable[..., TimeXModule] = TimeXModule, max_epochs: int = 50,
                 ckpt_path: str | None = None, batch_size: int = 64, init_samples: int = 5000, seed: int = 0,
                 early_stopping_patience: int | None = None) -> None:
        super().__init__(batch_size=batch_size)
        if int(max_epochs) < 1:
            raise ValueError(f"explainer.max_epochs={max_epochs} must be >= 1 (TimeX: 50 on FreqShapes/SeqComb-UV, "
                             "100 on SeqComb-MV/LowVar).")
        if int(init_samples) < 1:
            raise ValueError(f"explainer.init_samples={init_samples} must be >= 1: the training samples read for the "
                             "masking baseline's mean/std and the landmarks' initialisation.")
        self.module_factory = module
        self.patience = patience_of(early_stopping_patience)
        self.max_epochs, self.ckpt_path, self.init_samples, self.seed = int(max_epochs), ckpt_path, init_samples, seed
        self.module: TimeXModule | None = None
        self.best_ckpt_path: str | None = None
        self.val_loss: float | None = None

    # -- fit -------------------------------------------------------------------------------------
    def check_compatible(self, blackbox) -> None:
        """TimeX's label consistency compares class distributions: classifiers (`[B, K]` logits) only."""
        super().check_compatible(blackbox)
        task = task_of(blackbox)
        if not isinstance(task, Multiclass):
            raise ValueError(f"explainer=timex explains classifiers (its label consistency compares softmax class "
                             f"distributions); this black box's task is {task.name}. Use another explainer "
                             "(integrated_gradients, dynamask, timesae) for it.")

    def fit(self, blackbox, datamodule=None, trainer_factory: TrainerFactory | None = None):
        super().fit(blackbox)
        if self.ckpt_path and not os.path.isfile(self.ckpt_path):
            raise ValueError(f"explainer.ckpt_path={self.ckpt_path!r} does not exist; give a TimeX Lightning "
                             "checkpoint (e.g. <run>/checkpoints/last.ckpt) or set explainer.ckpt_path=null to train.")
        if datamodule is None:
            raise ValueError("TimeXExplainer.fit needs the datamodule (its training data set the masking baseline's "
                             "statistics and, without ckpt_path, train the explainer).")
        if isinstance(datamodule, L.LightningDataModule):
            datamodule.setup("fit")
        x, y = self._train_sample(datamodule.train_dataloader(), self.init_samples)
        device = device_of(blackbox)
        with frozen(blackbox), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)  # the explainer's initialisation, without reseeding the caller's RNG
            n_outputs = int(blackbox(x[:2].to(device)).shape[-1])
            self.module = self.module_factory(blackbox=blackbox, in_channels=x.shape[1], seq_len=x.shape[2],
                                              n_outputs=n_outputs).to(device)
            if self.ckpt_path:
                self._load(self.ckpt_path)
            else:
                self.module.set_data_stats(x.to(device), y)
                self._train(datamodule, trainer_factory)
        self.module.to(device).eval()
        return self

    @staticmethod
    def _train_sample(loader, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys, seen = [], [], 0
        for batch in loader:
            xs.append(batch["x"].float())
            ys.append(torch.as_tensor(batch["y"]))
            seen += len(xs[-1])
            if seen >= n:
                break
        if not xs:
            raise ValueError("the datamodule's train_dataloader is empty: TimeX needs training samples.")
        return torch.cat(xs)[:n], torch.cat(ys)[:n]

    def _load(self, path: str) -> None:
        ckpt = safe_load(path, "explainer.ckpt_path")  # never runs code from the file
        try:
            self.module.load_state_dict(ckpt["state_dict"])
        except (KeyError, RuntimeError) as err:
            raise ValueError(f"explainer.ckpt_path={path!r} is not a TimeX checkpoint of this black box and these "
                             f"explainer.module settings ({err}); retrain with explainer.ckpt_path=null.") from err
        self.best_ckpt_path = path

    def _train(self, datamodule, trainer_factory: TrainerFactory | None) -> None:
        val = datamodule.val_dataloader() if hasattr(datamodule, "val_dataloader") else None
        monitor = self.monitor[0] if val is not None else None
        trainer = self._learning_trainer(trainer_factory, max_epochs=self.max_epochs, monitor=monitor,
                                         mode=self.monitor[1], patience=self.patience, num_sanity_val_steps=0)
        if isinstance(datamodule, L.LightningDataModule):
            trainer.fit(self.module, datamodule=datamodule)
        else:
            trainer.fit(self.module, train_dataloaders=datamodule.train_dataloader(), val_dataloaders=val)
        cb = trainer.checkpoint_callback
        score = getattr(cb, "best_model_score", None) if cb is not None else None
        self.val_loss = float(score) if score is not None else None
        path = (cb.best_model_path or cb.last_model_path) if cb is not None else ""
        if path and os.path.isfile(path):  # the best epoch on the selection score, as the reference keeps
            self.best_ckpt_path = path
            self.module.load_state_dict(safe_load(path, "TimeX checkpoint")["state_dict"])

    # -- explanations ------------------------------------------------------------------------------
    def _check_shape(self, x: torch.Tensor) -> None:
        if self.module is None:
            raise RuntimeError("TimeXExplainer used before fit(blackbox, datamodule).")
        c, t = self.module.hparams.in_channels, self.module.hparams.seq_len
        if x.ndim != 3 or tuple(x.shape[1:]) != (c, t):
            raise ValueError(f"TimeX was fitted on [C, T] = [{c}, {t}] but got x of shape {tuple(x.shape)}; "
                             "explain series of the training shape or refit.")

    def attribute(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        self._check_shape(x)
        return super().attribute(x, target)

    @torch.no_grad()
    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.module.eval()
        return self.module.mask_probs(x.float().to(self.module.x_mean.device)).to(x.device)

    def rebind(self, blackbox) -> TimeXExplainer:
        """This fit bound to another black box (e.g. weight-randomised) without retraining. TimeX's map is the mask
        generator's alone, so it does not change: the model-randomisation check will (rightly) flag it."""
        self.check_compatible(blackbox)
        if self.module is None:
            raise RuntimeError("TimeXExplainer.rebind called before fit(blackbox, datamodule).")
        other = copy.copy(self)
        other.module = copy.copy(self.module)
        object.__setattr__(other.module, "_blackbox", blackbox.eval())
        object.__setattr__(other.module, "_read_blackbox",
                           embedding_reader(core_of(blackbox), self.module.hparams.embedding_layer))
        other.blackbox = blackbox.eval()
        return other

    def explanation_metrics(self, x: torch.Tensor, target: torch.Tensor, meta) -> dict[str, float]:
        """The selection score of the kept epoch and the mean keep probability on the explained samples."""
        out = {"val_loss": self.val_loss} if self.val_loss is not None else {}
        out["mean_mask"] = float(self.attribute(x, target).mean())
        return out
