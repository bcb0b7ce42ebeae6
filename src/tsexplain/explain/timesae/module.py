"""`TimeSAEModule`: the TimeSAE sparse autoencoder as a LightningModule, trained against a frozen black box.

Total loss (paper Eq. 10): w_rec·L_rec + w_sparse(t)·L_sparse + w_fid·L_fid + w_cc·L_cc + w_cf·L_cf
(+ w_gate·expected open Bernoulli gates). A weight of 0 skips the term's computation.
η, and by default α (cc) and λ (cf), are warmed up linearly over the first ~20% of steps: the
counterfactual InfoNCE at full weight from step 0 stops the SAE from learning to reconstruct at all
(measured on the toy task: FVU 1.1 vs 0.26 without it, at τ = 0.1).

The terms that pass decoded series through the black box (L_fid, L_cf) start after `model_losses_start` of the
steps, and the gradient they send into each decoded series is capped at `model_grad_ratio` × the norm of the
reconstruction's (`losses.limit_grad`). Without that, descent through a strong black box bent the SAE towards
off-manifold, adversarial reconstructions that the model labels right (SeqComb-UV, resnet_tf: label fidelity
alone took FVU to 1.08 with 87 % dead latents; with the cap: FVU 0.56 and label fidelity 0.54 vs 0.77 without
the term).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import lightning as L
import torch
from torch import nn

from tsexplain.data.meta import DataMeta
from tsexplain.explain.timesae import losses
from tsexplain.explain.timesae.concepts import EFFECTS, ConceptDecoder, concept_saliency
from tsexplain.explain.timesae.networks import TCNSEEncoder, count_parameters
from tsexplain.explain.timesae.sparsity import JumpReLU, Sparsity, normalize_columns_, remove_parallel_grad_
from tsexplain.tasks import Task, task_for
from tsexplain.utils.tensors import frozen

GIB = 1024**3
#: TimeSAE's training logs `timesae/train/...` and `timesae/val/...`: the run's loggers also hold the black box's
#: own `train/loss` and `val/loss`, which these must not overwrite.
LOG_NAMESPACE = "timesae"
#: How a TimeSAE reads its concepts as a map (`concepts.concept_saliency`): `effect` (default) weighs each active
#: concept's signed decoded part by its effect on the black box's score of the explained class; `footprint` is
#: the same map with every active concept weighing 1 (model-blind, kept for comparison); `mask` is the paper's
#: gated-term magnitudes (Eq. 15).
SALIENCY_READINGS = ("effect", "footprint", "mask")
#: Other effect weightings of the `effect` map scored beside the headline (`explain_<name>/*`): the former
#: default, insertion effects keeping only the concepts that support the class.
COMPARED_EFFECTS = {"effect_insertion": ("insertion", True)}
#: JumpReLU held near 8 active concepts, with AuxK (conf/explainer/sparsity/jumprelu.yaml)
DEFAULT_SPARSITY = functools.partial(JumpReLU, target_l0=8.0, aux_coef=1.0)


def latent_size(r: float, n_channels: int, seq_len: int) -> int:
    """d = round(r·C·T) (paper Eq. 1)."""
    return max(1, round(r * n_channels * seq_len))


def estimate_memory_bytes(
    n_channels: int, seq_len: int, d: int, hidden: int, order: int, batch: int, n_interventions: int,
    tcn_channels: int = 16, n_blocks: int = 2,
) -> int:
    """Rough fp32 training footprint: params ×4 (weights, grads, 2 Adam moments) + gate temporaries + activations."""
    f = n_channels * seq_len
    flat = max(n_channels, tcn_channels) * seq_len
    dict_params = 2 * order * d * f  # atoms + gate logits per order
    net_params = 2 * (flat * hidden + (n_blocks - 1) * hidden**2 + d * hidden)
    params = dict_params + net_params
    gate_tmp = 3 * order * d * f  # sampled gates, soft gates, gated atoms
    rows = batch * (n_interventions + 4)  # x, x̂, c′ re-encoding, B·M counterfactuals
    acts = rows * (2 * d + 4 * f + 2 * flat + 2 * n_blocks * hidden)
    return 4 * (4 * params + gate_tmp + 2 * acts)


@torch.no_grad()
def check_blackbox_output(blackbox: nn.Module, C: int, T: int) -> int:
    """K of a black box returning `[B, K]` for `[B, C, T]` inputs; a clear ValueError otherwise.

    Probes with two all-zero series in eval mode (no BatchNorm statistics updated), then restores the mode.
    """
    p = next(blackbox.parameters(), None)
    dev = p.device if p is not None else torch.device("cpu")
    with frozen(blackbox):
        out = blackbox(torch.zeros(2, C, T, device=dev))
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"TimeSAE needs a black box returning [B, K] outputs; for x of shape [2, {C}, {T}] it returned "
            f"{got}. Wrap the model so forward returns one [B, K] tensor (logits or regression outputs)."
        )
    return int(out.shape[1])


class TimeSAEModule(L.LightningModule):
    """Encoder → sparsity (JumpReLU | TopK) → decompositional concept decoder, against a frozen black box.

    The black box is held outside the module tree (not a submodule: no parameters, no state_dict entry),
    in eval mode with `requires_grad=False`; gradients flow *through* it to the SAE only.
    Inputs are scaled by the buffer `x_scale` so that E‖x‖² = 1 (`set_data_stats`).
    """

    def __init__(
        self,
        blackbox: nn.Module,
        meta: DataMeta | None = None,
        encoder: Callable[..., nn.Module] = TCNSEEncoder,
        sparsity: Callable[..., Sparsity] = DEFAULT_SPARSITY,
        r: float = 1.6,
        order: int = 1,
        network_term: bool = False,
        gate_init: float = 0.95,
        w_rec: float = 1.0,
        w_sparse: float = 1.0,
        sparsity_warmup_steps: int | None = None,
        w_fid: float = 1.0,
        w_cc: float = 0.85,
        w_cf: float = 0.9,
        w_gate: float = 1e-3,
        tau: float = 0.5,
        warmup_cc_cf: bool = True,
        threshold_lr_scale: float = 10.0,
        model_losses_start: float = 0.5,
        model_grad_ratio: float = 0.5,
        model_losses_batch: int | None = 16,
        saliency: str = "effect",
        effect: str = "integrated",
        effect_signed: bool = False,
        effect_steps: int = 1,
        max_concepts: int = 32,
        n_interventions: int = 4,
        lr: float = 3e-3,
        weight_decay: float = 0.01,
        grad_clip: float = 1.0,
        memory_budget_gib: float = 4.0,
        batch_size_hint: int = 64,
    ) -> None:
        super().__init__()
        if effect not in EFFECTS:
            raise ValueError(f"explainer.module.effect={effect!r} is unknown; use one of {EFFECTS}.")
        if int(effect_steps) < 1:
            raise ValueError(f"explainer.module.effect_steps={effect_steps} must be ≥ 1 (1 = the midpoint rule).")
        if saliency not in SALIENCY_READINGS:
            raise ValueError(f"explainer.module.saliency={saliency!r} is unknown; use one of {SALIENCY_READINGS}.")
        self.save_hyperparameters(ignore=["blackbox", "meta", "encoder", "sparsity"])
        meta = meta if meta is not None else getattr(blackbox, "meta", None)
        if meta is None:
            raise ValueError("TimeSAEModule needs the data's DataMeta: pass meta=datamodule.meta.")
        self.meta = meta
        self.task: Task = task_for(meta)
        C, T = meta.n_channels, meta.seq_len
        object.__setattr__(self, "_blackbox", blackbox)  # not a submodule: never trained, never saved
        blackbox.eval().requires_grad_(False)
        self.n_outputs = self._check_blackbox_output(C, T)

        d = latent_size(r, C, T)
        enc_cfg = getattr(encoder, "keywords", {}) if isinstance(encoder, functools.partial) else {}
        need = estimate_memory_bytes(
            C, T, d, enc_cfg.get("hidden", 128), order, batch_size_hint, n_interventions if w_cf else 0,
            enc_cfg.get("tcn_channels", 16), enc_cfg.get("n_blocks", 2),
        )
        if need > memory_budget_gib * GIB:
            raise ValueError(
                f"TimeSAE would need ~{need / GIB:.1f} GiB (d={d} latents from r={r}, C={C}, T={T}), above "
                f"memory_budget_gib={memory_budget_gib}. Use a smaller explainer.module.r (the paper uses "
                "1.4–1.7), a lower order, or raise explainer.module.memory_budget_gib."
            )
        self.d_latent = d
        self.encoder = encoder(in_channels=C, seq_len=T, d_latent=d)
        self.sparsity = sparsity(d_latent=d)
        network = self.encoder.make_decoder(C, T, d) if network_term else None
        self.decoder = ConceptDecoder(d, C, T, order=order, network=network, gate_init=gate_init)
        self.register_buffer("x_scale", torch.ones(()))
        self.weights = {"rec": w_rec, "sparse": w_sparse, "fid": w_fid, "cc": w_cc, "cf": w_cf, "gate": w_gate}
        self.firing_history: list[torch.Tensor] = []
        self._warmup_steps = sparsity_warmup_steps or 0
        self._model_losses_from = 0

    # -- black box -------------------------------------------------------------------------------
    @property
    def blackbox(self) -> nn.Module:
        return self._blackbox

    def _check_blackbox_output(self, C: int, T: int) -> int:
        return check_blackbox_output(self._blackbox, C, T)

    def f(self, x: torch.Tensor) -> torch.Tensor:
        """Black-box outputs for inputs in the original scale (gradients flow to x, never to f's weights)."""
        p = next(self._blackbox.parameters(), None)
        if p is not None and p.device != x.device:
            self._blackbox.to(x.device)
        return self._blackbox(x)

    # -- data statistics ----------------------------------------------------------------------------
    @torch.no_grad()
    def set_data_stats(self, x: torch.Tensor) -> None:
        """x_scale so that E‖x·s‖² = 1; ψ0 (decoder bias) = per-(C,T) median of scaled data (b_pre recipe)."""
        x = x.float().to(self.x_scale.device)
        energy = x.pow(2).flatten(1).sum(-1).mean()
        if not torch.isfinite(energy) or energy <= 0:
            raise ValueError(f"Training inputs have E‖x‖² = {float(energy)}; need finite, non-zero data.")
        self.x_scale.fill_(float(energy.rsqrt()))
        self.decoder.psi0.copy_((x * self.x_scale).median(0).values)

    # -- SAE maps -----------------------------------------------------------------------------------
    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x * self.x_scale)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Concept activations c = σ(E(x)) `[B, d]`, x in the original scale."""
        return self.sparsity(self.encode_pre(x))

    def decode(self, c: torch.Tensor) -> torch.Tensor:
        """g(c) back in the original input scale `[B, C, T]`."""
        return self.decoder(c) / self.x_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def target_score(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The black box's score of class `target [B]` for inputs `x` (original scale), as the task reads it
        (`Task.target_score`: log-probability for multiclass, the raw output otherwise)."""
        return self.task.target_score(self.f(x), target)

    def saliency(self, x: torch.Tensor, target: torch.Tensor | None = None, reading: str | None = None) -> torch.Tensor:
        """Concept map `[B, C, T]` ≥ 0 in the original input scale, by `reading` (default `hparams.saliency`):
        see `SALIENCY_READINGS` and `COMPARED_EFFECTS`. `effect` needs the explained class `target [B]`."""
        reading = reading or self.hparams.saliency
        effect, signed = COMPARED_EFFECTS.get(reading, (self.hparams.effect, self.hparams.effect_signed))
        c = self.encode(x)
        if reading == "mask":
            return self.decoder.saliency(c) / self.x_scale
        if reading == "footprint":
            return concept_saliency(self.decode, c, max_concepts=self.hparams.max_concepts)
        if target is None:
            raise ValueError("the 'effect' saliency explains a class: pass target [B].")
        return concept_saliency(self.decode, c, self.target_score, target, self.hparams.max_concepts,
                                signed=signed, effect=effect, steps=int(self.hparams.get("effect_steps", 1)))

    # -- losses -----------------------------------------------------------------------------------
    def current_weights(self) -> dict[str, float]:
        """Loss weights at this step: η (and, with `warmup_cc_cf`, α) warmed up linearly from step 0; the terms
        that go through the black box (label fidelity, λ of L_cf) start after `model_losses_start` of the
        training steps and are then warmed up the same way."""
        step = int(self.global_step)
        w = dict(self.weights, sparse=losses.warmup(self.weights["sparse"], step, self._warmup_steps))
        if self.hparams.warmup_cc_cf:
            w.update(cc=losses.warmup(w["cc"], step, self._warmup_steps))
        late = step - self._model_losses_from
        for k in ("fid", "cf"):
            w[k] = 0.0 if late < 0 else losses.warmup(w[k], late, self._warmup_steps)
        return w

    def compute_terms(self, x: torch.Tensor, train: bool = True) -> tuple[dict, dict]:
        """Loss terms (only those with weight ≠ 0 at this step) and detached statistics for one batch."""
        w = self.current_weights() if train else self.weights
        xn = x * self.x_scale
        pre = self.encoder(xn)
        c = self.sparsity(pre)
        xn_hat = self.decoder(c)
        terms: dict[str, torch.Tensor] = {}
        stats: dict[str, torch.Tensor | float] = {}
        if w["rec"]:
            terms["rec"] = losses.reconstruction(xn, xn_hat)
        if w["sparse"]:
            residual = (xn - xn_hat).flatten(1)
            terms["sparse"] = self.sparsity.sparsity_loss(pre, c, residual, self.decoder.dictionary)
        # per-sample norm of ∂L_rec/∂x̂ (L_rec = Σ‖x − x̂‖² / B): the cap on the black-box terms' gradients
        ref = self.hparams.model_grad_ratio * 2 * (xn_hat - xn).detach().flatten(1).norm(dim=-1) / len(x)
        # the black-box terms on the first `model_losses_batch` samples of the (shuffled) batch: an unbiased estimate
        # of the same means, at a fraction of the cost (they dominate a step: f forward and backward on B(M + 1) inputs)
        n = min(len(x), self.hparams.model_losses_batch or len(x)) if train else len(x)
        if w["fid"] or not train:
            with torch.no_grad():
                f_x = self.f(x[:n])
            x_fid = losses.limit_grad(xn_hat[:n], ref[:n]) if train else xn_hat
            f_hat = self.f(x_fid / self.x_scale)
            if w["fid"]:
                terms["fid"] = losses.fidelity_loss(f_x, f_hat, self.task.name)
            stats["fidelity"] = losses.label_fidelity(f_x, f_hat.detach(), self.task.name)
        if w["cc"] and train:
            c_prime = losses.recombine_concepts(c)
            c_re = self.sparsity(self.encoder(self.decoder(c_prime)))
            terms["cc"] = losses.compositional_consistency(c_prime, c_re)
        if w["cf"] and train:
            ks, vals = losses.choose_interventions(c[:n], self.hparams.n_interventions)
            cm = losses.intervene(c[:n], ks, vals)  # [n, M, d]
            b, m, d = cm.shape
            x_cf = losses.limit_grad(self.decoder(cm.reshape(b * m, d)), ref[:n].repeat_interleave(m))
            z = self.f(x_cf / self.x_scale).reshape(b, m, -1)
            terms["cf"] = losses.counterfactual_infonce(z, self.hparams.tau)
        if w["gate"]:
            terms["gate"] = self.decoder.gate_open_fraction()
        with torch.no_grad():
            stats["l0"] = (c > 0).float().sum(-1).mean()
            stats["fvu"] = losses.fvu(xn, xn_hat)
            stats["near_threshold"] = self.sparsity.near_threshold_fraction(pre)
        stats["c"] = c.detach()
        return terms, stats

    def _guard(self, terms: dict[str, torch.Tensor], batch_idx: int) -> None:
        bad = [k for k, v in terms.items() if not torch.isfinite(v).all()]
        if bad:
            vals = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
            raise RuntimeError(
                f"TimeSAE: non-finite loss term(s) {bad} at step {int(self.global_step)} (batch {batch_idx}); "
                f"terms: {vals}. Check the inputs for NaN/inf, lower explainer.module.lr, or keep grad_clip > 0."
            )

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x = batch["x"].float()
        terms, stats = self.compute_terms(x, train=True)
        self._guard(terms, batch_idx)
        loss = losses.total(terms, self.current_weights())
        self.sparsity.update_stats(stats["c"])
        log = {f"train/{k}": v.detach() for k, v in terms.items()}
        log.update({"train/loss": loss.detach(), "train/l0": stats["l0"], "train/fvu": stats["fvu"],
                    "train/dead_frac": self.sparsity.dead_mask().float().mean()})
        if "fidelity" in stats:
            log["train/fidelity"] = stats["fidelity"]
        if not math.isnan(stats["near_threshold"]):
            log["train/near_threshold"] = stats["near_threshold"]
        self.log_dict({f"{LOG_NAMESPACE}/{k}": v for k, v in log.items()}, on_step=False, on_epoch=True,
                      batch_size=len(x))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        x = batch["x"].float()
        terms, stats = self.compute_terms(x, train=False)
        w = self.weights
        loss = sum(w[k] * terms[k] for k in ("rec", "sparse", "fid") if k in terms)
        self.log_dict({f"{LOG_NAMESPACE}/val/loss": loss, f"{LOG_NAMESPACE}/val/fvu": stats["fvu"],
                       f"{LOG_NAMESPACE}/val/l0": stats["l0"], f"{LOG_NAMESPACE}/val/fidelity": stats["fidelity"]},
                      on_step=False, on_epoch=True, batch_size=len(x))

    # -- hooks ------------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self._blackbox.eval().requires_grad_(False)
        total = int(self.trainer.estimated_stepping_batches) if self.trainer is not None else 0
        total = total if 0 < total < 10**9 else 1000
        if not self.hparams.sparsity_warmup_steps:
            self._warmup_steps = max(1, total // 5)
        self._model_losses_from = int(self.hparams.model_losses_start * total)
        if hasattr(self.sparsity, "anneal_steps") and self.sparsity.anneal_steps is None:
            self.sparsity.anneal_steps = max(1, int(self.sparsity.anneal_fraction * total))

    def on_train_epoch_start(self) -> None:
        self._blackbox.eval()

    def on_before_optimizer_step(self, optimizer) -> None:
        if self.sparsity.unit_norm_decoder:
            for a in self.decoder.atoms:
                remove_parallel_grad_(a)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.sparsity.unit_norm_decoder:
            for a in self.decoder.atoms:
                normalize_columns_(a.data)

    def on_train_epoch_end(self) -> None:
        self.firing_history.append(self.sparsity.pop_firing_frequency().cpu())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["timesae_firing_history"] = [f.tolist() for f in self.firing_history]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.firing_history = [torch.tensor(f) for f in checkpoint.get("timesae_firing_history", [])]

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip by the Trainer's `gradient_clip_val`, else by this module's `grad_clip` (norm)."""
        val = gradient_clip_val if gradient_clip_val is not None else self.hparams.grad_clip
        if val:
            self.clip_gradients(optimizer, gradient_clip_val=val,
                                gradient_clip_algorithm=gradient_clip_algorithm or "norm")

    def configure_optimizers(self):
        decay = list(self.encoder.parameters())
        if self.decoder.network is not None:
            decay += list(self.decoder.network.parameters())
        sparse = list(self.sparsity.parameters())
        ids = {id(p) for p in decay + sparse}
        rest = [p for p in self.parameters() if id(p) not in ids]
        groups = [{"params": decay, "weight_decay": self.hparams.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        if sparse:  # JumpReLU's log-thresholds: a few CPU epochs are too few steps to move θ at the base lr
            groups.append({"params": sparse, "weight_decay": 0.0,
                           "lr": self.hparams.lr * self.hparams.threshold_lr_scale})
        return torch.optim.AdamW(groups, lr=self.hparams.lr)

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per part (paper Table 11 style)."""
        net = self.decoder.network
        return {
            "encoder": count_parameters(self.encoder),
            "sparsity": count_parameters(self.sparsity),
            "concept_decoder": count_parameters(self.decoder) - (count_parameters(net) if net else 0),
            "network_decoder": count_parameters(net) if net else 0,
            "total": count_parameters(self),
        }
