"""Template narrator: salient regions → one domain sentence, with patterns that live in config.

Sentence = `prediction` + clauses joined by `separator` + `end`, one clause per region best first; the
clause pattern may use any field of `region_fields`. Names, units and time come from `DataMeta`, so the
text never guesses (ECG waves such as P/QRS/T are not named: that needs delineation we do not do). `{span}` is the
time a figure shows: steps without a clock, else seconds/minutes/hours from the series' duration (utils.time_axis).
"""

from __future__ import annotations

import inspect
import logging
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from tsexplain.data.meta import DataMeta
from tsexplain.narrate.base import Narrator, Prediction
from tsexplain.narrate.regions import Region, find_regions, regions_from_mask
from tsexplain.tasks import task_for
from tsexplain.utils.time_axis import meta_time_axis

log = logging.getLogger(__name__)

DEFAULT_TEMPLATES: dict[str, str] = {
    "prediction": "Predicted {label}: ",
    "no_prediction": "Salient regions: ",
    "region": "{channel}{unit_suffix} is {strength} salient at {span}",
    "region_with_input": "{channel}{unit_suffix} is {direction} and {strength} salient at {span}",
    "separator": "; ",
    "end": ".",
    "empty": "no salient region was found",
}
REQUIRED = ("prediction", "region")
# Filled in from DEFAULT_TEMPLATES when a config leaves them out; clause patterns never are (a config's own
# `region` is used with an input x too unless it also gives `region_with_input`).
STRUCTURAL = ("no_prediction", "separator", "end", "empty")
_FIND_DEFAULTS = {k: p.default for k, p in inspect.signature(find_regions).parameters.items()}
# "a {direction}" reads "a elevated": the article must come with the word ({a_direction}).
_BARE_ARTICLE = re.compile(r"\b[Aa]n? \{direction\}")


def strength_word(score: float, levels: Sequence[float] = (2 / 3, 1 / 3)) -> str:
    """'strongly' / 'moderately' / 'weakly' from a region's normalised score and two cut points."""
    hi, lo = levels
    return "strongly" if score >= hi else "moderately" if score >= lo else "weakly"


def region_fields(region: Region, meta: DataMeta, x: np.ndarray | None = None, rank: int = 1,
                  levels: Sequence[float] = (2 / 3, 1 / 3)) -> dict[str, Any]:
    """Every field a clause template may use for `region` (names, units and seconds from `meta`)."""
    sr = float(meta.sampling_rate)
    unit = (meta.units[region.channel] if meta.units and region.channel < len(meta.units) else "") or ""
    fields: dict[str, Any] = {
        "channel": meta.channel_names[region.channel], "channel_index": region.channel,
        "start": region.start, "end": region.end, "last": region.end - 1, "length": region.length,
        "peak": region.peak, "score": region.score, "rank": rank,
        "strength": strength_word(region.score, levels),
        "unit": unit, "unit_suffix": f" ({unit})" if unit else "",
        "direction": "", "a_direction": "",
    }
    axis = meta_time_axis(meta)
    fields["span"] = axis.span(region.start, region.end)
    fields["time_unit"] = axis.unit or "steps"
    for name, scale in (("s", 1.0), ("min", 60.0), ("h", 3600.0)):
        fields[f"start_{name}"] = region.start / sr / scale
        fields[f"end_{name}"] = region.end / sr / scale
        fields[f"peak_{name}"] = region.peak / sr / scale
        fields[f"duration_{name}"] = region.length / sr / scale
    if x is not None:
        row = x[region.channel]
        fields["direction"] = "elevated" if row[region.start:region.end].mean() >= row.mean() else "depressed"
        fields["a_direction"] = ("an " if fields["direction"][0] in "aeiou" else "a ") + fields["direction"]
    return fields


