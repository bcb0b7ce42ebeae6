"""`TimeXModule`: TimeX's mask generator, explanation-embedded surrogate and landmarks, trained as one LightningModule.

Per batch (reference: `bc_model.py` TimeXModel.forward and `train_mv6_consistency.py`):
  z, y      = black box's embedding and outputs on x (frozen)
  p         = mask generator(x) (keep probabilities), m = hard straight-through Gumbel sample of p
  x̃         = m·x + (1 − m)·b, b ~ N(μ, σ) per (channel, time) from the training data (the reference's
              multivariate/non-transformer path; for a univariate transformer it masks attention instead)
  z̃         = surrogate's embedding of x̃ (a trainable copy of the black box, initialised from its weights)
  ỹ         = label head(z̃) (a new MLP, the reference's `label_based_on_mask`) or the surrogate's own head
  loss      = β_exp (w_size·KL(p ‖ r) + w_connect·connect(p))
            + β_sim (MBC(z, z̃) + MBC(z, landmark(z̃)) + λ_label·LC(ỹ, y))
Validation (the reference's model selection): MBC(z, z̃) + λ_label·LC(ỹ, y), logged as `timex/val/loss`.
"""

from __future__ import annotations

import copy

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from tsexplain.explain.timex import losses
from tsexplain.explain.timex.networks import MaskGenerator, Prototypes, core_of, embedding_reader, sample_mask

LOG_NAMESPACE = "timex"
LABEL_HEADS = ("new", "surrogate")


