"""Step 7: narratives of the explained samples (and, for a narrator that learns, its fit on training maps)."""

from __future__ import annotations

import logging

from tsexplain.explain.base import Explainer
from tsexplain.narrate.base import Narrator
from tsexplain.narrate.text_metrics import text_scores
from tsexplain.stages import Explanation, Narration, explained_samples

log = logging.getLogger(__name__)


def fit_narrator(narrator: Narrator, explainer: Explainer, blackbox, data) -> Narrator:
    """A narrator that learns (`needs_fit`: a T5 without `pretrained_path`) learns to verbalise the explainer's maps
    of *training* samples (`fit_samples`), so no test sample is seen in training."""
    if not narrator.needs_fit:
        return narrator
    train = explained_samples(_TrainSplit(data), blackbox, narrator.fit_samples)
    sal = explainer.attribute(train.x, train.target).cpu().numpy()
    narrator.fit_maps(sal, data.meta, train.predictions(), x=train.x.cpu().numpy())
    losses = getattr(narrator, "losses", None) or [float("nan")]
    log.info("narrator trained on %d training-sample maps (last loss %.3f)", len(train), losses[-1])
    return narrator


class _TrainSplit:
    """`data` with its training split where `explained_samples` reads the test split."""

    def __init__(self, data) -> None:
        self.data, self.meta = data, data.meta

    def split_arrays(self, split: str) -> dict:
        return self.data.split_arrays("train")


def narrate(narrator: Narrator, explanation: Explanation, n: int) -> Narration:
    """Narratives for the first `n` samples, the regions each talks about, and BLEU-4/ROUGE-L against the
    ground-truth references (samples with a scored class and a non-empty mask, for tasks that score masks)."""
    test = explanation.test.take(min(len(explanation.test), int(n)))
    meta, task = test.meta, test.task
    x = test.x.detach().cpu().numpy()
    sal = explanation.saliency[: len(test)].detach().cpu().numpy()
    labels = test.predictions()
    before = (narrator.fallbacks, narrator.generated)
    regions = [narrator.regions(s) for s in sal]
    texts_all = narrator.describe_batch(regions, meta, labels, x=x)  # batched for T5
    texts, refs, records = [], [], []
    mask = None if test.mask is None else test.mask.cpu()
    y = test.y.cpu()
    for i, text in enumerate(texts_all):
        record = {"index": int(test.index[i]), "prediction": labels[i], "narrative": text}
        scored = meta.scored_classes is None or int(y[i]) in meta.scored_classes
        if mask is not None and task.scores_ground_truth and scored and mask[i].any():
            # The reference names the true class and the true regions: a narrative is only right if both are.
            ref = narrator.reference_narrative(mask[i].numpy(), meta, int(y[i]), x=x[i])
            texts.append(text)
            refs.append(ref)
            record["reference"] = ref
        records.append(record)
    metrics = {f"narrate/{k}": float(v) for k, v in text_scores(texts, refs).items()} if texts else {}
    generated = narrator.generated - before[1]
    if generated:  # this call's share only: the narrator's counters add up over calls
        metrics["narrate/fallback_rate"] = (narrator.fallbacks - before[0]) / generated
    return Narration(records=records, regions=regions, metrics=metrics)
