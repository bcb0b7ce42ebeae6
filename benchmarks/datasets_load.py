"""Load time of each real-dataset loader on its test fixture: first read (parse + write cache) and cached read.

Fixtures are the ones the tests write (tests/data/real/real_writers.py), in each publisher's file format, so the
first read goes through the real parsers (wfdb, pandas, aeon). Each time is the setup() of a fresh datamodule
(validation and standardisation included), median of `--repeats` runs, each in a fresh fixture and cache folder.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/datasets_load.py [--repeats 3] [--out bench_results/datasets_load.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/data/real"))

import real_writers as W  # noqa: E402

from tsexplain.data.real import (  # noqa: E402
    CinC2017DataModule,
    ETTDataModule,
    MITBIHDataModule,
    PAMAP2DataModule,
    PTBXLDataModule,
    UCIEnergyDataModule,
    UCRDataModule,
)

PAMAP_RUNS = {s: [(1, 3000), (0, 200), (2, 3000), (4, 3000)] for s in (101, 102, 103)}

# name → (fixture description, writer(root) -> data_dir, loader(data_dir, cache_dir))
CASES: dict[str, tuple[str, Callable[[Path], Path], Callable[[Path, Path], object]]] = {
    "ptbxl": ("40 records, 12 × 1000 @ 100 Hz", lambda r: W.write_ptbxl(r, n=40),
              lambda d, c: PTBXLDataModule(d, cache_dir=c)),
    "mitbih": ("6 records × 12 s, 2 leads @ 360 Hz", lambda r: (W.write_mitbih(r), r)[1],
               lambda d, c: MITBIHDataModule(d, cache_dir=c)),
    "cinc2017": ("16 records, 8–20 s @ 300 Hz", lambda r: W.write_cinc(r),
                 lambda d, c: CinC2017DataModule(d, n_folds=4, cache_dir=c)),
    "uci_energy": ("2,000 rows × 29 columns", lambda r: W.write_energy(r, n=2000),
                   lambda d, c: UCIEnergyDataModule(d, cache_dir=c)),
    "etth1": ("14,500 rows × 8 columns (standard split)", lambda r: W.write_ett(r, n=14_500),
              lambda d, c: ETTDataModule(d, cache_dir=c)),
    "pamap2": ("3 subjects × 9,200 rows × 54 columns", lambda r: W.write_pamap2(r, PAMAP_RUNS),
               lambda d, c: PAMAP2DataModule(d, activities=[1, 2, 4], subjects=[101, 102, 103], cache_dir=c)),
    "ucr": ("GunPoint, bundled in aeon (200 × 150)", lambda r: r, lambda d, c: UCRDataModule("GunPoint", cache_dir=c)),
}


def timed(load: Callable[[Path, Path], object], data: Path, cache: Path) -> float:
    t = time.perf_counter()
    load(data, cache).setup()  # type: ignore[attr-defined]
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = ["| dataset | fixture | first read (s) | cached (s) | cache file (MB) |", "|---|---|---|---|---|"]
    warnings.simplefilter("ignore")
    UCRDataModule("GunPoint").setup()  # imports (aeon, wfdb, sklearn) out of the first timing
    for name, (what, write, load) in CASES.items():
        first, again, size = [], [], 0.0
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                data, cache = write(Path(tmp) / "data"), Path(tmp) / "cache"
                first.append(timed(load, data, cache))
                again.append(timed(load, data, cache))
                size = sum(f.stat().st_size for f in cache.glob("*.npz")) / 2**20
        rows.append(f"| `{name}` | {what} | {statistics.median(first):.3f} | {statistics.median(again):.3f} | "
                    f"{size:.1f} |")
    table = "\n".join(rows)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
