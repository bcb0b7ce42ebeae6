"""Figures of real data stay readable: time in seconds/hours, units on the labels, and beyond 8 channels one
heatmap naming every channel plus the top-k panels (12-lead PTB-XL and 26-sensor UCI energy, fixtures written in
the published formats)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "real"))
from real_writers import write_energy, write_ptbxl  # noqa: E402

from tsexplain.data.real import PTBXLDataModule, UCIEnergyDataModule  # noqa: E402
from tsexplain.report.figures import (  # noqa: E402
    counterfactual_figure,
    plot_counterfactual,
    plot_saliency,
    saliency_figure,
)

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


@dataclass
class Region:
    channel: int
    start: int
    end: int
    score: float


@pytest.fixture(scope="module")
def ecg(tmp_path_factory):
    root = tmp_path_factory.mktemp("ptbxl")
    dm = PTBXLDataModule(write_ptbxl(root / "data", n=10), standardize=False, cache_dir=str(root / "cache"))
    return dm.split_arrays("train")["x"][0].numpy(), dm.meta


@pytest.fixture(scope="module")
def energy(tmp_path_factory):
    root = tmp_path_factory.mktemp("energy")
    dm = UCIEnergyDataModule(write_energy(root / "data", n=400), window=24, stride=2, standardize=False,
                             cache_dir=str(root / "cache"))
    return dm.split_arrays("train")["x"][0].numpy(), dm.meta


def _ecg_saliency() -> tuple[np.ndarray, list[Region]]:
    rng = np.random.default_rng(0)
    sal = 0.2 * rng.random((12, 1000))
    sal[7, 150:250] += 1.0  # V2, 1.5–2.5 s
    sal[1, 600:650] += 0.8  # II
    return sal, [Region(7, 150, 250, 0.9), Region(1, 600, 650, 0.7), Region(4, 10, 20, 0.3)]


def _trace_labels(fig: plt.Figure) -> list[str]:
    """The y-labels of the series panels (those with a plotted line), top to bottom."""
    return [ax.get_ylabel() for ax in fig.axes if ax.lines]


def _xlabels(fig: plt.Figure) -> list[str]:
    return [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]


def test_12_lead_figure_is_a_heatmap_with_seconds_and_units(ecg):
    x, meta = ecg
    assert meta.domain == "ecg"
    sal, regions = _ecg_saliency()
    fig = saliency_figure(x, {"gradcam": np.roll(sal, 20, axis=1), "fused": sal}, regions=regions,
                          title="test sample 3: predicted MI", meta=meta, top_k=3)
    try:
        heat = fig.axes[0]
        assert heat.images[0].get_array().shape == (12, 1000)  # one C×T heatmap, of the headline (last) map
        np.testing.assert_allclose(heat.images[0].get_array()[7, 200], 1.0, atol=0.2)
        assert [t.get_text() for t in heat.get_yticklabels()] == [f"{lead} (mV)" for lead in LEADS]
        assert [t.get_fontweight() for t in heat.get_yticklabels()].count("bold") == 3
        assert len(heat.patches) == 3  # the narrated regions outlined on it
        # panels of the regions' channels only, in channel order, each with its two map strips
        assert _trace_labels(fig) == ["II (mV)", "aVL (mV)", "V2 (mV)"]
        assert len([ax for ax in fig.axes if ax.get_ylabel() in ("gradcam", "fused")]) == 6
        assert _xlabels(fig) == ["time (s)"]
        lo, hi = fig.axes[1].get_xlim()
        assert lo == pytest.approx(-0.005) and hi == pytest.approx(9.995)  # 1000 samples at 100 Hz
        w, h = fig.get_size_inches()
        assert w <= 10.5 and 4.0 <= h <= 9.0  # one panel per lead was ~18 in tall
        fig.canvas.draw()
        gap_in = (fig._suptitle.get_window_extent().y0 - heat.get_window_extent().y1) / fig.dpi
        assert 0 < gap_in < 0.5  # the title sits on the panels (it floated ~1.5 in above them)
    finally:
        plt.close(fig)


def test_12_lead_png_size_and_threshold(ecg, tmp_path):
    x, meta = ecg
    sal, regions = _ecg_saliency()
    path = plot_saliency(x, {"saliency": sal}, regions=regions, title="t", meta=meta, path=tmp_path / "s.png")
    img = mpimg.imread(path)
    assert img.shape[0] <= 900 and img.shape[1] <= 1100  # pixels at 100 dpi
    # at or below the threshold every lead gets its own panel (still in seconds, with units)
    fig = saliency_figure(x, {"saliency": sal}, meta=meta, max_channels=12)
    try:
        assert _trace_labels(fig) == [f"{lead} (mV)" for lead in LEADS]
        assert not any(ax.images and ax.images[0].get_array().shape[0] > 1 for ax in fig.axes)
        assert _xlabels(fig) == ["time (s)"]
    finally:
        plt.close(fig)


def test_26_sensors_name_every_sensor_with_units_in_hours(energy):
    x, meta = energy
    assert (meta.n_channels, meta.domain) == (26, "energy")
    t_out = meta.channel_names.index("T_out")
    sal = np.zeros(x.shape)
    sal[t_out, 6:12] = 1.0  # hours 1–2
    sal[0, 18:24] = 0.5  # Appliances
    fig = saliency_figure(x, {"saliency": sal}, regions=[Region(t_out, 6, 12, 1.0)], meta=meta, title="t", top_k=4)
    try:
        ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert len(ticks) == 26 and ticks[0] == "Appliances (Wh)" and "Press_mm_hg (mm Hg)" in ticks
        # regions' channel first, then by mass; channels with no saliency at all are not drawn
        assert _trace_labels(fig) == ["Appliances (Wh)", "T_out (°C)"]
        assert _xlabels(fig) == ["time (h)"]
        assert fig.axes[1].get_xlim()[1] == pytest.approx(23.5 / 6)  # 24 steps of 10 min
        assert fig.get_size_inches()[1] <= 9.0  # one panel per sensor was ~37 in tall
    finally:
        plt.close(fig)


def test_counterfactual_of_12_leads_shows_the_changed_leads(ecg, tmp_path):
    x, meta = ecg
    x_cf = x.copy()
    x_cf[7, 150:250] += 0.3
    fig = counterfactual_figure(x, x_cf, title="counterfactual NORM → MI", meta=meta)
    try:
        diff = fig.axes[0].images[0].get_array()
        assert diff.shape == (12, 1000) and diff[7, 200] == pytest.approx(0.3) and diff[0].max() == 0
        assert [t.get_text() for t in fig.axes[0].get_yticklabels()][7] == "V2 (mV)"
        assert _trace_labels(fig) == ["V2 (mV)"]  # the only lead it changed
        assert _xlabels(fig) == ["time (s)"]
    finally:
        plt.close(fig)
    img = mpimg.imread(plot_counterfactual(x, x_cf, tmp_path / "cf.png", title="t", meta=meta))
    assert img.shape[0] <= 500  # heatmap + one panel, not 12 panels of 1.8 in
    small = plot_counterfactual(x[:2], x_cf[:2], tmp_path / "cf2.png", channel_names=LEADS[:2], meta=meta)
    assert mpimg.imread(small).shape[0] < img.shape[0]
    with pytest.raises(ValueError, match="same"):
        plot_counterfactual(x, x_cf[:, :10], tmp_path / "bad.png", meta=meta)


def test_many_channel_figure_fails_loudly_on_bad_options(ecg):
    x, meta = ecg
    sal, _ = _ecg_saliency()
    with pytest.raises(ValueError, match="headline='ig' is not one of the maps"):
        saliency_figure(x, {"saliency": sal}, meta=meta, headline="ig")
    with pytest.raises(ValueError, match="top_k=0"):
        saliency_figure(x, {"saliency": sal}, meta=meta, top_k=0)
    with pytest.raises(ValueError, match="needs a map"):
        saliency_figure(x, {}, meta=meta)
