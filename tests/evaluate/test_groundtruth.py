"""Ground-truth metrics against analytic cases and sklearn computed independently."""

from math import comb

import numpy as np
import pytest
import torch
from sklearn.metrics import auc, average_precision_score, precision_recall_curve

from tsexplain.evaluate.groundtruth import gt_scores_per_sample, gt_scores_pooled


def _segment_masks(n: int, c: int, t: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros((n, c, t))
    for i in range(n):
        s = rng.integers(0, t - 8)
        mask[i, rng.integers(0, c), s : s + rng.integers(3, 8)] = 1
    return mask


def test_perfect_explanation_scores_one():
    mask = _segment_masks(20, 2, 32)
    out = gt_scores_per_sample(mask * 3.0 + 1.0, mask)  # affine copies normalise to the mask
    assert out["auprc"] == pytest.approx(1.0)
    assert out["aur"] == pytest.approx(1.0)
    assert out["auprc_sem"] == pytest.approx(0.0)
    assert out["n_scored"] == 20
    assert gt_scores_pooled(mask, mask)["pooled_auprc"] == pytest.approx(1.0)


def test_perfect_binary_mask_at_base_rate_quarter_has_aup_0625():
    # thresholds {0, 1}: precision 0.25 at 0 and 1 at 1, linear in between -> (0.25 + 1) / 2 (REFERENCE §2)
    mask = np.zeros((3, 2, 8))
    mask[:, 0, 2:6] = 1  # 4 of 16 points
    out = gt_scores_per_sample(mask, mask)
    assert out["aup"] == pytest.approx(0.625)
    assert out["aur"] == pytest.approx(1.0)


def test_inverted_explanation_is_at_or_below_base_rate():
    mask = _segment_masks(30, 2, 32, seed=1)
    out = gt_scores_per_sample(1.0 - mask, mask)
    base = (mask.reshape(30, -1).mean(axis=1)).mean()
    assert out["auprc"] <= base + 1e-9
    assert out["auprc"] < 0.3


def _expected_random_ap(n: int, p: int) -> float:
    """Exact E[AP] of a random ranking with p positives among n items (Bestgen 2015)."""
    total = 0.0
    for i in range(1, p + 1):
        for r in range(i, n - p + i + 1):
            total += comb(r - 1, i - 1) * comb(n - r, p - i) / comb(n, p) * i / r
    return total / p


def test_random_explanation_matches_exact_random_baseline_and_gt_fraction():
    rng = np.random.default_rng(0)
    n, t, p = 400, 64, 16
    mask = np.zeros((n, 1, t))
    for i in range(n):
        mask[i, 0, rng.choice(t, p, replace=False)] = 1
    out = gt_scores_per_sample(rng.random((n, 1, t)), mask)
    assert abs(out["auprc"] - _expected_random_ap(t, p)) < 4 * out["auprc_sem"]
    assert abs(out["auprc"] - p / t) < 0.06  # near the GT fraction, slightly above for finite T


def test_constant_map_is_finite_and_documented():
    mask = _segment_masks(10, 2, 32)
    out = gt_scores_per_sample(np.full(mask.shape, 0.7), mask)
    assert all(np.isfinite(v) for v in out.values())
    assert out["auprc"] == pytest.approx(mask.reshape(10, -1).mean(axis=1).mean())  # = GT fraction
    assert out["aup"] == 0.0 and out["aur"] == 0.0
    pooled = gt_scores_pooled(np.zeros_like(mask), mask)
    assert np.isfinite(pooled["pooled_auprc"]) and pooled["pooled_aup"] == 0.0


def test_scored_classes_and_empty_masks_are_skipped_and_counted():
    mask = _segment_masks(12, 2, 32)
    labels = np.array([0, 1, 2] * 4)
    sal = np.where(labels[:, None, None] == 0, 1.0 - mask, mask)  # class 0 explained badly
    mask[labels == 2] = 0  # empty masks
    out = gt_scores_per_sample(sal, mask, labels=labels, scored_classes=[1, 2])
    assert out["auprc"] == pytest.approx(1.0)
    assert (out["n_scored"], out["n_skipped_class"], out["n_skipped_empty"]) == (4, 4, 4)
    assert gt_scores_per_sample(sal, mask, labels=labels)["auprc"] < 0.9  # class 0 counted without filter
    with pytest.raises(ValueError, match="labels"):
        gt_scores_per_sample(sal, mask, scored_classes=[1])
    with pytest.raises(ValueError, match="no sample left"):
        gt_scores_per_sample(sal, mask, labels=labels, scored_classes=[2])


def test_pooled_differs_from_per_sample_and_both_match_sklearn():
    mask = np.zeros((2, 1, 6))
    mask[:, 0, :2] = 1
    sal = np.array([[[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]],  # perfect
                    [[0.5, 0.2, 1.0, 0.0, 0.0, 0.0]]])  # one negative above both positives
    per, pooled = gt_scores_per_sample(sal, mask), gt_scores_pooled(sal, mask)
    norm = (sal - sal.min(axis=2, keepdims=True)) / np.ptp(sal, axis=2, keepdims=True)
    per_ref = np.mean([average_precision_score(mask[i, 0], norm[i, 0]) for i in range(2)])
    assert per["auprc"] == pytest.approx(per_ref)
    assert pooled["pooled_auprc"] == pytest.approx(average_precision_score(mask.ravel(), norm.ravel()))
    assert abs(per["auprc"] - pooled["pooled_auprc"]) > 0.01


def test_single_sample_per_sample_equals_pooled_equals_sklearn():
    rng = np.random.default_rng(3)
    mask = np.zeros((1, 2, 16))
    mask[0, 1, 4:9] = 1
    sal = torch.tensor(rng.random((1, 2, 16)) * 5 - 1)  # torch input, needs normalising
    e = sal.numpy().ravel()
    e = (e - e.min()) / (e.max() - e.min())
    prec, rec, thr = precision_recall_curve(mask.ravel(), e)
    per, pooled = gt_scores_per_sample(sal, torch.tensor(mask)), gt_scores_pooled(sal, mask)
    assert per["auprc"] == pytest.approx(average_precision_score(mask.ravel(), e))
    assert per["aup"] == pytest.approx(auc(thr, prec[:-1]))
    assert per["aur"] == pytest.approx(auc(thr, rec[:-1]))
    assert (pooled["pooled_auprc"], pooled["pooled_aup"], pooled["pooled_aur"]) == pytest.approx(
        (per["auprc"], per["aup"], per["aur"]))


def test_bad_inputs_fail_loudly():
    mask = _segment_masks(4, 2, 16)
    with pytest.raises(ValueError, match="same shape"):
        gt_scores_per_sample(mask[:, :1], mask)
    with pytest.raises(ValueError, match="binary"):
        gt_scores_per_sample(mask, mask * 0.5)
    bad = mask.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gt_scores_pooled(bad, mask)
