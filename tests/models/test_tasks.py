"""The task objects' explainer-facing answers: the score an explainer follows and a counterfactual's class."""

import torch

from tsexplain.data.meta import DataMeta
from tsexplain.tasks import task_for


def _task(kind: str, k: int = 3):
    return task_for(DataMeta(name="t", task=kind, n_channels=1, seq_len=8, n_outputs=k))


def test_target_score_is_the_log_probability_for_multiclass_and_the_raw_output_otherwise():
    out, target = torch.tensor([[2.0, 0.0, -1.0], [0.0, 30.0, 0.0]]), torch.tensor([0, 1])
    logp = out.log_softmax(-1)
    assert torch.allclose(_task("multiclass").target_score(out, target), torch.stack([logp[0, 0], logp[1, 1]]))
    assert _task("multiclass").target_score(out, target)[1] > -1e-6  # saturated, yet finite and still ordered
    for kind in ("multilabel", "regression"):
        assert torch.equal(_task(kind).target_score(out, target), torch.tensor([2.0, 30.0]))


def test_counterfactual_target_is_the_runner_up_class_and_none_without_classes_to_flip():
    out = torch.tensor([[2.0, 0.0, 1.0], [0.0, 3.0, 4.0]])
    assert torch.equal(_task("multiclass").counterfactual_target(out), torch.tensor([2, 1]))
    assert _task("multiclass", 1).counterfactual_target(out[:, :1]) is None
    for kind in ("multilabel", "regression"):
        assert _task(kind).counterfactual_target(out) is None
