"""The task a dataset poses (multiclass, multilabel, regression): one object that knows how to predict, which output
to explain, which loss and metrics apply and how a prediction reads, so no stage switches on `meta.task` itself.

`task_for(meta)` builds it from `DataMeta.task`. Adding a task is one class here plus one line in `TASKS`
(`Forecasting`, at the end, is built by the forecaster from a regression meta and its horizon instead); the class
implements:

    name                      the `DataMeta.task` string it serves
    default_loss()            the training loss `(outputs, y) -> scalar` when `model/loss` is not for this task
    loss(configured)          the loss to train with, given the configured one (or None)
    metrics(prefix)           torchmetrics for one split (a fresh collection per call)
    metric_inputs(out, y)     what those metrics are updated with
    probabilities(outputs)    scores in [0, 1] (softmax, sigmoid) or the raw outputs where none exist
    target_score(outputs, t)  the score of output t an explainer follows (log-probability, or the raw output)
    counterfactual_target(outputs)   the class a counterfactual should reach (multiclass: the runner-up), or None
    predict(outputs)          one prediction per sample (class index, or output 0 for regression)
    explained_target(outputs, y, mode)   the output index an explainer explains, per sample (`evaluation.target`)
    prediction_value(pred)    the prediction as a JSON/narrative number (int class or float value)
    prediction_label(pred)    the prediction in words (class name, joined label names, numbers)
    scores_ground_truth       whether ground-truth masks are scored for this task (per-class masks: multiclass)

Pure metric functions (`evaluate.faithfulness.deletion_curve`, TimeSAE's losses) keep a `task` string argument:
they are called with `task.name`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
import torchmetrics as tm

from tsexplain.data.meta import DataMeta

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error with `y` reshaped to the outputs (regression targets arrive as [B] or [B, K])."""
    return F.mse_loss(out, y.float().reshape(out.shape))


