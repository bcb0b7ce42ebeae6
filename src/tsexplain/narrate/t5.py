"""T5 narrator: a small seq2seq model that learns to verbalise regions, with the template sentence as fallback.

Source = a compact description of the regions ("label=up/10 | ch0 12-15 12-15s strongly ; ..."), target = the
template sentence (the paper's "optional T5 fine-tuning" on top of templates). Offline by construction: a T5
built from `T5Config` with the file-free byte-level `ByT5Tokenizer`, or a local checkpoint folder.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import AutoTokenizer, ByT5Tokenizer, T5Config, T5ForConditionalGeneration
from transformers.generation.streamers import BaseStreamer

from tsexplain.data.meta import DataMeta
from tsexplain.narrate.base import Narrator
from tsexplain.narrate.regions import Region
from tsexplain.narrate.templates import Prediction, TemplateNarrator, _to_numpy, prediction_label, region_fields
from tsexplain.utils import progress

log = logging.getLogger(__name__)

DEFAULT_SOURCE_FORMAT = "{channel} {start}-{end} {start_s:g}-{end_s:g}s {strength} {direction}"


class _TokenBar(BaseStreamer):
    """Advances a progress bar by one decoding step each time `generate` hands over new tokens (the first call
    brings the decoder's start tokens, not a step)."""

    def __init__(self, bar) -> None:
        self.bar, self.started = bar, False

    def put(self, value: torch.Tensor) -> None:
        if self.started:
            self.bar.update(1)
        self.started = True

    def end(self) -> None:
        self.bar.close()


class T5NarratorModule(L.LightningModule):
    """Teacher-forced cross-entropy training of a `T5ForConditionalGeneration`; keeps each step's loss."""

    def __init__(self, model: T5ForConditionalGeneration, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay
        self.losses: list[float] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.model(**batch).loss
        self.losses.append(float(loss.detach()))
        self.log("narrator/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)


class T5Narrator(Narrator):
    """Regions → sentence by a (tiny, trained-here or local pretrained) T5; falls back to the template sentence.

    `fallbacks` counts texts where the generation was empty or named none of the regions' channels, and
    `generated` counts all texts the model was asked for; samples without regions get the template's
    "no salient region" sentence directly (nothing to verbalise).
    """

    def __init__(self, template: TemplateNarrator | None = None, pretrained_path: str | None = None,
                 d_model: int = 64, num_layers: int = 2, num_heads: int = 4, d_ff: int = 128,
                 dropout: float = 0.0, source_format: str = DEFAULT_SOURCE_FORMAT, max_source_len: int = 512,
                 max_new_tokens: int = 256, max_steps: int = 300, lr: float = 1e-3, batch_size: int = 16,
                 accelerator: str = "auto", seed: int = 0, fit_samples: int = 512) -> None:
        self.fit_samples = fit_samples  # training-split maps the run trains on (narration.fit_narrator)
        self.pretrained_path = pretrained_path
        self.template = template if template is not None else TemplateNarrator()
        self.source_format = source_format
        self.max_source_len = max_source_len
        self.max_new_tokens = max_new_tokens
        self.max_steps, self.lr, self.batch_size = max_steps, lr, batch_size
        self.accelerator = accelerator
        self.seed = seed
        self.fallbacks = 0
        self.generated = 0
        self.losses: list[float] = []
        self.max_regions = self.template.max_regions
        if pretrained_path is not None:
            self.model, self.tokenizer = self._load(pretrained_path)
        else:
            self.tokenizer = ByT5Tokenizer()
            config = T5Config(vocab_size=len(self.tokenizer), d_model=d_model, d_kv=d_model // num_heads, d_ff=d_ff,
                              num_layers=num_layers, num_heads=num_heads, dropout_rate=dropout,
                              pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
                              decoder_start_token_id=self.tokenizer.pad_token_id)
            with torch.random.fork_rng():  # reproducible init without touching the caller's RNG
                torch.manual_seed(seed)
                self.model = T5ForConditionalGeneration(config)
        self.model.eval()

    @staticmethod
    def _load(path: str) -> tuple[T5ForConditionalGeneration, Any]:
        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise ValueError(f"pretrained_path={path} is not a saved T5 folder (no config.json there); give a folder "
                             "written by T5Narrator.save / save_pretrained, or set pretrained_path=null to train one.")
        model = T5ForConditionalGeneration.from_pretrained(folder, local_files_only=True)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as err:
            if model.config.vocab_size != len(ByT5Tokenizer()):
                raise ValueError(f"pretrained_path={path} has no tokenizer files and is not byte-level; save the "
                                 "tokenizer into the same folder.") from err
            tokenizer = ByT5Tokenizer()
        return model, tokenizer

    # -- text ----------------------------------------------------------------------------------------
    def source_text(self, regions: Sequence[Region], meta: DataMeta, prediction: Prediction = None,
                    x: np.ndarray | torch.Tensor | None = None) -> str:
        """The compact structured description the model reads, e.g. "label=up/10 | ch0 12-15 12-15s strongly"."""
        xs = _to_numpy(x)
        levels = self.template.strength_levels
        parts = [self.source_format.format(**region_fields(r, meta, xs, i + 1, levels))
                 for i, r in enumerate(list(regions)[: self.max_regions])]
        parts = [" ".join(p.split()) for p in parts]
        return f"label={prediction_label(prediction, meta) or '?'} | " + " ; ".join(parts)

    def pairs(self, saliency: np.ndarray | torch.Tensor, meta: DataMeta,
              predictions: Sequence[Prediction] | None = None,
              x: np.ndarray | torch.Tensor | None = None) -> list[tuple[str, str]]:
        """(source, template sentence) training pairs from a batch of maps [B, C, T]; maps without regions skipped."""
        preds = [None] * len(saliency) if predictions is None else list(predictions)
        out = []
        for i in range(len(saliency)):
            regions = self.template.regions(saliency[i])
            if regions:
                xi = None if x is None else x[i]
                out.append((self.source_text(regions, meta, preds[i], xi),
                            self.template.describe(regions, meta, preds[i], xi)))
        return out

    # -- training ------------------------------------------------------------------------------------
    def _collate(self, batch: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
        src = self.tokenizer([s for s, _ in batch], padding=True, truncation=True, max_length=self.max_source_len,
                             return_tensors="pt")
        tgt = self.tokenizer([t for _, t in batch], padding=True, truncation=True, max_length=self.max_new_tokens,
                             return_tensors="pt")
        labels = tgt["input_ids"].masked_fill(tgt["attention_mask"] == 0, -100)
        return {"input_ids": src["input_ids"], "attention_mask": src["attention_mask"], "labels": labels}

    def fit(self, pairs: Sequence[tuple[str, str]], max_steps: int | None = None, lr: float | None = None,
            batch_size: int | None = None, trainer: L.Trainer | None = None) -> T5Narrator:
        """Train on (source, target) pairs for `max_steps` optimiser steps; `self.losses` holds each step's loss."""
        pairs = list(pairs)
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ValueError("fit needs a non-empty list of (source, target) string pairs; build them with "
                             "T5Narrator.pairs(saliency, meta, predictions).")
        steps = max_steps or self.max_steps
        module = T5NarratorModule(self.model.train(), lr=lr or self.lr)
        loader = DataLoader(pairs, batch_size=batch_size or self.batch_size, shuffle=True, collate_fn=self._collate,
                            generator=torch.Generator().manual_seed(self.seed))
        trainer = trainer or L.Trainer(max_steps=steps, max_epochs=-1, accelerator=self.accelerator, devices=1,
                                       logger=False, enable_checkpointing=False, enable_progress_bar=False,
                                       enable_model_summary=False)
        trainer.fit(module, loader)
        self.losses.extend(module.losses)
        self.model = module.model.eval()
        return self

    def fit_maps(self, saliency: np.ndarray | torch.Tensor, meta: DataMeta,
                 predictions: Sequence[Prediction] | None = None,
                 x: np.ndarray | torch.Tensor | None = None, **fit_kwargs: Any) -> T5Narrator:
        """`fit` on the template sentences of a batch of maps [B, C, T].

        When no map has a salient region (e.g. an explainer whose maps are all constant) there is nothing to
        learn: the model stays untrained, with a warning, and the narratives fall back to the template
        (`fallbacks` counts them) instead of the run failing after its black box trained.
        """
        pairs = self.pairs(saliency, meta, predictions, x)
        if not pairs:
            log.warning("T5 narrator not trained: none of the %d maps has a salient region (constant maps?); "
                        "its narratives will be the template's.", len(saliency))
            return self
        return self.fit(pairs, **fit_kwargs)

    # -- generation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, sources: Sequence[str]) -> list[str]:
        """Greedy decoding of at most `max_new_tokens` tokens for each source text."""
        enc = self.tokenizer(list(sources), padding=True, truncation=True, max_length=self.max_source_len,
                             return_tensors="pt").to(self.model.device)
        kw: dict[str, Any] = {}
        if progress.bars_enabled(self.max_new_tokens):  # only then a streamer: otherwise generate runs as ever
            kw["streamer"] = _TokenBar(progress.bar(self.max_new_tokens, f"T5 narratives ({len(sources)})", "token"))
        try:
            out = self.model.eval().generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                             num_beams=1, **kw)
        finally:
            if kw:
                kw["streamer"].end()  # also when generate fails (closing twice is harmless)
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    @staticmethod
    def usable(text: str, regions: Sequence[Region], meta: DataMeta) -> bool:
        """A generation is usable when non-empty and it names at least one of the regions' channels."""
        names = {meta.channel_names[r.channel] for r in regions}
        return bool(text) and any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text) for n in names)

    def describe_batch(self, regions: Sequence[Sequence[Region]], meta: DataMeta,
                       predictions: Sequence[Prediction] | None = None,
                       x: np.ndarray | torch.Tensor | None = None) -> list[str]:
        """Sentences for several samples' regions, generated in one batch."""
        preds = [None] * len(regions) if predictions is None else list(predictions)
        xs = [None if x is None else x[i] for i in range(len(regions))]
        texts = [self.template.describe(r, meta, p, xi) for r, p, xi in zip(regions, preds, xs, strict=True)]
        todo = [i for i, r in enumerate(regions) if r]
        if todo:
            gens = self.generate([self.source_text(regions[i], meta, preds[i], xs[i]) for i in todo])
            self.generated += len(todo)
            for i, gen in zip(todo, gens, strict=True):
                if self.usable(gen, regions[i], meta):
                    texts[i] = gen
                else:
                    self.fallbacks += 1
        return texts

    def describe(self, regions: Sequence[Region], meta: DataMeta, prediction: Prediction = None,
                 x: np.ndarray | torch.Tensor | None = None) -> str:
        return self.describe_batch([regions], meta, [prediction], None if x is None else [x])[0]

    @property
    def needs_fit(self) -> bool:
        """Trained in the run unless a pretrained folder was given."""
        return self.pretrained_path is None

    def regions(self, saliency: np.ndarray | torch.Tensor) -> list[Region]:
        """The template's regions: what the T5 verbalises."""
        return self.template.regions(saliency)

    def reference_narrative(self, mask: np.ndarray | torch.Tensor, meta: DataMeta, label: Prediction = None,
                            x: np.ndarray | torch.Tensor | None = None) -> str:
        """References are always template sentences (from the ground-truth mask)."""
        return self.template.reference_narrative(mask, meta, label, x)

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write model + tokenizer with `save_pretrained` into `path` (reload with `pretrained_path=path`)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return folder

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return f"T5Narrator({n} parameters, template={self.template!r})"
