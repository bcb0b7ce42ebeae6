"""Train once, explain many times: a content-addressed cache of trained black boxes shared by the jobs of a sweep.

The key is a hash of exactly what determines the trained weights (the resolved `dataset`, `model`, `trainer`,
`callbacks`, `seed` and `monitor` nodes, minus per-run paths, plus the code and data-generator versions), never
the explainer, evaluation or narrator, so every explainer of a sweep reuses one training. Entries are published
atomically (temp file in the same folder, `os.replace`) under a per-key file lock: two concurrent jobs never write
a half file, and the second waits for the first and loads its result instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# The run-config nodes that determine a trained black box (and nothing else: explainers share entries).
KEY_NODES = ("dataset", "model", "trainer", "callbacks", "seed", "monitor")
# Keys whose values never change the weights: where files go, how data is loaded, what is shown.
IGNORED_KEYS = frozenset({"cache_dir", "dirpath", "default_root_dir", "save_dir", "num_workers", "pin_memory",
                          "rich_progress_bar", "enable_progress_bar", "enable_model_summary", "log_every_n_steps"})
# The source folders whose code shapes the trained black box: an edit there invalidates every entry.
CODE_DIRS = ("models", "data", "tasks.py", "training.py")
FORMAT = 1  # bump when the entry layout changes


def code_version() -> str:
    """The package version, the synthetic generator's version and a hash of the model/data/training sources."""
    from tsexplain.data.synthetic import GENERATOR_VERSION

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for part in CODE_DIRS:
        path = root / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    try:
        version = metadata.version("tsexplain")
    except metadata.PackageNotFoundError:  # a checkout run without installing
        version = "0"
    return f"tsexplain={version};generator={GENERATOR_VERSION};torch={torch.__version__};src={digest.hexdigest()[:16]}"


def _clean(value: Any, run_dirs: tuple[str, ...]) -> Any:
    """`value` without the ignored keys and the strings that point into this run's own folders."""
    if isinstance(value, dict):
        return {k: _clean(v, run_dirs) for k, v in sorted(value.items()) if k not in IGNORED_KEYS}
    if isinstance(value, list):
        return [_clean(v, run_dirs) for v in value]
    if isinstance(value, str) and any(d and value.startswith(d) for d in run_dirs):
        return "<run folder>"
    return value


def _file_stamps(node: Any) -> dict[str, list[int]]:
    """Size and mtime of every file a dataset node names (a user's .npz): a rewritten file is another black box."""
    out: dict[str, list[int]] = {}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and os.path.isfile(item):
            st = os.stat(item)
            out[item] = [st.st_size, st.st_mtime_ns]
    return out


def key_material(run_nodes: Mapping[str, Any]) -> dict[str, Any]:
    """What the key hashes: the resolved KEY_NODES of the run (its `paths` node only to drop per-run folders from
    them) and the code version."""
    paths = run_nodes.get("paths") or {}
    run_dirs = tuple(str(paths[k]) for k in ("output_dir", "log_dir") if k in paths and paths[k] is not None)
    nodes = {}
    for name in KEY_NODES:
        node = run_nodes.get(name)
        nodes[name] = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    material = {k: _clean(v, run_dirs) for k, v in nodes.items()}
    material["files"] = _file_stamps(nodes["dataset"])
    material["code"] = code_version()
    material["format"] = FORMAT
    return material


def digest(material: dict[str, Any]) -> str:
    """A 24-hex-digit content hash of key material."""
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cache_key(run_nodes: Mapping[str, Any]) -> str:
    """The cache key of the black box a run with these config nodes (KEY_NODES and `paths`) trains."""
    return digest(key_material(run_nodes))


