"""`DataMeta`: the one object that travels with the data, so models, narrators and plots never guess."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Task = Literal["multiclass", "multilabel", "regression"]


@dataclass
class DataMeta:
    """What a dataset is: task, shape, names and units.

    `n_outputs` is the width of the black box's output: number of classes (multiclass), number of
    labels (multilabel) or number of regression targets. `scored_classes` lists the classes whose
    ground-truth masks count in explanation metrics (None = all; TimeX excludes class 0 on SeqComb/LowVar).
    """

    name: str
    task: Task
    n_channels: int
    seq_len: int
    n_outputs: int
    channel_names: list[str] = field(default_factory=list)
    sampling_rate: float = 1.0
    units: list[str] | None = None
    class_names: list[str] | None = None
    has_mask: bool = False
    scored_classes: list[int] | None = None
    # Dataset-specific test metrics beyond the task's own (names in tsexplain.data.real.metrics.METRICS), e.g. the
    # CinC 2017 challenge F1; the black box adds them to its test metrics.
    extra_metrics: list[str] = field(default_factory=list)
    # What the recording is ("ecg", "energy", "activity": a narrator config of that name speaks its vocabulary);
    # None = no domain (synthetic data, UCR). The default `template` narrator follows it (narrator.domain_from_data).
    domain: str | None = None

    def __post_init__(self) -> None:
        if self.task not in ("multiclass", "multilabel", "regression"):
            raise ValueError(
                f"DataMeta.task={self.task!r} is unknown; use 'multiclass', 'multilabel' or 'regression'."
            )
        if not self.channel_names:
            self.channel_names = [f"ch{i}" for i in range(self.n_channels)]
        if len(self.channel_names) != self.n_channels:
            raise ValueError(
                f"{len(self.channel_names)} channel names given for {self.n_channels} channels; "
                "give one name per channel."
            )
        if self.task == "multiclass" and self.class_names is None:
            self.class_names = [str(i) for i in range(self.n_outputs)]

    @property
    def n_classes(self) -> int:
        """Number of classes or labels (alias of n_outputs for classification)."""
        return self.n_outputs

    def to_dict(self) -> dict:
        return asdict(self)
