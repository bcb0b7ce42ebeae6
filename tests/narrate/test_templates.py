"""Template narratives: lead names and seconds, units, empty maps, references from masks."""

from __future__ import annotations

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tsexplain.data.meta import DataMeta
from tsexplain.narrate.regions import Region
from tsexplain.narrate.templates import TemplateNarrator
from tsexplain.utils.compose import PROJECT_CONF

CONF = PROJECT_CONF / "narrator"
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def narrator(name: str) -> TemplateNarrator:
    return instantiate(OmegaConf.load(CONF / f"{name}.yaml"))


@pytest.fixture
def ecg_meta() -> DataMeta:
    return DataMeta(name="ptbxl", task="multiclass", n_channels=12, seq_len=1000, n_outputs=2,
                    channel_names=LEADS, sampling_rate=100.0, class_names=["NORM", "MI"])


def test_ecg_names_lead_and_seconds(ecg_meta):
    s = np.zeros((12, 1000))
    s[7, 150:250] = 1.0
    text = narrator("ecg").narrate(s, ecg_meta, prediction=1)
    assert text.startswith("Predicted MI: ")
    assert "lead V2" in text and "1.50–2.50 s" in text


def test_ecg_direction_from_input(ecg_meta):
    s = np.zeros((12, 1000))
    s[0, 100:120] = 1.0
    x = np.zeros((12, 1000))
    x[0, 100:120] = 2.0
    up = narrator("ecg").narrate(s, ecg_meta, 0, x=x)
    down = narrator("ecg").narrate(s, ecg_meta, 0, x=-x)
    assert "elevated" in up and "depressed" in down


def test_energy_names_sensor_and_unit():
    meta = DataMeta(name="appliances", task="regression", n_channels=2, seq_len=48, n_outputs=1,
                    channel_names=["Appliances", "T_out"], sampling_rate=1 / 600, units=["Wh", "°C"])
    s = np.zeros((2, 48))
    s[1, 12:18] = 1.0  # 10-minute samples: hours 2.0 to 3.0
    text = narrator("energy").narrate(s, meta, prediction=0.281)
    assert text.startswith("Predicted 0.281: ")
    assert "T_out (°C)" in text and "hour 2.0 to 3.0" in text


def test_clauses_follow_importance_and_max_regions():
    meta = DataMeta(name="m", task="multiclass", n_channels=3, seq_len=40, n_outputs=2)
    regions = [Region(2, 1, 4, 0.9, 2), Region(0, 10, 15, 0.5, 11), Region(1, 20, 22, 0.2, 20),
               Region(1, 30, 32, 0.1, 30)]
    text = TemplateNarrator(max_regions=3).describe(regions, meta, 0)
    # regions are [start, end); the sentence names the steps inclusively
    assert text == ("Predicted 0: ch2 is strongly salient at steps 1-3; ch0 is moderately salient at steps 10-14; "
                    "ch1 is weakly salient at steps 20-21.")


def test_empty_map_gives_no_region_sentence(ecg_meta):
    text = narrator("ecg").narrate(np.zeros((12, 1000)), ecg_meta, 0)
    assert text == "Predicted NORM: no salient ECG segment was found."
    assert narrator("template").narrate(np.ones((1, 9)), DataMeta("g", "regression", 1, 9, 1), None) == \
        "Salient regions: no salient region was found."


@pytest.mark.parametrize("name", ["template", "ecg", "energy"])
def test_reference_equals_narrate_of_the_mask(name, ecg_meta):
    rng = np.random.default_rng(0)
    for _ in range(5):
        mask = rng.random((12, 1000)) > 0.97  # scattered points, gaps and blips exercise min_len/merge_gap
        mask[rng.integers(12), 300:380] = True
        n = narrator(name)
        assert n.reference_narrative(mask, ecg_meta, 1) == n.narrate(mask.astype(float), ecg_meta, 1)


def test_bad_templates_and_predictions_fail_loudly(ecg_meta):
    with pytest.raises(ValueError, match="unknown fields"):
        TemplateNarrator(templates={"prediction": "{label}", "region": "{wave} at {start}"})
    with pytest.raises(ValueError, match="lack"):
        TemplateNarrator(templates={"region": "{channel}"})
    with pytest.raises(ValueError, match="outside"):
        narrator("ecg").narrate(np.eye(12, 1000), ecg_meta, prediction=5)


def test_prediction_labels_per_task():
    import torch

    from tsexplain.narrate.templates import prediction_label

    reg = DataMeta("r", "regression", 1, 8, 1)
    assert prediction_label(torch.tensor([0.28123]), reg) == "0.281"
    ml = DataMeta("m", "multilabel", 1, 8, 3, class_names=["AF", "MI", "STTC"])
    assert prediction_label([0, 2], ml) == "AF+STTC"
    assert prediction_label(torch.tensor([False, True, True]), ml) == "MI+STTC"
    assert prediction_label([], ml) == "no label"
    mc = DataMeta("c", "multiclass", 1, 8, 2, class_names=["N", "A"])
    assert prediction_label(np.int64(1), mc) == "A" and prediction_label(torch.tensor(0), mc) == "N"
    with pytest.raises(ValueError, match="one class index"):
        prediction_label([0, 1], mc)
