"""The Hydra configs as the package `tsexplain.conf` (Hydra finds them as `pkg://tsexplain.conf` when tsexplain is
installed or run as `python -m tsexplain`, the `tsexplain` script or run.py)."""
