"""T5 narrator: a tiny byte-level T5 trains offline, reloads identically, and falls back honestly."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tsexplain.data.meta import DataMeta
from tsexplain.narrate.t5 import T5Narrator
from tsexplain.narrate.templates import TemplateNarrator

META = DataMeta(name="ecg", task="multiclass", n_channels=3, seq_len=40, n_outputs=2,
                channel_names=["II", "V2", "V5"], sampling_rate=10.0, class_names=["NORM", "MI"])


def tiny(**kw) -> T5Narrator:
    return T5Narrator(TemplateNarrator(), d_model=32, num_layers=1, num_heads=2, d_ff=64, max_new_tokens=96,
                      accelerator="cpu", **kw)


def maps(n: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Maps with one bump each at a few repeated places (a repetitive corpus)."""
    rng = np.random.default_rng(seed)
    s = np.zeros((n, 3, 40))
    preds = []
    for i in range(n):
        c, start = i % 3, [5, 20][i % 2]
        s[i, c, start:start + 6] = 1.0
        preds.append(int(rng.integers(2)))
    return s, preds


def test_training_lowers_loss_and_generates():
    torch.manual_seed(0)
    narr = tiny()
    s, preds = maps(20)
    pairs = narr.pairs(s, META, preds)
    assert len(pairs) == 20 and pairs[0][0].startswith("label=") and pairs[0][1].startswith("Predicted ")
    narr.fit(pairs, max_steps=40, lr=3e-3, batch_size=10)
    assert len(narr.losses) == 40
    assert np.mean(narr.losses[-5:]) < 0.7 * np.mean(narr.losses[:5])
    text = narr.narrate(s[0], META, preds[0])
    assert isinstance(text, str) and text
    assert narr.generated == 1


def test_save_reload_gives_identical_generation(tmp_path):
    narr = tiny(seed=1)
    s, preds = maps(6)
    narr.fit(narr.pairs(s, META, preds), max_steps=5, lr=3e-3, batch_size=6)
    sources = [narr.source_text(narr.template.regions(m), META, p) for m, p in zip(s, preds, strict=True)]
    before = narr.generate(sources)
    folder = narr.save(tmp_path / "narrator")
    again = T5Narrator(TemplateNarrator(), pretrained_path=str(folder), max_new_tokens=96)
    assert again.generate(sources) == before
    for a, b in zip(narr.model.state_dict().values(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a.cpu(), b.cpu())


def test_untrained_model_falls_back_to_template():
    narr = tiny(seed=2)
    s, preds = maps(2)
    regions = narr.template.regions(s[0])
    raw = narr.generate([narr.source_text(regions, META, preds[0])])[0]
    names = [META.channel_names[r.channel] for r in regions]
    # Precondition checked independently: random weights emit no channel name as a whole word.
    assert not any(re.search(rf"(?<!\w){n}(?!\w)", raw) for n in names)
    text = narr.narrate(s[0], META, preds[0])
    assert text == narr.template.narrate(s[0], META, preds[0])
    assert (narr.fallbacks, narr.generated) == (1, 1)
    # An empty map is not sent to the model: the template's sentence, no fallback counted.
    assert narr.narrate(np.zeros((3, 40)), META, 0) == "Predicted NORM: no salient region was found."
    assert (narr.fallbacks, narr.generated) == (1, 1)


def test_usable_requires_a_channel_name_as_a_word():
    regions = TemplateNarrator().regions(maps(1)[0][0])  # channel 0 = "II"
    assert T5Narrator.usable("Predicted MI: II is strongly salient", regions, META)
    assert not T5Narrator.usable("Predicted MI: III is salient", regions, META)
    assert not T5Narrator.usable("", regions, META)


def test_missing_pretrained_path_raises(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match=str(missing)):
        T5Narrator(pretrained_path=str(missing))


def test_fit_maps_without_any_region_warns_and_keeps_the_template(caplog):
    """Constant maps (e.g. an all-zero Grad-CAM) leave nothing to learn: no crash mid-run, template text."""
    narr = tiny(seed=3)
    before = [p.detach().clone() for p in narr.model.parameters()]
    with caplog.at_level("WARNING", logger="tsexplain.narrate.t5"):
        assert narr.fit_maps(np.zeros((4, 3, 40)), META, [0, 1, 0, 1], max_steps=2) is narr
    assert "not trained" in caplog.text
    assert narr.losses == []
    assert all(torch.equal(a, b) for a, b in zip(before, narr.model.parameters(), strict=True))
    assert narr.narrate(np.zeros((3, 40)), META, 1) == "Predicted MI: no salient region was found."
    with pytest.raises(ValueError, match="non-empty"):  # fit itself still refuses an empty corpus
        narr.fit([])
