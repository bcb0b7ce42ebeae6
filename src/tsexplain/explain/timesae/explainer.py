"""`TimeSAEExplainer`: trains (or reloads) a `TimeSAEModule` against the black box, then explains with it."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import torch

from tsexplain.explain.base import Explainer, TrainerFactory, patience_of
from tsexplain.explain.timesae import metrics as sae_metrics
from tsexplain.explain.timesae.concepts import cace as concept_cace
from tsexplain.explain.timesae.concepts import car_classify, car_regress
from tsexplain.explain.timesae.counterfactuals import Counterfactual, minimal_intervention
from tsexplain.explain.timesae.health import Health, HealthGate
from tsexplain.explain.timesae.module import COMPARED_EFFECTS, SALIENCY_READINGS, TimeSAEModule, check_blackbox_output
from tsexplain.utils.checkpoint import safe_load
from tsexplain.utils.tensors import batched, device_of, frozen

log = logging.getLogger(__name__)


class TimeSAEExplainer(Explainer):
    """TimeSAE (sparse-autoencoder concepts) as an `Explainer`; saliency = the concept-decoder mask.

    `module` is a factory (Hydra `_partial_`) called as `module(blackbox=..., meta=...)`.
    OOD use (`ood_dataset`): `fit` on one datamodule, then `attribute`/`distribution_scores` on another
    dataset's arrays of the same `[C, T]`; the pipeline reads `ood_dataset` and does the wiring.
    """

    name = "timesae"
    has_maps = True
    monitor = ("timesae/val/loss", "min")

    def __init__(
        self,
        module: Callable[..., TimeSAEModule] = TimeSAEModule,
        max_epochs: int = 5,
        min_steps: int = 400,
        steps_per_latent: float = 0.6,
        ckpt_path: str | None = None,
        batch_size: int = 256,
        ood_dataset: str | None = None,
        init_samples: int = 2048,
        n_remove: int = 3,
        n_counterfactuals: int = 128,
        counterfactual: dict | None = None,
        ood_overrides: dict | None = None,
        seed: int = 0,
        health: dict | None = None,
        early_stopping_patience: int | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.module_factory = module
        self.max_epochs = max_epochs
        self.min_steps = int(min_steps)
        if steps_per_latent < 0:
            raise ValueError(f"explainer.steps_per_latent={steps_per_latent} must be ≥ 0 (0 = min_steps alone).")
        self.steps_per_latent = float(steps_per_latent)
        self.ckpt_path = ckpt_path
        self.ood_dataset = ood_dataset
        self.init_samples = init_samples
        self.n_remove = n_remove
        self.n_counterfactuals = n_counterfactuals
        self.cf_kwargs = dict(counterfactual or {})  # → minimal_intervention (steps, subset_sizes, lr, tol, l1)
        self.val_loss: float | None = None
        self.ood_overrides = dict(ood_overrides or {})
        self.seed = seed
        self.patience = patience_of(early_stopping_patience)
        self.module: TimeSAEModule | None = None
        self.best_ckpt_path: str | None = None
        self.gate = HealthGate(**dict(health or {}))
        self.health: Health | None = None

    # -- fit -------------------------------------------------------------------------------------
    def fit(self, blackbox, datamodule=None, trainer_factory: TrainerFactory | None = None):
        super().fit(blackbox)
        device = device_of(blackbox)
        meta = getattr(blackbox, "meta", None) or getattr(datamodule, "meta", None)
        with frozen(blackbox), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)  # the SAE's initialisation, without reseeding the caller's RNG
            self.module = self.module_factory(blackbox=blackbox, meta=meta)
            if self.ckpt_path:
                self._load(self.ckpt_path)
            else:
                if datamodule is None:
                    raise ValueError("TimeSAEExplainer.fit needs a datamodule to train on (or set ckpt_path).")
                self._train(datamodule, trainer_factory)
        self.module.to(device).eval()
        if datamodule is not None:
            self.health = self.gate.measure(self.module, *self._health_samples(datamodule))
            self.gate.enforce(self.health)
        counts = self.module.parameter_counts()
        log.info("TimeSAE: d=%d latents, parameters %s", self.module.d_latent, counts)
        return self

    def check_compatible(self, blackbox) -> None:
        """Fail before anything trains when the black box does not return `[B, K]` outputs."""
        super().check_compatible(blackbox)
        meta = getattr(blackbox, "meta", None)
        if meta is not None:
            check_blackbox_output(blackbox, meta.n_channels, meta.seq_len)

    def _load(self, path: str) -> None:
        if not os.path.isfile(path):
            raise ValueError(
                f"explainer.ckpt_path={path!r} does not exist; give the path of a TimeSAE Lightning checkpoint "
                "(e.g. <run>/checkpoints/last.ckpt) or set explainer.ckpt_path=null to train."
            )
        ckpt = safe_load(path, "explainer.ckpt_path")  # never runs code from the file
        self.module.load_state_dict(ckpt["state_dict"])
        self.module.on_load_checkpoint(ckpt)
        self.best_ckpt_path = path

    def _train_sample(self, loader, n: int) -> torch.Tensor:
        xs, seen = [], 0
        for batch in loader:
            xs.append(batch["x"].float())
            seen += len(xs[-1])
            if seen >= n:
                break
        return torch.cat(xs)[:n]

    def _health_samples(self, datamodule) -> tuple[torch.Tensor, torch.Tensor]:
        """Training sample (dead latents, PCA reference) and held-out sample (FVU, L0) for the health gate."""
        if isinstance(datamodule, L.LightningDataModule):
            datamodule.setup("fit")
        x_train = self._train_sample(datamodule.train_dataloader(), self.init_samples)
        val = datamodule.val_dataloader() if hasattr(datamodule, "val_dataloader") else None
        x_val = self._train_sample(val, self.init_samples) if val is not None else x_train
        return x_train, x_val

    def epochs_for(self, steps_per_epoch: int, d_latent: int = 0) -> int:
        """`max_epochs`, raised so that training takes at least max(`min_steps`, `steps_per_latent` × d) optimiser
        steps: 5 epochs are ~400 steps on a 5,000-sample benchmark but 15 on a 40-series UCR set, where the SAE cannot
        leave its initialisation; and the more latents, the more steps they need (SeqComb-MV, d = 1280, from 1000
        series: FVU 1.007 and 83 % dead after 200 steps, 0.861 against PCA-8's 0.914 after 800)."""
        steps = max(self.min_steps, math.ceil(self.steps_per_latent * int(d_latent)))
        return max(int(self.max_epochs), math.ceil(steps / max(1, int(steps_per_epoch))))

    def _make_trainer(self, trainer_factory: TrainerFactory | None, has_val: bool, max_epochs: int) -> L.Trainer:
        return self._learning_trainer(trainer_factory, max_epochs=max_epochs,
                                      monitor=self.monitor[0] if has_val else None, mode=self.monitor[1],
                                      patience=self.patience, num_sanity_val_steps=0, deterministic=False)

    def _train(self, datamodule, trainer_factory: TrainerFactory | None) -> None:
        lightning_dm = isinstance(datamodule, L.LightningDataModule)
        if lightning_dm:
            datamodule.setup("fit")  # the loaders below need it
        train = datamodule.train_dataloader()
        val = datamodule.val_dataloader() if hasattr(datamodule, "val_dataloader") else None
        self.module.set_data_stats(self._train_sample(train, self.init_samples))
        epochs = self.epochs_for(len(train), self.module.d_latent)
        trainer = self._make_trainer(trainer_factory, has_val=val is not None, max_epochs=epochs)
        if lightning_dm:
            # Lightning builds the loaders in each process: a loader holding a torch.Generator (a seeded shuffle)
            # cannot be pickled to ddp_spawn workers ("unable to resize file … Invalid argument").
            trainer.fit(self.module, datamodule=datamodule)
        else:
            trainer.fit(self.module, train_dataloaders=train, val_dataloaders=val)
        cb = trainer.checkpoint_callback
        score = getattr(cb, "best_model_score", None) if cb is not None else None
        if score is None and self.monitor[0] in trainer.callback_metrics:
            score = trainer.callback_metrics[self.monitor[0]]
        self.val_loss = float(score) if score is not None else None  # what optuna_timesae minimises
        path = (cb.best_model_path or cb.last_model_path) if cb is not None else ""
        if path and os.path.isfile(path):
            self.best_ckpt_path = path
            ckpt = safe_load(path, "TimeSAE checkpoint")
            self.module.load_state_dict(ckpt["state_dict"])
            if not self.module.firing_history:  # trained in spawned processes (ddp_spawn): this copy saw no epoch
                self.module.on_load_checkpoint(ckpt)

    # -- explanations ------------------------------------------------------------------------------
    def _check_shape(self, x: torch.Tensor) -> None:
        if self.module is None:
            raise RuntimeError("TimeSAEExplainer used before fit(blackbox, datamodule).")
        m = self.module.meta
        if x.ndim != 3 or tuple(x.shape[1:]) != (m.n_channels, m.seq_len):
            raise ValueError(
                f"TimeSAE was fitted on [C, T] = [{m.n_channels}, {m.seq_len}] but got x of shape {tuple(x.shape)}; "
                "resample/crop the (OOD) data to the training shape or refit on it."
            )

    def _ready(self, x: torch.Tensor) -> torch.Tensor:
        self._check_shape(x)
        self.module.eval()
        return x.float().to(self.module.x_scale.device)

    def attribute(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        self._check_shape(x)  # before the base class asks the black box for a target with the wrong shape
        return super().attribute(x, target)

    @torch.no_grad()
    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The concept map `[B, C, T]` of `explainer.module.saliency` (default `effect`: follows f and the class)."""
        return self.module.saliency(self._ready(x), target).to(x.device)

    def maps(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The other concept readings of the same fit (`footprint`, `effect`, `mask`, the former `effect_insertion`
        default), scored beside the headline."""
        self._check_shape(x)
        target = torch.as_tensor(target, device=x.device).long().reshape(-1)
        out = {}
        with torch.no_grad():
            hp = self.module.hparams
            compared = [r for r, eff in COMPARED_EFFECTS.items() if eff != (hp.effect, hp.effect_signed)]
            for reading in (*SALIENCY_READINGS, *compared):
                if reading != hp.saliency:
                    sal = self._batched(lambda xb, tb, r=reading: self.module.saliency(self._ready(xb), tb, r),
                                        x, target)
                    out[reading] = torch.nan_to_num(sal.clamp_min(0), nan=0.0).to(x.device)
        return out

    def rebind(self, blackbox) -> TimeSAEExplainer:
        """This fit explaining another black box (e.g. a weight-randomised copy): the SAE is kept, f is swapped.

        The `effect` map then weighs the same concepts by the other model's responses, while the `footprint`
        map cannot change: exactly what the model-randomisation check separates."""
        import copy

        other = copy.copy(self)
        other.module = copy.copy(self.module)
        object.__setattr__(other.module, "_blackbox", blackbox.eval().requires_grad_(False))
        other.blackbox = blackbox
        return other

    def _batched(self, fn, *tensors: torch.Tensor) -> torch.Tensor:
        """`fn` over aligned slices of `tensors` of `batch_size` rows, concatenated."""
        return batched(fn, *tensors, batch_size=self.batch_size)

    @torch.no_grad()
    def concepts(self, x: torch.Tensor) -> torch.Tensor:
        """Concept activations `[B, d]` (≥ 0, sparse)."""
        return self._batched(lambda xb: self.module.encode(self._ready(xb)), x).to(x.device)

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Explanation-embedded instances x̃ = g(E(x)) `[B, C, T]`."""
        return self._batched(lambda xb: self.module(self._ready(xb)), x).to(x.device)

    @torch.no_grad()
    def contributions(self, x: torch.Tensor) -> torch.Tensor:
        """Per-concept decoded contribution over time `[B, d, C, T]` (original scale)."""
        xr = self._ready(x)
        return (self.module.decoder.contributions(self.module.encode(xr)) / self.module.x_scale).to(x.device)

    def _probs(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.task.probabilities(self.module.f(x))

    def counterfactual(self, x: torch.Tensor, target_label, **kwargs) -> Counterfactual:
        """Algorithm 1: minimal concept intervention so that f(x_cf) = target_label. kwargs → `minimal_intervention`."""
        xr = self._ready(x)
        with frozen(self.module.blackbox), torch.no_grad():
            c = self.module.encode(xr)
        with frozen(self.module.blackbox):
            return minimal_intervention(c, self.module.decode, self.module.f, torch.as_tensor(target_label),
                                        task=self.module.task.name, **kwargs)

    @torch.no_grad()
    def cace(self, x: torch.Tensor, concepts: list[int] | None = None) -> torch.Tensor:
        """CaCE of removing each concept (default: those active in x): `[n_concepts, K]` on probabilities."""
        xr = self._ready(x)
        c = self.module.encode(xr)
        if concepts is None:
            concepts = torch.nonzero((c > 0).any(0)).flatten().tolist()
        return concept_cace(self.module.decode, self._probs, c, concepts)

    def car(self, pos_x: torch.Tensor, neg_x: torch.Tensor, **kwargs) -> dict:
        """Concept alignment (SVC on latent codes): held-out accuracy and the concept direction."""
        return car_classify(self.concepts(pos_x).cpu().numpy(), self.concepts(neg_x).cpu().numpy(), **kwargs)

    def car_regression(self, x: torch.Tensor, values, **kwargs) -> dict:
        """Concept alignment for a continuous concept value per sample (SVR, held-out R²)."""
        return car_regress(self.concepts(x).cpu().numpy(), np.asarray(values), **kwargs)

    # -- evaluation helpers (numbers; the metric maths is in timesae/metrics.py) ------------------------
    @torch.no_grad()
    def concept_metrics(self, x: torch.Tensor, target_labels: torch.Tensor | None = None) -> dict:
        """F_x, ε_rec, label fidelity, L0, dead fraction and (given targets) ε_cf and Spearman(ε_cf, F_x)."""
        xr = self._ready(x)
        c = self.concepts(xr)
        f_x = self._batched(self._probs, xr)
        x_hat = self._batched(self.module.decode, c)
        c_minus = sae_metrics.remove_top_concepts(c, self.n_remove)
        f_minus = self._batched(self._probs, self._batched(self.module.decode, c_minus))
        f_hat = self._batched(self._probs, x_hat)
        fx = sae_metrics.faithfulness_fx(f_x, f_minus)
        eps_rec = sae_metrics.epsilon_rec(f_x, f_hat)
        out = {
            "F_x": float(fx.mean()),
            "eps_rec": float(eps_rec.mean()),
            "label_fidelity": sae_metrics.label_fidelity(f_x, f_hat),
            "l0": sae_metrics.l0(c),
            "dead_frac": sae_metrics.dead_fraction(c),
            "fvu": float(((xr - x_hat) ** 2).sum() / ((xr - xr.mean(0)) ** 2).sum().clamp_min(1e-12)),
        }
        if target_labels is not None:  # counterfactuals for the first len(target_labels) samples
            n = len(target_labels)
            cf = self.counterfactual(xr[:n], target_labels, **self.cf_kwargs)
            f_cf = self._batched(self._probs, cf.x_cf)
            eps_cf = sae_metrics.epsilon_cf(f_cf, torch.as_tensor(target_labels), self.module.task.name)
            out["eps_cf"] = float(eps_cf.mean())
            out["cf_success"] = float(cf.success.float().mean())
            out["spearman_eps_cf_F_x"] = sae_metrics.spearman(eps_cf, fx[:n])
        return out

    @torch.no_grad()
    def distribution_scores(self, x: torch.Tensor, x_ref: torch.Tensor | None = None) -> dict:
        """KL (histogram), MMD (RBF, median heuristic) and KDE log-likelihood of g(E(x)) vs the data."""
        from tsexplain.evaluate.distribution import distribution_scores

        ref = x if x_ref is None else x_ref
        return distribution_scores(self.embed(x).cpu().numpy(), ref.cpu().numpy())

    # -- pipeline report --------------------------------------------------------------------------------
    def counterfactual_targets(self, x: torch.Tensor) -> torch.Tensor | None:
        """The class each sample's counterfactual should reach, as the task says (multiclass: the nearest other class,
        the second most probable); None where there is no class to flip to."""
        with torch.no_grad():
            outputs = self._batched(self.module.f, self._ready(x))
        return self.module.task.counterfactual_target(outputs)

    def first_counterfactual(self, x: torch.Tensor) -> tuple[torch.Tensor, Counterfactual] | None:
        """The target and counterfactual of the first sample of `x` (what `figures` draws); None without a class to
        flip to. The search is per sample, so it is the one `explanation_metrics` finds for that sample in its batch."""
        targets = self.counterfactual_targets(x[:1])
        return None if targets is None else (targets, self.counterfactual(x[:1], targets, **self.cf_kwargs))

    def explanation_metrics(self, x: torch.Tensor, target: torch.Tensor, meta) -> dict[str, float]:
        """F_x, ε_rec, label fidelity, L0, dead fraction, FVU; ε_cf and Spearman(ε_cf, F_x) on the first
        `n_counterfactuals` samples; KL/MMD/KDE of g(E(x)) against x; parameter counts."""
        n_cf = min(len(x), self.n_counterfactuals)
        out = self.concept_metrics(x, self.counterfactual_targets(x[:n_cf]) if n_cf else None)
        out.update(self.distribution_scores(x))
        rename = {"F_x": "faithfulness_fx", "dead_frac": "dead_fraction", "spearman_eps_cf_F_x": "spearman_eps_cf_fx"}
        metrics = {rename.get(k, k): float(v) for k, v in out.items()}
        metrics.update({f"params_{k}": float(v) for k, v in self.module.parameter_counts().items()})
        metrics["d_latent"] = float(self.module.d_latent)
        if self.val_loss is not None:
            metrics["val_loss"] = self.val_loss
        if self.health is not None:
            metrics.update(self.health.as_metrics())
        return metrics

    def figures(self, x: torch.Tensor, target: torch.Tensor, meta, fig_dir: Path) -> list[Path]:
        """Concept firing frequency over training epochs, the firing-frequency histogram, and a counterfactual
        of the first explained sample beside its input."""
        from tsexplain.report.figures import plot_concept_activations, plot_counterfactual, plot_firing_histogram

        paths = []
        history = self.module.firing_history
        if history:
            stacked = torch.stack([h.float() for h in history]).numpy()
            paths.append(plot_concept_activations(stacked, fig_dir / "timesae_concepts_over_training.png"))
        freq = sae_metrics.firing_frequency(self.concepts(x)).cpu().numpy()
        paths.append(plot_firing_histogram(freq, fig_dir / "timesae_firing_frequency.png"))
        first = self.first_counterfactual(x)
        if first is not None:
            cf_targets, cf = first
            names = meta.class_names or [str(i) for i in range(meta.n_outputs)]
            pred = int(self._probs(self._ready(x[:1])).argmax(-1))
            goal = f"{names[pred]} → {names[int(cf_targets[0])]}"
            title = (f"counterfactual {goal}: reached by changing {int(cf.changed[0].sum())} concept(s)"
                     if bool(cf.success[0]) else
                     f"counterfactual {goal} not reached (≤ {max(self.cf_kwargs.get('subset_sizes', [16]))} "
                     "concepts): red is the reconstruction g(E(x))")
            paths.append(plot_counterfactual(x[0].cpu().numpy(), cf.x_cf[0].detach().cpu().numpy(),
                                             fig_dir / "timesae_counterfactual.png", title=title,
                                             channel_names=meta.channel_names))
        return paths
