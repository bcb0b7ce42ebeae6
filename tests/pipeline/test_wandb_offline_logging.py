"""A real two-job sweep with logger=wandb, offline: every run logs its narratives table, a table of example saliency
maps and saliency.npz as a `saliency` artifact, under the sweep's W&B group, with its swept overrides in its config
and tags. Checked from what W&B wrote: the media files and the records of the offline run's `.wandb` log."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]


def wandb_records(path: Path) -> list:
    """The protobuf Records of an offline run's `run-<id>.wandb` (W&B's LevelDB-style log: a 7-byte `:W&B` header,
    32 KiB blocks of chunks, each with crc32, length and type FULL=1, FIRST=2, MIDDLE=3, LAST=4)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    records, pos, buf = [], 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:  # the block's tail is padding
            pos += left
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind == 0:
            continue
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf)
            records.append(record)
            buf = b""
    return records


def _of(records: list, kind: str) -> list:
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def _config(records: list) -> dict:
    out = {}
    for c in _of(records, "config"):
        for item in c.update:
            out[item.key] = json.loads(item.value_json)
    return out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_overrides) -> Path:
    tmp = tmp_path_factory.mktemp("wandb_sweep")
    env = {**os.environ, "PROJECT_ROOT": str(tmp), "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for name in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        env[name] = str(tmp / name.lower())
    args = ["-m", "logger=wandb", "explainer=occlusion,random", "model=transformer", "evaluation.max_samples=8",
            "evaluation.sanity.enabled=false", "task_name=wbsweep", *tiny_overrides, "n_figures=2"]
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (launch,) = (tmp / "logs" / "wbsweep" / "multiruns").iterdir()
    return launch


def _job(launch: Path, num: int) -> tuple[Path, Path, list]:
    folder = launch / str(num)
    (run_dir,) = (folder / "wandb").glob("offline-run-*")
    (log,) = run_dir.glob("run-*.wandb")
    return folder, run_dir, wandb_records(log)


def test_the_runs_of_one_sweep_share_its_group(sweep):
    groups = set()
    for num in (0, 1):
        *_, records = _job(sweep, num)
        groups |= {r.run_group for r in _of(records, "run")}
    assert groups == {f"wbsweep/{sweep.name}"}  # one group, naming this launch (its time and pid)


def test_each_run_logs_its_narratives_table_and_example_saliency_maps(sweep):
    for num in (0, 1):
        folder, run_dir, records = _job(sweep, num)
        narratives = json.loads((folder / "narratives.json").read_text())
        (table,) = (run_dir / "files" / "media" / "table").glob("narratives_*.table.json")
        logged = json.loads(table.read_text())
        assert logged["columns"][:4] == ["sample", "label", "prediction", "narrative"]
        assert [row[3] for row in logged["data"]] == [r["narrative"] for r in narratives]
        assert [row[0] for row in logged["data"]] == [r["index"] for r in narratives]
        (examples,) = (run_dir / "files" / "media" / "table").glob("saliency_examples_*.table.json")
        rows = json.loads(examples.read_text())["data"]
        figures = sorted(p.name for p in (folder / "figures").glob("saliency_*.png"))
        assert sorted(f"saliency_{row[0]}.png" for row in rows) == figures and len(figures) == 2
        tables = {a.name.rsplit("-", 1)[-1]: a for a in _of(records, "artifact") if a.type == "run_table"}
        images = {Path(e.path).name for e in tables["saliency_examples"].manifest.contents}
        assert set(figures) <= images  # the saliency images travel with the table


def test_each_run_logs_saliency_npz_as_an_artifact(sweep):
    for num in (0, 1):
        folder, _, records = _job(sweep, num)
        (art,) = [a for a in _of(records, "artifact") if a.type == "saliency"]
        (entry,) = art.manifest.contents
        assert entry.path == "saliency.npz"
        md5 = base64.b64encode(hashlib.md5((folder / "saliency.npz").read_bytes()).digest()).decode()
        assert entry.digest == md5  # the run's own file, byte for byte


def test_each_run_says_what_its_sweep_varied(sweep):
    swept = set()
    for num in (0, 1):
        _, _, records = _job(sweep, num)
        config = _config(records)
        assert config["swept"].keys() == {"explainer"}
        assert config["overrides"]["model"] == "transformer"
        assert config["labels"]["dataset"] == "freqshapes"
        swept.add(config["swept"]["explainer"])
        tags = set(_of(records, "run")[-1].tags)
        assert f"explainer={config['swept']['explainer']}" in tags
        assert "model=transformer" not in tags  # fixed for the whole sweep: not a tag
    assert swept == {"occlusion", "random"}