class BlackboxCache:
    """The cache folder (`blackbox_cache` in conf/config.yaml); `entry(...)` is a run's slot, None when off."""

    def __init__(self, dir: str, enabled: bool = False, lock_timeout_s: float | None = None) -> None:
        self.dir, self.enabled = Path(dir), bool(enabled)
        self.lock_timeout_s = lock_timeout_s

    def entry(self, run_nodes: Mapping[str, Any], from_scratch: bool = True) -> CacheEntry | None:
        """The entry of a run with these config nodes, or None when the cache is off or the run does not train from
        scratch (a given `model.ckpt_path`, `resume_from`, `train=false`)."""
        if not self.enabled:
            return None
        if not from_scratch:
            log.info("black-box cache not used: this run does not train from scratch")
            return None
        material = key_material(run_nodes)
        return CacheEntry(self.dir, digest(material), material, self.lock_timeout_s)


class CacheCorrupt(ValueError):
    """A cache entry that cannot be loaded: the message names the file."""


@dataclass
class CacheEntry:
    """One key's slot: `<dir>/<key>.ckpt` (weights, read with safe_load), `<key>.json` (what the key hashes),
    `<key>.lock` (held while the entry is looked up, trained and published)."""

    dir: Path
    key: str
    material: dict
    lock_timeout_s: float | None = None

    @property
    def path(self) -> Path:
        return self.dir / f"{self.key}.ckpt"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the key's lock (filelock: fcntl.flock on POSIX, released by the OS if the holder dies)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.dir / f"{self.key}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info("black-box cache: another job is training key %s; waiting for it (%s)", self.key, lock.lock_file)
            start = time.monotonic()
            try:
                lock.acquire(timeout=-1 if self.lock_timeout_s is None else self.lock_timeout_s)
            except Timeout:
                raise TimeoutError(
                    f"black-box cache lock {lock.lock_file} still held after {self.lock_timeout_s} s; another job is "
                    "training the same black box. Raise blackbox_cache.lock_timeout_s (null: wait forever) or set "
                    "blackbox_cache.enabled=false.") from None
            log.info("black-box cache: lock obtained after %.0f s", time.monotonic() - start)
        try:
            yield
        finally:
            lock.release()

    def load(self, blackbox: torch.nn.Module) -> bool:
        """Load the entry's weights into `blackbox` (no code runs: training.load_blackbox_weights); False when
        there is no entry. A corrupt or mismatched entry raises CacheCorrupt naming the file."""
        if not self.path.is_file():
            return False
        from tsexplain.training import load_blackbox_weights

        try:
            load_blackbox_weights(blackbox, str(self.path), option="black-box cache entry")
        except (ValueError, FileNotFoundError) as err:  # safe_load's CheckpointError; another architecture
            raise CacheCorrupt(str(err)) from None
        except Exception as err:  # noqa: BLE001  torch's weights-only unpickler raises KeyError etc. on some garbage
            raise CacheCorrupt(f"black-box cache entry {self.path} is not a readable checkpoint "
                               f"({type(err).__name__}: {str(err)[:200]})") from None
        return True

    def set_aside(self, reason: str) -> Path:
        """Move a bad entry to `<key>.ckpt.corrupt-<time>` (kept for inspection) so that it is retrained."""
        bad = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        os.replace(self.path, bad)
        log.warning("black-box cache entry %s refused (%s); moved to %s and retraining", self.path, reason, bad.name)
        return bad

    def publish(self, blackbox: torch.nn.Module, source: str = "") -> Path:
        """Write the black box's weights (and, beside them, the key material) atomically as this entry."""
        self.dir.mkdir(parents=True, exist_ok=True)
        payload = {"state_dict": blackbox.state_dict(), "tsexplain_cache": {"key": self.key, "format": FORMAT,
                                                                          "source": str(source)}}
        _atomic(self.path, lambda f: torch.save(payload, f))
        meta = json.dumps({"key": self.key, "source": str(source), "material": self.material}, indent=2,
                          sort_keys=True, default=str)
        _atomic(self.path.with_suffix(".json"), lambda f: f.write(meta.encode()))
        return self.path


def _atomic(path: Path, write) -> None:
    """`write(file)` into a temp file in `path`'s folder, fsync, then `os.replace` onto `path` (readers see the
    old file or the complete new one, never a half one)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
