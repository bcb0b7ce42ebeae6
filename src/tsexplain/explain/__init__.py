"""Explainers: captum baselines, Grad-CAM, attention rollout, fusion, TimeSAE.

Explain a trained model without Hydra (numpy in, numpy out, same shape)::

    from tsexplain.explain import explain
    sal = explain(model, x_test, method="integrated_gradients")   # x_test: [B, C, T] or [C, T]
    sal = explain(model, x_test, method="occlusion", width=10, target=1)
"""

from __future__ import annotations

__all__ = ["explain"]


def __getattr__(name: str):
    # lazy, so `import tsexplain.explain.base` does not pull captum and tslearn in
    if name == "explain":
        from tsexplain.explain.api import explain

        return explain
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
