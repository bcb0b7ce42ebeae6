"""MIT-BIH loader on WFDB fixtures (wfdb.wrsamp + wfdb.wrann .atr): beat windows, labels, QRS mask, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from real_writers import MITBIH_FS, QRS_HALF, ecg_beats, write_mitbih

from tsexplain.data.real import MITBIHDataModule, RealDataWarning
from tsexplain.data.real.mitbih import qrs_bounds
from tsexplain.data.validate import DataValidationError, MissingDataFileError


@pytest.fixture(scope="module")
def mitdb(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("mitdb")
    return root, write_mitbih(root)


def test_qrs_bounds_follow_the_signal() -> None:
    for sym in ("N", "V"):
        x, peaks = ecg_beats(3000, [sym] * 8)
        for r in peaks[1:-1]:
            on, off = qrs_bounds(x, int(r), MITBIH_FS)
            h = QRS_HALF[sym]
            assert abs(on - (r - h)) <= 4 and abs(off - (r + h + 1)) <= 4, (sym, r, on, off)
    flat = np.zeros(1000)
    assert qrs_bounds(flat, 500, MITBIH_FS, fixed_s=0.1) == (482, 519), "a flat envelope falls back to the fixed width"


def test_beat_windows_labels_and_qrs_mask(mitdb) -> None:
    root, peaks = mitdb
    dm = MITBIHDataModule(root, standardize=False)
    meta = dm.meta
    assert (meta.n_channels, meta.seq_len, meta.sampling_rate, meta.units) == (1, 360, 360.0, ["mV"])
    assert meta.class_names == ["normal", "abnormal"] and meta.has_mask and meta.channel_names == ["MLII"]
    n_total = 0
    for split in ("train", "val", "test"):
        arr = dm.split_arrays(split)
        records, r_peaks = dm.beat_source[split]
        n_total += len(r_peaks)
        for k in range(len(r_peaks)):
            i = list(peaks["202" if records[k] == "201" and r_peaks[k] not in peaks["201"] else records[k]]).index(
                r_peaks[k])
            sym = ["N", "N", "V"][i % 3]
            assert int(arr["y"][k]) == (0 if sym == "N" else 1)
            truth = np.zeros(360, bool)
            h = QRS_HALF[sym]
            truth[180 - h:180 + h + 1] = True
            mask = arr["mask"][k, 0].numpy()
            iou = (mask & truth).sum() / (mask | truth).sum()
            assert iou > 0.7, (split, k, sym, iou)
    # 12 s records, beats every 0.8 s from 0.5 s: the last one (at 12.3 s) is past the end; all others fit a 1 s window
    assert n_total == sum(len([p for p in v if p - 180 >= 0 and p + 180 <= 12 * MITBIH_FS]) for v in peaks.values())


def test_record_split_keeps_subjects_apart_and_beat_split_stratifies(mitdb) -> None:
    root, _ = mitdb
    dm = MITBIHDataModule(root, split="record", seed=3)
    groups = {s: set(dm.beat_source[s][0].tolist()) for s in ("train", "val", "test")}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])
    assert not (groups["val"] & groups["test"])
    assert "202" not in set().union(*groups.values()), "201 and 202 are one subject"
    beat = MITBIHDataModule(root, split="beat")
    for s in ("train", "val", "test"):
        assert set(beat.split_arrays(s)["y"].tolist()) == {0, 1}
    assert len(set(beat.beat_source["test"][0].tolist())) > 1, "a beat-wise split mixes records"


def test_aami_classes_all_beats_mask_and_leads(mitdb) -> None:
    root, _ = mitdb
    dm = MITBIHDataModule(root, classes="aami", mask="all", window_s=2.0, standardize=False)
    assert dm.meta.class_names == ["N", "S", "V", "F", "Q"]
    y = np.concatenate([dm.split_arrays(s)["y"].numpy() for s in ("train", "val", "test")])
    assert set(y.tolist()) == {0, 2}
    mask = dm.split_arrays("train")["mask"].numpy()[:, 0]
    runs = [(np.diff(m.astype(int)) == 1).sum() + m[0] for m in mask]
    assert max(runs) >= 2, "with mask=all the neighbouring beats' QRS are marked too"
    with pytest.warns(RealDataWarning, match=r"2 record\(s\) lack the lead\(s\) \['V1'\].*100 \(MLII/V5\)"):
        v1 = MITBIHDataModule(root, channels=["V1"])
        v1.setup()
    assert not {"100", "103"} & set(np.concatenate([v1.beat_source[s][0] for s in ("train", "val", "test")]))
    with pytest.raises(DataValidationError, match="no readable record has the lead"):
        MITBIHDataModule(root, channels=["V9"]).setup()


def test_bad_input(tmp_path: Path, mitdb) -> None:
    with pytest.raises(MissingDataFileError, match=r"(?s)no record.*100.atr.*physionet.org/content/mitdb"):
        MITBIHDataModule(tmp_path).setup()
    root, _ = mitdb
    with pytest.raises(MissingDataFileError, match=r"109.hea"):
        MITBIHDataModule(root, records=["100", "109"]).setup()
    with pytest.raises(DataValidationError, match=r"classes='five'.*'normal_abnormal', 'aami'"):
        MITBIHDataModule(root, classes="five")
    with pytest.raises(DataValidationError, match=r"split='patient'.*'record', 'beat'"):
        MITBIHDataModule(root, split="patient")
