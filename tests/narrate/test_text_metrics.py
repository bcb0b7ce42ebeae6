"""BLEU-4 / ROUGE-L wrapper: analytic extremes and agreement with torchmetrics called directly."""

from __future__ import annotations

import pytest
from torchmetrics.functional.text import bleu_score, rouge_score

from tsexplain.narrate.text_metrics import text_scores

REF = ["Predicted MI: lead V2 is strongly salient at 1.50–2.50 s; lead I is weakly salient at 3.00–3.20 s.",
       "Predicted NORM: no salient ECG segment was found."]


def test_identical_is_one_disjoint_is_zero():
    assert text_scores(REF, REF) == {"bleu4": pytest.approx(1.0), "rougeL_f": pytest.approx(1.0)}
    scores = text_scores(["alpha beta gamma delta epsilon", "zeta eta theta iota kappa"], REF)
    assert scores == {"bleu4": 0.0, "rougeL_f": 0.0}


def test_agrees_with_torchmetrics_directly():
    preds = ["Predicted MI: lead V2 is moderately salient at 1.40–2.50 s.",
             "Predicted NORM: lead II is weakly salient at 0.10–0.30 s."]
    got = text_scores(preds, REF)
    assert got["bleu4"] == pytest.approx(float(bleu_score(preds, [[r] for r in REF], n_gram=4)))
    assert got["rougeL_f"] == pytest.approx(float(rouge_score(preds, REF, rouge_keys="rougeL")["rougeL_fmeasure"]))
    assert 0.0 < got["bleu4"] < got["rougeL_f"] < 1.0


def test_rouge_l_by_hand():
    # LCS("a b c d", "a c d e") = 3 → P = R = F = 3/4.
    assert text_scores(["a b c d"], ["a c d e"])["rougeL_f"] == pytest.approx(0.75)


def test_mismatched_lengths_fail():
    with pytest.raises(ValueError, match="one reference"):
        text_scores(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="lists"):
        text_scores("a b", "a b")
