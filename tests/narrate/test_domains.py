"""The dataset chooses the vocabulary: the default `template` narrator speaks a real dataset's domain (DataMeta.domain),
time spans follow the sampling rate, and articles agree ("an elevated", "a depressed")."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from tsexplain.data.meta import DataMeta
from tsexplain.narrate.regions import Region
from tsexplain.narrate.templates import TemplateNarrator
from tsexplain.utils.compose import PROJECT_CONF
from tsexplain.utils.time_axis import time_axis

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
SENSORS = ["Appliances", "lights"] + [f"{k}_{i}" for i in range(1, 10) for k in ("T", "RH")] + \
    ["T_out", "Press_mm_hg", "RH_out", "Windspeed", "Visibility", "Tdewpoint"]


def default_narrator(*overrides: str):
    """The narrator a run gets when the user does not choose one (config.yaml's default)."""
    with initialize_config_dir(config_dir=str(PROJECT_CONF), version_base="1.3"):
        return instantiate(compose("config", overrides=list(overrides)).narrator)


def ecg_meta(domain: str | None = "ecg") -> DataMeta:
    return DataMeta(name="ptbxl", task="multiclass", n_channels=12, seq_len=1000, n_outputs=2, channel_names=LEADS,
                    sampling_rate=100.0, units=["mV"] * 12, class_names=["NORM", "MI"], domain=domain)


def two_leads() -> tuple[np.ndarray, np.ndarray]:
    s, x = np.zeros((12, 1000)), np.zeros((12, 1000))
    s[7, 150:250] = 1.0  # V2, 1.5–2.5 s, elevated
    x[7, 150:250] = 2.0
    s[4, 600:650] = 0.5  # aVL, 6.0–6.5 s, depressed
    x[4, 600:650] = -2.0
    return s, x


def test_default_narrator_speaks_ecg_with_lead_names_seconds_and_articles():
    narr = default_narrator()
    assert isinstance(narr, TemplateNarrator) and narr.domain_from_data
    s, x = two_leads()
    text = narr.narrate(s, ecg_meta(), prediction=1, x=x)
    assert text == ("Predicted MI: lead V2 shows an elevated signal, strongly salient at 1.50–2.50 s; "
                    "lead aVL shows a depressed signal, moderately salient at 6.00–6.50 s.")
    assert " a elevated" not in text and "steps" not in text
    # without the input there is no direction and no article
    assert narr.narrate(s, ecg_meta(), 1).startswith("Predicted MI: lead V2 is strongly salient at 1.50–2.50 s; ")
    # the T5's templates are the same default narrator: it learns the domain's sentences too
    t5 = default_narrator("narrator=t5")
    assert t5.template.describe(narr.regions(s), ecg_meta(), 1, x) == text


def test_generic_wording_speaks_seconds_whenever_the_data_has_a_clock():
    s, x = two_leads()
    generic = default_narrator("narrator.domain_from_data=false")
    for meta in (ecg_meta(), ecg_meta(domain=None)):  # the user's choice, or a dataset without a domain
        assert generic.narrate(s, meta, 1) == ("Predicted MI: V2 (mV) is strongly salient at 1.50–2.50 s; "
                                               "aVL (mV) is moderately salient at 6.00–6.50 s.")
    # no clock (synthetic data, UCR: sampling_rate 1.0 and no domain): steps, as before
    plain = DataMeta("seqcomb", "multiclass", 12, 1000, 2)
    assert generic.narrate(s, plain, 1) == ("Predicted 1: ch7 is strongly salient at steps 150-249; "
                                            "ch4 is moderately salient at steps 600-649.")


def test_26_sensor_energy_data_speaks_sensors_units_and_hours():
    meta = DataMeta("uci_energy", "regression", 26, 144, 1, channel_names=SENSORS, sampling_rate=1 / 600,
                    units=["Wh", "Wh"] + ["°C", "%"] * 9 + ["°C", "mm Hg", "%", "m/s", "km", "°C"], domain="energy")
    s = np.zeros((26, 144))
    s[20, 60:66] = 1.0  # T_out, 10-minute steps: hours 10.0–11.0
    text = default_narrator().narrate(s, meta, prediction=281.0)
    assert text == "Predicted 281: T_out (°C) is strongly salient from hour 10.0 to 11.0."
    generic = default_narrator("narrator.domain_from_data=false").narrate(s, meta, 281.0)
    assert generic == "Predicted 281: T_out (°C) is strongly salient at 10.0–11.0 h."  # one day: hours, not seconds


def test_activity_domain_for_pamap2():
    names = [f"hand_{a}_{k}" for a in ("acc16", "gyro") for k in "xyz"]
    meta = DataMeta("pamap2", "multiclass", 6, 600, 2, channel_names=names, sampling_rate=100.0,
                    units=["m/s²"] * 3 + ["rad/s"] * 3, class_names=["lying", "walking"], domain="activity")
    s, x = np.zeros((6, 600)), np.zeros((6, 600))
    s[4, 200:260] = 1.0
    x[4, 200:260] = 3.0
    assert default_narrator().narrate(s, meta, 1, x=x) == \
        "Predicted walking: sensor hand_gyro_y (rad/s) is elevated, strongly salient at 2.00–2.60 s."


def test_unknown_domain_falls_back_to_own_templates_with_a_warning(caplog):
    s, _ = two_leads()
    with caplog.at_level(logging.WARNING, logger="tsexplain.narrate.templates"):
        text = default_narrator().narrate(s, ecg_meta(domain="eeg"), 1)
    assert text.startswith("Predicted MI: V2 (mV) is strongly salient at 1.50–2.50 s")
    assert "'eeg' has no narrator config" in caplog.text


def test_bare_article_before_direction_fails_at_construction():
    with pytest.raises(ValueError, match=r"a_direction"):
        TemplateNarrator(templates={"prediction": "", "region": "{channel} shows a {direction} signal"})
    ok = TemplateNarrator(templates={"prediction": "", "region": "{channel} shows {a_direction} signal"})
    meta = DataMeta("m", "multiclass", 1, 10, 2)
    assert ok.describe([Region(0, 0, 2, 1.0, 0)], meta, None, x=np.r_[5.0, 5.0, np.zeros(8)][None]) == \
        "Salient regions: ch0 shows an elevated signal."


@pytest.mark.parametrize(("rate", "n", "unit", "span"), [
    (100.0, 1000, "s", "1.50–2.50 s"),          # PTB-XL 10 s
    (360.0, 360, "s", "0.42–0.69 s"),           # MIT-BIH 1 s windows: 2 decimals at most
    (1 / 60, 60, "min", "150–250 min"),         # one hour of minutes
    (1 / 600, 144, "h", "25.0–41.7 h"),         # UCI energy: one day of 10-minute steps
    (1 / 900, 96, "h", "37.50–62.50 h"),        # ETTm: quarter hours written exactly
    (1 / 3600, 336, "h", "150–250 h"),          # ETTh, two weeks: still hours
    (1 / 3600, 720, "d", "6.25–10.42 d"),       # a month: days
])
def test_time_axis_unit_from_duration(rate, n, unit, span):
    axis = time_axis(rate, n)
    assert axis.unit == unit and axis.label == f"time ({unit})" and axis.span(150, 250) == span
    assert time_axis(rate, n, clock=False).span(150, 250) == "steps 150-249"
    with pytest.raises(ValueError, match="positive"):
        time_axis(0.0, n)
