"""The only "it renders" tests: each figure is a valid, non-blank PNG."""

from dataclasses import dataclass

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from tsexplain.report.figures import (
    plot_concept_activations,
    plot_counterfactual,
    plot_deletion_curves,
    plot_multihead_attention,
    plot_saliency,
    saliency_figure,
)


@dataclass
class Region:
    channel: int | str
    start: int
    end: int
    score: float


def _check_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000
    img = mpimg.imread(path)
    assert img.ndim == 3 and img[..., :3].var() > 1e-3  # not a blank canvas


def test_plot_saliency_with_mask_and_regions(tmp_path):
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((2, 48)))
    mask = np.zeros((2, 48))
    mask[0, 10:20] = 1
    maps = {"ig": rng.random((2, 48)), "const": np.zeros((2, 48))}
    regions = [Region(0, 10, 20, 0.9), Region("ch1", 30, 35, 0.4), Region(7, 0, 3, 0.1)]
    path = plot_saliency(x, maps, mask=mask, regions=regions, title="t",
                         channel_names=["ch0", "ch1"], path=tmp_path / "sub" / "sal.png")
    _check_png(path)


def test_other_figures_render(tmp_path):
    rng = np.random.default_rng(1)
    f = np.array([0.1, 0.2, 0.5])
    curves = {"ig": {"mode": "deletion", "fractions": f, "acc": np.array([0.9, 0.6, 0.5]),
                     "prob": np.array([0.8, 0.6, 0.5]), "clean_acc": 1.0, "clean_prob": 0.9},
              "rand": {"mode": "deletion", "fractions": f, "acc": np.ones(3), "prob": np.ones(3) * 0.9,
                       "clean_acc": 1.0, "clean_prob": 0.9}}
    attn = torch.softmax(torch.randn(2, 3, 10, 10), dim=-1)
    paths = [
        plot_deletion_curves(curves, tmp_path / "del.png"),
        plot_multihead_attention(attn, tmp_path / "attn.png"),
        plot_multihead_attention([attn[0], attn[1, :2]], tmp_path / "attn_list.png"),
        plot_concept_activations(np.maximum(rng.standard_normal((20, 16)), 0), tmp_path / "concepts.png"),
        plot_counterfactual(rng.standard_normal((2, 40)), rng.standard_normal((2, 40)), tmp_path / "cf.png"),
    ]
    for p in paths:
        _check_png(p)


@pytest.mark.parametrize("channels", [[0], [1], [0, 1]])
def test_saliency_legend_names_the_gt_mask_once(channels):
    """Four mask spans (on either channel) give one legend entry, not one per span."""
    mask = np.zeros((2, 48))
    for c in channels:
        mask[c, [3, 13, 23, 33]] = 1
    fig = saliency_figure(np.zeros((2, 48)), {"m": np.ones((2, 48))}, mask=mask)
    try:
        texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    finally:
        plt.close(fig)
    assert texts == ["GT mask"]
    no_mask = saliency_figure(np.zeros((2, 48)), {"m": np.ones((2, 48))}, mask=np.zeros((2, 48)))
    assert no_mask.axes[0].get_legend() is None
    plt.close(no_mask)