def prediction_label(prediction: Prediction, meta: DataMeta) -> str | None:
    """Human label of a prediction, as the dataset's task reads it (`Task.prediction_label`): class name
    (multiclass), joined names (multilabel: active label indices or a boolean multi-hot vector), number(s)
    (regression)."""
    if prediction is None:
        return None
    if isinstance(prediction, str):
        return prediction
    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy()
    return task_for(meta).prediction_label(prediction)


def _to_numpy(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return arr.astype(np.float64)


class TemplateNarrator(Narrator):
    """Regions of a saliency map → "Predicted {label}: clause; clause." with config-given patterns.

    With `domain_from_data`, a dataset that names its domain (`DataMeta.domain`, e.g. "ecg") is described with the
    templates of the narrator config of that name (`conf/narrator/<domain>.yaml`); this narrator's own templates
    serve data without one. Only the wording follows the data: regions, `max_regions` and strengths stay this
    narrator's (the regions are found before the data is known, and the figures draw the same ones).

    Why the data and not Hydra (an optional `narrator_dataset: ${narrator}_${dataset}` specialisation): the data
    object is what knows what it is, so the same choice holds for an `.npz`, the Python API, the OOD dataset and
    the T5's templates, with one field per loader instead of a config file per (narrator, dataset) pair; and a
    user who wants the generic wording on real data says so with `narrator.domain_from_data=false`.
    """

    def __init__(self, templates: Mapping[str, str] | None = None, domain: str = "generic", max_regions: int = 3,
                 region_kwargs: Mapping[str, Any] | None = None,
                 strength_levels: Sequence[float] = (2 / 3, 1 / 3), domain_from_data: bool = False) -> None:
        self.templates = self._complete(templates)
        self.domain = domain
        self.domain_from_data = bool(domain_from_data)
        self._domain_templates: dict[str, dict[str, str]] = {}
        self.max_regions = max_regions
        self.region_kwargs = dict(region_kwargs or {})
        if "max_regions" in self.region_kwargs:
            raise ValueError("region_kwargs.max_regions is set by the narrator's own max_regions; drop it there.")
        if len(strength_levels) != 2 or not strength_levels[0] >= strength_levels[1]:
            raise ValueError(f"strength_levels={list(strength_levels)} must be two cut points [high, low], high ≥ low.")
        self.strength_levels = tuple(float(v) for v in strength_levels)
        self._check_templates(self.templates)

    @staticmethod
    def _complete(templates: Mapping[str, str] | None) -> dict[str, str]:
        given = dict(templates) if templates else dict(DEFAULT_TEMPLATES)
        return {**{k: DEFAULT_TEMPLATES[k] for k in STRUCTURAL}, **given}

    @staticmethod
    def _check_templates(templates: Mapping[str, str], source: str = "the narrator config") -> None:
        """Fail at construction, not mid-run, on a missing pattern, an unknown field or "a {direction}"."""
        missing = [k for k in REQUIRED if k not in templates]
        if missing:
            raise ValueError(f"narrator templates lack {missing}; add them to {source}.")
        meta = DataMeta(name="check", task="multiclass", n_channels=1, seq_len=4, n_outputs=1, units=["u"])
        known = region_fields(Region(0, 0, 2, 1.0, 0), meta, np.zeros((1, 4)))
        for key, pattern in templates.items():
            allowed = known.keys() | {"label"} if key.startswith("region") else {"label"}
            used = {f for _, f, _, _ in string.Formatter().parse(pattern) if f}
            if used - allowed:
                raise ValueError(f"template {key!r} uses unknown fields {sorted(used - allowed)}; "
                                 f"available: {sorted(allowed)}.")
            if _BARE_ARTICLE.search(pattern):
                raise ValueError(f"template {key!r}={pattern!r} puts an article before {{direction}} ('a elevated'); "
                                 "write {a_direction} ('an elevated' / 'a depressed') instead.")
            try:
                pattern.format(label="x", **known)
            except (ValueError, IndexError) as err:
                raise ValueError(f"template {key!r}={pattern!r} does not format: {err}.") from err

    def templates_for(self, meta: DataMeta) -> dict[str, str]:
        """The patterns `meta` is described with: its domain's (with `domain_from_data`) or this narrator's."""
        domain = meta.domain
        if not self.domain_from_data or domain is None or domain == self.domain:
            return self.templates
        if domain not in self._domain_templates:
            self._domain_templates[domain] = self._load_domain(domain)
        return self._domain_templates[domain]

    def _load_domain(self, domain: str) -> dict[str, str]:
        """`narrator/<domain>`'s templates from the run's config search path; this narrator's own (with a
        warning) when there is no such template narrator config: the domain is a hint, not worth failing a run."""
        from tsexplain.utils.compose import compose_option

        try:
            cfg = compose_option("narrator", domain)
        except ValueError as err:
            log.warning("dataset domain %r has no narrator config (%s); narrating with the %s templates.",
                        domain, err, self.domain)
            return self.templates
        if "templates" not in cfg:
            log.warning("narrator/%s has no templates (not a template narrator); narrating with the %s templates.",
                        domain, self.domain)
            return self.templates
        templates = self._complete(dict(cfg.templates))
        self._check_templates(templates, f"conf/narrator/{domain}.yaml")
        return templates

    # -- public API ---------------------------------------------------------------------------------
    def regions(self, saliency: np.ndarray | torch.Tensor) -> list[Region]:
        """The regions this narrator talks about (best `max_regions`)."""
        return find_regions(saliency, max_regions=self.max_regions, **self.region_kwargs)

    def describe_batch(self, regions: Sequence[Sequence[Region]], meta: DataMeta,
                       predictions: Sequence[Prediction] | None = None,
                       x: np.ndarray | torch.Tensor | None = None) -> list[str]:
        """`describe` for several samples' regions."""
        preds = [None] * len(regions) if predictions is None else list(predictions)
        return [self.describe(r, meta, preds[i], None if x is None else x[i]) for i, r in enumerate(regions)]

    def describe(self, regions: Sequence[Region], meta: DataMeta, prediction: Prediction = None,
                 x: np.ndarray | torch.Tensor | None = None) -> str:
        """The sentence for already-found regions (ranked best first; at most `max_regions` are used)."""
        t = self.templates_for(meta)
        label = prediction_label(prediction, meta)
        head = t["no_prediction"] if label is None else t["prediction"].format(label=label)
        xs = _to_numpy(x)
        if xs is not None and xs.shape[0] != meta.n_channels:
            raise ValueError(f"x has {xs.shape[0]} channels but meta {meta.name} has {meta.n_channels}; "
                             "pass the input sample x [C, T] that was explained.")
        clause = t["region_with_input"] if xs is not None and "region_with_input" in t else t["region"]
        clauses = [clause.format(label=label, **region_fields(r, meta, xs, i + 1, self.strength_levels))
                   for i, r in enumerate(list(regions)[: self.max_regions])]
        body = t.get("separator", "; ").join(clauses) if clauses else t["empty"].format(label=label)
        return f"{head}{body}{t.get('end', '.')}"

    def reference_narrative(self, mask: np.ndarray | torch.Tensor, meta: DataMeta, label: Prediction = None,
                            x: np.ndarray | torch.Tensor | None = None) -> str:
        """The reference text for BLEU/ROUGE: the same templates applied to the ground-truth mask's regions."""
        kw = self.region_kwargs
        regions = regions_from_mask(mask, min_len=kw.get("min_len", _FIND_DEFAULTS["min_len"]),
                                    merge_gap=kw.get("merge_gap", _FIND_DEFAULTS["merge_gap"]),
                                    max_regions=self.max_regions)
        return self.describe(regions, meta, label, x)

    def __repr__(self) -> str:
        follow = ", domain_from_data=True" if self.domain_from_data else ""
        return f"TemplateNarrator(domain={self.domain!r}{follow}, max_regions={self.max_regions})"
