"""Every narrator config composes through Hydra and builds the object it names."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from tsexplain.data.meta import DataMeta
from tsexplain.narrate.t5 import T5Narrator
from tsexplain.narrate.templates import TemplateNarrator
from tsexplain.utils.compose import PROJECT_CONF

CONF = str(PROJECT_CONF)
META = DataMeta("m", "multiclass", 2, 20, 2, channel_names=["II", "V1"], sampling_rate=10.0, units=["mV", "mV"])


def narrator_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name=None, overrides=["+seed=0", *overrides]).narrator


@pytest.mark.parametrize("name", ["template", "ecg", "energy", "activity"])
def test_template_configs_build(name):
    narr = instantiate(narrator_cfg(f"+narrator={name}"))
    assert isinstance(narr, TemplateNarrator) and narr.domain == name.replace("template", "generic")
    s = np.zeros((2, 20))
    s[1, 4:9] = 1.0
    assert "V1" in narr.narrate(s, META, 1)


def test_t5_config_builds_with_chosen_templates():
    narr = instantiate(narrator_cfg("+narrator=t5", "narrator@narrator.template=ecg"))
    assert isinstance(narr, T5Narrator) and narr.template.domain == "ecg"
    assert narr.model.config.d_model == 64 and narr.tokenizer.__class__.__name__ == "ByT5Tokenizer"


def test_none_config_is_empty():
    assert len(narrator_cfg("+narrator=none")) == 0
