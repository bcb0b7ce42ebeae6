"""Published numbers (anchors.yaml, or a file of the same layout) looked up for a group of runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT = Path(__file__).with_name("anchors.yaml")


@dataclass
class Anchor:
    """One published value: the number and the source it comes from."""

    value: float
    source: str


class Anchors:
    """Lookup of published values by (dataset, model, explainer, metric); `sources` as in anchors.yaml."""

    def __init__(self, sources: list[dict]) -> None:
        self.sources = sources

    @classmethod
    def load(cls, path: Path | None = DEFAULT) -> Anchors:
        """Read an anchors file; a file that is not in anchors.yaml's layout fails naming what is wrong."""
        if path is None:
            return cls([])
        path = Path(path)
        if not path.is_file():
            raise SystemExit(f"anchors file {path} does not exist; pass a YAML in the layout of {DEFAULT}.")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise SystemExit(f"anchors file {path} is not valid YAML: {err}") from err
        sources = data.get("sources") if isinstance(data, dict) else None
        if not isinstance(sources, list) or not all(isinstance(s, dict) and isinstance(s.get("values"), dict)
                                                    for s in sources):
            raise SystemExit(f"anchors file {path} needs a `sources:` list whose items have a `values:` mapping "
                             f"(dataset -> method -> metric -> number), as in {DEFAULT}.")
        return cls(sources)

    def lookup(self, dataset: str | None, model: str | None, explainer: str | None, metric: str) -> Anchor | None:
        """The first published value for this combination; None when no source has one (or the black box is not
        the one the source used)."""
        if dataset is None:
            return None
        for src in self.sources:
            if src.get("model") and model is not None and str(src["model"]) != model:
                continue
            if src.get("model") and model is None:
                continue
            per_dataset = src["values"].get(dataset) or {}
            methods = ["blackbox"] if not metric.startswith("explain") else []
            if explainer is not None and metric.startswith("explain"):
                methods = [m for m, names in (src.get("aliases") or {}).items()
                           if explainer in [str(n) for n in names] or explainer == m]
            for m in methods:
                value = (per_dataset.get(m) or {}).get(metric)
                if value is not None:
                    return Anchor(float(value), str(src.get("name", "published")))
        return None

    def metrics(self) -> set[str]:
        """Every metric some source gives a value for."""
        return {k for s in self.sources for per in s["values"].values() for vals in per.values() for k in vals}
