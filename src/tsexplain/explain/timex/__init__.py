"""TimeX (Queen et al., NeurIPS 2023): a learned mask generator trained for model-behaviour consistency.

`losses` (the objective's terms), `networks` (mask generator, prototypes, embedding readers), `module`
(`TimeXModule`, the LightningModule), `explainer` (`TimeXExplainer`, the `Explainer`).
"""

from tsexplain.explain.timex.explainer import TimeXExplainer
from tsexplain.explain.timex.module import TimeXModule

__all__ = ["TimeXExplainer", "TimeXModule"]