def bce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits, one term per label."""
    return F.binary_cross_entropy_with_logits(out, y.float())


class Task(ABC):
    """What a task means for training, explaining and reporting; see the module docstring for the contract."""

    name: ClassVar[str]
    scores_ground_truth: ClassVar[bool] = False

    def __init__(self, meta: DataMeta | None = None) -> None:
        self.meta = meta

    @property
    def n_outputs(self) -> int:
        if self.meta is None:
            raise ValueError(f"the {self.name} task was built without DataMeta; use task_for(meta).")
        return self.meta.n_outputs

    # -- training -----------------------------------------------------------------------------------------------
    @abstractmethod
    def default_loss(self) -> Loss: ...

    def loss(self, configured: Loss | None) -> Loss:
        """The configured loss where it applies to this task, else the task's own."""
        return configured if configured is not None else self.default_loss()

    @abstractmethod
    def metrics(self, prefix: str) -> tm.MetricCollection: ...

    @abstractmethod
    def metric_inputs(self, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    # -- predictions --------------------------------------------------------------------------------------------
    @abstractmethod
    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def predict(self, outputs: torch.Tensor) -> torch.Tensor: ...

    def default_target(self, outputs: torch.Tensor) -> torch.Tensor:
        """The output index to explain when none is given: the predicted class."""
        return outputs.argmax(-1).long()

    def target_score(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The score of output `target [B]` whose change an explainer follows, `[B]`: the raw output here; the
        log-probability for multiclass (it keeps resolving where a probability has saturated)."""
        return outputs.gather(1, target.long().reshape(-1, 1).to(outputs.device)).squeeze(1)

    def counterfactual_target(self, outputs: torch.Tensor) -> torch.Tensor | None:
        """The output a counterfactual of each sample should reach; None where the task has no class to flip to."""
        return None

    def explained_target(self, outputs: torch.Tensor, y: torch.Tensor | None = None,
                         mode: str = "pred") -> torch.Tensor:
        """`mode="pred"`: the default target; `mode="label"` explains the true class where the task has one."""
        if mode not in ("pred", "label"):
            raise ValueError(f"evaluation.target={mode!r} is unknown; use pred or label.")
        return self.default_target(outputs)

    def prediction_value(self, pred: Any) -> int | float:
        return int(pred)

    def prediction_label(self, prediction: np.ndarray) -> str:
        """A prediction in words for the narrator and the report: the class name of one class index."""
        idx = self._class_indices(prediction)
        if len(idx) != 1:
            raise ValueError(f"prediction={prediction!r} is not one class index for task={self.name}; pass the "
                             "argmax of the logits.")
        return self._class_names(idx)

    def _class_indices(self, prediction: np.ndarray) -> list[int]:
        arr = np.atleast_1d(np.asarray(prediction))
        return [int(i) for i in (np.flatnonzero(arr) if arr.dtype == bool else arr.ravel())]

    def _class_names(self, idx: list[int]) -> str:
        names = self.meta.class_names
        n = len(names) if names is not None else self.n_outputs
        if any(not 0 <= i < n for i in idx):
            raise ValueError(f"prediction={idx} is outside the {n} classes of {self.meta.name}; pass class indices "
                             "(argmax of the logits, or the active labels for multilabel).")
        return "+".join(names[i] if names else str(i) for i in idx)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Multiclass(Task):
    """One class per sample: cross-entropy, softmax, argmax; ground-truth masks are scored per class."""

    name = "multiclass"
    scores_ground_truth = True

    def default_loss(self) -> Loss:
        return F.cross_entropy

    def metrics(self, prefix: str) -> tm.MetricCollection:
        k = self.n_outputs
        return tm.MetricCollection({
            "acc": tm.Accuracy(task="multiclass", num_classes=k),
            "f1": tm.F1Score(task="multiclass", num_classes=k, average="macro"),
            "auroc": tm.AUROC(task="multiclass", num_classes=k),
        }, prefix=f"{prefix}/")

    def metric_inputs(self, out, y):
        return out.softmax(-1), y

    def probabilities(self, outputs):
        return outputs.softmax(-1)

    def predict(self, outputs):
        return outputs.argmax(-1)

    def explained_target(self, outputs, y=None, mode="pred"):
        target = super().explained_target(outputs, y, mode)
        return y.to(outputs.device).long() if mode == "label" and y is not None else target

    def target_score(self, outputs, target):
        return super().target_score(outputs.log_softmax(-1), target)

    def counterfactual_target(self, outputs):
        """The nearest other class: the second most probable (None with a single class)."""
        return None if outputs.shape[-1] < 2 else self.probabilities(outputs).topk(2, dim=-1).indices[:, 1]


class Multilabel(Task):
    """Independent labels: BCE (whatever multiclass loss the model config names), sigmoid, the top label explained."""

    name = "multilabel"

    def default_loss(self) -> Loss:
        return bce

    def loss(self, configured: Loss | None) -> Loss:
        return self.default_loss()  # a multiclass loss (model/loss) does not apply to independent labels

    def metrics(self, prefix: str) -> tm.MetricCollection:
        k = self.n_outputs
        return tm.MetricCollection({
            "acc": tm.Accuracy(task="multilabel", num_labels=k),
            "f1": tm.F1Score(task="multilabel", num_labels=k, average="macro"),
            "auroc": tm.AUROC(task="multilabel", num_labels=k, average="macro"),
        }, prefix=f"{prefix}/")

    def metric_inputs(self, out, y):
        return out.sigmoid(), y.long()

    def probabilities(self, outputs):
        return outputs.sigmoid()

    def predict(self, outputs):
        return outputs.argmax(-1)

    def prediction_label(self, prediction):
        """The active labels (indices, or a boolean multi-hot vector) joined by `+`; "no label" when none is."""
        idx = self._class_indices(prediction)
        return self._class_names(idx) if idx else "no label"


class Regression(Task):
    """Real-valued outputs: MSE, no probabilities; output 0 is explained and predicted."""

    name = "regression"

    def default_loss(self) -> Loss:
        return mse

    def loss(self, configured: Loss | None) -> Loss:
        return self.default_loss()

    def metrics(self, prefix: str) -> tm.MetricCollection:
        return tm.MetricCollection({
            "mse": tm.MeanSquaredError(),
            "mae": tm.MeanAbsoluteError(),
            "rmse": tm.MeanSquaredError(squared=False),
            "r2": tm.R2Score(multioutput="uniform_average"),
        }, prefix=f"{prefix}/")

    def metric_inputs(self, out, y):
        return (out.squeeze(-1), y.float().squeeze(-1)) if out.shape[-1] == 1 else (out, y.float())

    def probabilities(self, outputs):
        return outputs

    def predict(self, outputs):
        return outputs[:, 0]

    def default_target(self, outputs):
        return torch.zeros(len(outputs), dtype=torch.long, device=outputs.device)

    def prediction_value(self, pred: Any) -> float:
        return float(pred)

    def prediction_label(self, prediction):
        return ", ".join(f"{v:.3g}" for v in np.atleast_1d(np.asarray(prediction, dtype=np.float64)).ravel())


#: DataMeta.task → its Task class. A new task: one class above and one line here.
TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (Multiclass, Multilabel, Regression)}


def task_for(meta: DataMeta) -> Task:
    """The task object of a dataset."""
    return as_task(meta.task, meta)


def as_task(task: Task | str, meta: DataMeta | None = None) -> Task:
    """`task` as a Task object: itself, or the class registered for its name."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"task={task!r} is unknown; use one of {', '.join(TASKS)} (DataMeta.task).")
    return TASKS[task](meta)


def task_of(model: torch.nn.Module) -> Task:
    """The task of a black box: `BlackBox.task`; any other `nn.Module` (the `explain()` API takes one) is read as
    multiclass unless it carries a `task` attribute (a Task or its name)."""
    return as_task(getattr(model, "task", "multiclass"))


class Forecasting(Regression):
    """The next `horizon` values of every channel (`y` = C·H numbers, channel-major): a regression dataset read by a
    forecaster (`tsexplain.forecast.module.ForecastModule`, which builds this task from the data's meta and its
    horizon). Beyond Regression it knows the forecast metrics and which scalar of the `[B, C, H]` forecast an
    explainer explains (`explained_model`): the mean of the horizon or one step, of one channel or all."""

    name = "forecasting"

    def __init__(self, meta: DataMeta | None = None, horizon: int = 1, target: str = "mean",
                 step: int | None = None, channel: int | None = None) -> None:
        super().__init__(meta)
        self.horizon, self.target, self.step, self.channel = int(horizon), target, step, channel
        self.explained_model(torch.nn.Identity())  # a target or step the horizon does not have fails here, early

    def metrics(self, prefix: str) -> tm.MetricCollection:
        from tsexplain.forecast.metrics import forecast_metrics

        return forecast_metrics(f"{prefix}/")

    def explained_model(self, forecaster: torch.nn.Module) -> torch.nn.Module:
        """The forecaster as a `[B, 1]` model of the explained scalar, what every explainer then explains."""
        from tsexplain.forecast.target import ExplainedTarget

        return ExplainedTarget(forecaster, target=self.target, step=self.step, channel=self.channel,
                               horizon=self.horizon)
