"""`Narrator`: the interface every narrator implements (templates, T5), so the narration step needs no probes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tsexplain.data.meta import DataMeta
from tsexplain.narrate.regions import Region

Prediction = int | float | str | Sequence[int] | None
Array = np.ndarray | torch.Tensor


class Narrator(ABC):
    """Salient regions of a map → one sentence.

    `regions(map)` are the regions a narrative talks about (the report draws exactly these); `describe_batch`
    puts several samples' regions into words; `reference_narrative` is the text a ground-truth mask gives (for
    BLEU/ROUGE). A narrator that learns (T5) says so with `needs_fit` and learns in `fit_maps` from an explainer's
    maps of `fit_samples` training samples. `generated` counts the texts a model was asked for and `fallbacks`
    those it replaced by the template's (both add up over calls).
    """

    fit_samples: int = 0
    generated: int = 0
    fallbacks: int = 0

    @property
    def needs_fit(self) -> bool:
        return False

    def fit_maps(self, saliency: Array, meta: DataMeta, predictions: Sequence[Prediction] | None = None,
                 x: Array | None = None, **kwargs: Any) -> Narrator:
        """Learn from maps `[B, C, T]` (a no-op for narrators that do not learn)."""
        return self

    @abstractmethod
    def regions(self, saliency: Array) -> list[Region]: ...

    @abstractmethod
    def describe_batch(self, regions: Sequence[Sequence[Region]], meta: DataMeta,
                       predictions: Sequence[Prediction] | None = None, x: Array | None = None) -> list[str]: ...

    @abstractmethod
    def reference_narrative(self, mask: Array, meta: DataMeta, label: Prediction = None,
                            x: Array | None = None) -> str: ...

    def narrate(self, saliency: Array, meta: DataMeta, prediction: Prediction = None, x: Array | None = None) -> str:
        """One sentence for one map [C, T] (optional input x [C, T] for elevated/depressed)."""
        return self.describe_batch([self.regions(saliency)], meta, [prediction], None if x is None else [x])[0]

    def narrate_batch(self, saliency: Array, meta: DataMeta, predictions: Sequence[Prediction] | None = None,
                      x: Array | None = None) -> list[str]:
        """`narrate` over a batch [B, C, T]."""
        return self.describe_batch([self.regions(s) for s in saliency], meta, predictions, x)
