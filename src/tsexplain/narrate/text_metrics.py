"""BLEU-4 and ROUGE-L of generated narratives against reference narratives (torchmetrics, offline).

BLEU is corpus-level (torchmetrics `BLEUScore`, whitespace tokens, no smoothing: a text shorter than 4
tokens scores 0). ROUGE-L is the mean per-pair F-measure; torchmetrics lowercases and keeps [a-z0-9] tokens.
No stemmer and no `rougeLsum`: both would need nltk (and nltk's punkt download), which is not available here.
"""

from __future__ import annotations

from collections.abc import Sequence

from torchmetrics.text import BLEUScore, ROUGEScore


def text_scores(predictions: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]]) -> dict[str, float]:
    """{'bleu4', 'rougeL_f'} for generated texts against one reference (str) or several (list[str]) each."""
    preds = list(predictions)
    if isinstance(predictions, str) or isinstance(references, str):
        raise ValueError("text_scores takes lists of texts; wrap a single text as [text].")
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if not preds or len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions for {len(refs)} references; give one reference (or list of "
                         "references) per prediction, at least one pair.")
    bleu = BLEUScore(n_gram=4)(preds, refs)
    rouge = ROUGEScore(rouge_keys=("rougeL",), use_stemmer=False, accumulate="best")(preds, refs)
    return {"bleu4": float(bleu), "rougeL_f": float(rouge["rougeL_fmeasure"])}
