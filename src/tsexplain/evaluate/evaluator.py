"""Step 6: the `Evaluator` Hydra builds from the `evaluation` group, with its metric objects (ground truth,
deletion/insertion, timing, sanity checks, the IG reference, robustness). It scores an `Explanation` and returns
`Scores`; it never sees the run config."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from tsexplain.evaluate.faithfulness import Faithfulness
from tsexplain.evaluate.groundtruth import GroundTruth
from tsexplain.evaluate.randomization import SanityChecks
from tsexplain.evaluate.robustness import Robustness
from tsexplain.evaluate.timing import Timing
from tsexplain.explain.base import Explainer
from tsexplain.stages import Explanation, Scores, TestSet


class ReferenceIG:
    """Integrated gradients on the first `max_samples` explained samples, scored like the explainer
    (`explain_ig_ref/…`), so the summary can say whether the headline map beats plain IG on this run. Skipped when
    the explainer is IG itself or `max_samples` is 0/null."""

    def __init__(self, max_samples: int | None = 64, n_steps: int = 50) -> None:
        self.max_samples, self.n_steps = int(max_samples or 0), int(n_steps)

    def saliency(self, explainer: Explainer, blackbox: nn.Module, test: TestSet) -> tuple[TestSet, torch.Tensor] | None:
        if self.max_samples <= 0 or explainer.name == "integrated_gradients":
            return None
        from tsexplain.explain.captum_baselines import IntegratedGradients

        sub = test.take(min(self.max_samples, len(test)))
        return sub, IntegratedGradients(n_steps=self.n_steps).fit(blackbox).attribute(sub.x, sub.target)


class Evaluator:
    """What a run measures after explaining, and on which samples (the `evaluation` config group)."""

    def __init__(
        self,
        max_samples: int | None = None,
        target: str = "pred",
        n_narratives: int = 100,
        save_saliency: bool = True,
        ground_truth: GroundTruth | None = None,
        faithfulness: Faithfulness | None = None,
        timing: Timing | None = None,
        sanity: SanityChecks | None = None,
        reference_ig: ReferenceIG | None = None,
        robustness_sigmas: Sequence[float] = (),
        seed: int = 0,
    ) -> None:
        if target not in ("pred", "label"):
            raise ValueError(f"evaluation.target={target!r} is unknown; use pred or label.")
        if max_samples is not None and int(max_samples) < 1:
            raise ValueError(f"evaluation.max_samples={max_samples} must be ≥ 1 or null (the whole test set).")
        self.max_samples, self.target = max_samples, target
        self.n_narratives, self.save_saliency = int(n_narratives), bool(save_saliency)
        self.ground_truth = ground_truth if ground_truth is not None else GroundTruth()
        self.faithfulness = faithfulness if faithfulness is not None else Faithfulness()
        self.timing = timing if timing is not None else Timing()
        self.sanity = sanity
        self.reference_ig = reference_ig
        self.robustness = Robustness(robustness_sigmas, seed)

    def score_map(self, saliency: torch.Tensor, test: TestSet, blackbox: nn.Module,
                  prefix: str = "explain") -> Scores:
        """Ground-truth scores (both definitions) and deletion/insertion faithfulness of one map."""
        gt = self.ground_truth(saliency, test.mask, test.y, test.task, test.meta.scored_classes)
        faith, curves = self.faithfulness(blackbox, test.x, saliency, test.target, test.task.name)
        return Scores({f"{prefix}/{k}": v for k, v in {**gt, **faith}.items()}, curves)

    def evaluate(self, explanation: Explanation, blackbox: nn.Module, explainer: Explainer,
                 text_scores: Callable[[Explanation], Mapping[str, float]] | None = None) -> Scores:
        """Every score of the explanation: its map and each component map, timing, the explainer's own scores,
        sanity checks, the IG reference and (with `robustness_sigmas`) the robustness study, whose text scores
        come from `text_scores` (the narration of an explanation) when given."""
        test = explanation.test
        head = self.score_map(explanation.saliency, test, blackbox)
        metrics = dict(head.metrics)
        metrics["explain/ms_per_instance"] = explanation.ms_per_instance
        metrics["explain/fit_s"] = explanation.fit_s
        curves = {"explainer": head.curves}
        for name, m in explanation.maps.items():
            if m.shape == explanation.saliency.shape and name != "fused":
                sub = self.score_map(m, test, blackbox, prefix=f"explain_{name}")
                metrics.update(sub.metrics)
                curves[name] = sub.curves
        extra = explainer.explanation_metrics(test.x, test.target, test.meta)
        metrics.update({f"explain/{k}": v for k, v in extra.items()})
        metrics.update(self.sanity_scores(explanation, blackbox, explainer))
        reference = self.reference_ig.saliency(explainer, blackbox, test) if self.reference_ig else None
        if reference is not None:
            sub_test, sal = reference
            metrics.update(self.score_map(sal, sub_test, blackbox, prefix="explain_ig_ref").metrics)
            metrics["explain_ig_ref/n_samples"] = float(len(sub_test))

        def noisy_scores(x: torch.Tensor) -> dict[str, float]:
            noisy = test.with_inputs(x)
            again = Explanation(noisy, explainer.attribute(x, test.target))
            out = self.score_map(again.saliency, noisy, blackbox, prefix="r").metrics
            return {**out, **(text_scores(again) if text_scores is not None else {})}

        metrics.update(self.robustness(test.x, noisy_scores))
        return Scores(metrics, curves)

    def sanity_scores(self, explanation: Explanation, blackbox: nn.Module, explainer: Explainer) -> dict[str, float]:
        """Model-randomisation Spearman, infidelity and sensitivity-max of the explainer's map."""
        if self.sanity is None:
            return {}
        t0 = time.perf_counter()
        test = explanation.test
        out = self.sanity(explainer, blackbox, test.x, test.target, explanation.saliency)
        if out:
            out["explain/sanity_s"] = time.perf_counter() - t0
        return out
