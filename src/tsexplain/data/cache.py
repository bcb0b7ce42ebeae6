"""On-disk cache of generated arrays, keyed by the parameters that produced them.

Writes go to a temporary file in the same folder and are moved into place with `os.replace` (atomic on
POSIX and Windows), so concurrent sweep jobs never read a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def cache_key(params: Mapping[str, object]) -> str:
    """Stable short hash of JSON-serialisable parameters (key order does not matter)."""
    blob = json.dumps(dict(params), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def cache_path(cache_dir: str | Path, prefix: str, params: Mapping[str, object]) -> Path:
    return Path(cache_dir).expanduser() / f"{prefix}_{cache_key(params)}.npz"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """`np.savez` to a temp file beside `path`, then rename it onto `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:  # a file object, so np.savez does not append ".npz" to the temp name
            np.savez(f, **arrays)
        # mkstemp makes the file 0600; a shared cache must be readable by the group (the mode open() would give)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays in `path`, or None if it is missing or unreadable (then it is regenerated)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        log.warning("cache file %s is unreadable (%s); regenerating it", path, err)
        return None


def cached(
    build: Callable[[], Mapping[str, np.ndarray]],
    params: Mapping[str, object],
    cache_dir: str | Path | None,
    prefix: str = "data",
) -> dict[str, np.ndarray]:
    """Arrays from the cache file for `params` if present, else `build()` them and store them.

    `cache_dir=None` disables caching. `params` must hold everything that changes the output
    (including a generator version), since it alone names the file.
    """
    if cache_dir is None:
        return dict(build())
    path = cache_path(cache_dir, prefix, params)
    hit = load(path)
    if hit is not None:
        log.info("loaded cached data %s", path)
        return hit
    arrays = dict(build())
    save_atomic(path, arrays)
    log.info("generated and cached data %s", path)
    return arrays