class TimeXModule(L.LightningModule):
    """TimeX trained against a frozen black box (held outside the module: never trained, never saved)."""

    def __init__(
        self,
        blackbox: nn.Module,
        in_channels: int,
        seq_len: int,
        n_outputs: int,
        generator: dict | None = None,
        r: float = 0.5,
        tau: float = 1.0,
        w_size: float = 1.0,
        w_connect: float = 2.0,
        beta_exp: float = 2.0,
        beta_sim: float = 1.0,
        lam_label: float = 1.0,
        n_prototypes: int = 50,
        label_head: str = "new",
        embedding_layer: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        grad_clip: float | None = None,
        plateau_after: int = 20,
        plateau_patience: int = 5,
    ) -> None:
        super().__init__()
        if not 0 < r < 1:
            raise ValueError(f"explainer.module.r={r} must be in (0, 1): the keep probability the size loss pulls "
                             "towards (TimeX: 0.5).")
        if tau <= 0:
            raise ValueError(f"explainer.module.tau={tau} must be > 0 (the Gumbel-softmax temperature; TimeX: 1.0).")
        if label_head not in LABEL_HEADS:
            raise ValueError(f"explainer.module.label_head={label_head!r}; use one of {LABEL_HEADS}.")
        if n_prototypes < 0:
            raise ValueError(f"explainer.module.n_prototypes={n_prototypes} must be >= 0 (0: no landmarks).")
        if min(w_size, w_connect, beta_exp, beta_sim, lam_label) < 0 or lr <= 0:
            raise ValueError("explainer.module weights (w_size, w_connect, beta_exp, beta_sim, lam_label) must be "
                             f">= 0 and lr > 0; got {w_size}, {w_connect}, {beta_exp}, {beta_sim}, {lam_label}, "
                             f"lr={lr}.")
        # plain containers (Hydra hands a DictConfig): a weights-only checkpoint load refuses omegaconf objects
        generator = OmegaConf.to_container(generator) if isinstance(generator, DictConfig) else dict(generator or {})
        self.save_hyperparameters(ignore=["blackbox"])
        object.__setattr__(self, "_blackbox", blackbox)
        core = core_of(blackbox)
        self.surrogate = copy.deepcopy(core).train().requires_grad_(True)
        self.generator = MaskGenerator(in_channels, seq_len, **generator)
        self._read_blackbox = embedding_reader(core, embedding_layer)
        self._read_surrogate = embedding_reader(self.surrogate, embedding_layer)
        with torch.no_grad():
            d_z = self._read_blackbox(torch.zeros(2, in_channels, seq_len))[1].shape[-1]
        self.d_z = d_z
        self.label_head = (nn.Sequential(nn.Linear(d_z, d_z), nn.ReLU(), nn.Linear(d_z, n_outputs))
                           if label_head == "new" else None)
        self.prototypes = Prototypes(n_prototypes, d_z) if n_prototypes else None
        self.register_buffer("x_mean", torch.zeros(in_channels, seq_len))
        self.register_buffer("x_std", torch.ones(in_channels, seq_len))
        self._plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None

    @property
    def blackbox(self) -> nn.Module:
        return self._blackbox

    # -- data-dependent state -----------------------------------------------------------------------------
    @torch.no_grad()
    def set_data_stats(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Baseline statistics (mean, std per channel and time) and the landmarks' starting points: embeddings of
        training samples, stratified by label when `y` is given."""
        self.x_mean.copy_(x.mean(0))
        self.x_std.copy_(x.std(0, unbiased=True).nan_to_num(0.0) if len(x) > 1 else torch.zeros_like(x[0]))
        if self.prototypes is None:
            return
        n = len(self.prototypes.weight)
        if len(x) < n:
            raise ValueError(f"explainer.module.n_prototypes={n} landmarks need at least that many training "
                             f"samples; got {len(x)}. Lower n_prototypes (0 turns the landmarks off).")
        idx = _stratified(y, n) if y is not None else torch.randperm(len(x))[:n]
        self.prototypes.init_from(self._read_blackbox(x[idx].to(self.x_mean.device))[1])

    # -- forward pieces -----------------------------------------------------------------------------------
    def mask_probs(self, x: torch.Tensor) -> torch.Tensor:
        """The explanation: keep probability of every entry `[B, C, T]`."""
        return self.generator(x)

    def masked_input(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """x where m = 1, a draw from the training distribution of each entry where m = 0."""
        baseline = self.x_mean + self.x_std * torch.randn_like(x)
        return m * x + (1 - m) * baseline

    def surrogate_outputs(self, x_tilde: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, z = self._read_surrogate(x_tilde)
        return (self.label_head(z) if self.label_head is not None else out), z

    def objective(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every term of the loss on one batch (the total under `loss`, the selection score under `select`)."""
        with torch.no_grad():
            y, z = self._read_blackbox(x)
        p = self.mask_probs(x)
        m = sample_mask(p, self.hparams.tau, hard=True)
        y_tilde, z_tilde = self.surrogate_outputs(self.masked_input(x, m))
        h = self.hparams
        terms = {
            "size": losses.mask_size_loss(p, h.r),
            "connect": losses.connect_loss(p),
            "mbc": losses.embedding_consistency(z, z_tilde),
            "label": losses.label_consistency(y_tilde, y),
        }
        terms["landmark"] = (losses.embedding_consistency(z, self.prototypes(z_tilde)[0])
                             if self.prototypes is not None else torch.zeros_like(terms["mbc"]))
        terms["loss"] = (h.beta_exp * (h.w_size * terms["size"] + h.w_connect * terms["connect"])
                         + h.beta_sim * (terms["mbc"] + terms["landmark"] + h.lam_label * terms["label"]))
        terms["select"] = terms["mbc"] + h.lam_label * terms["label"]
        terms["keep_fraction"] = m.detach().mean()
        return terms

    # -- Lightning ----------------------------------------------------------------------------------------
    def _blackbox_ready(self, x: torch.Tensor) -> None:
        self._blackbox.to(x.device).eval().requires_grad_(False)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x = batch["x"].float()
        self._blackbox_ready(x)
        terms = self.objective(x)
        self.log_dict({f"{LOG_NAMESPACE}/train/{k}": v.detach() for k, v in terms.items() if k != "select"},
                      on_step=False, on_epoch=True, batch_size=len(x))
        return terms["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        x = batch["x"].float()
        self._blackbox_ready(x)
        terms = self.objective(x)
        self.log_dict({f"{LOG_NAMESPACE}/val/loss": terms["select"], f"{LOG_NAMESPACE}/val/mbc": terms["mbc"],
                       f"{LOG_NAMESPACE}/val/label": terms["label"]},
                      on_step=False, on_epoch=True, batch_size=len(x), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        """The reference's ReduceLROnPlateau (×0.1, patience 5) on the selection score, after `plateau_after` epochs."""
        val = self.trainer.callback_metrics.get(f"{LOG_NAMESPACE}/val/loss")
        if self._plateau is not None and val is not None and self.current_epoch > self.hparams.plateau_after:
            self._plateau.step(float(val))

    def on_before_optimizer_step(self, optimizer) -> None:
        # The reference calls clip_grad_norm_(1.0) after zero_grad and before backward, a no-op: its published runs
        # are unclipped, so the default is None; `grad_clip` clips the norm of this step's gradients when set.
        if self.hparams.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.parameters(), self.hparams.grad_clip)

    def configure_optimizers(self):
        opt = torch.optim.AdamW([p for p in self.parameters() if p.requires_grad], lr=self.hparams.lr,
                                weight_decay=self.hparams.weight_decay)
        self._plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1,
                                                                   patience=self.hparams.plateau_patience,
                                                                   threshold=1e-5, min_lr=1e-8)
        return opt


def _stratified(y: torch.Tensor, n: int) -> torch.Tensor:
    """`n` indices drawn round-robin over the classes of `y` (as even a share of each as its count allows)."""
    y = torch.as_tensor(y).reshape(len(y), -1)[:, 0].long()
    pools = [torch.nonzero(y == c).flatten()[torch.randperm(int((y == c).sum()))] for c in torch.unique(y)]
    out, k = [], 0
    while len(out) < n:
        for pool in pools:
            if k < len(pool) and len(out) < n:
                out.append(pool[k])
        k += 1
    return torch.stack(out)
