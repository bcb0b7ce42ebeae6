"""`python -m tsexplain [group=option ...]` (or the `tsexplain` console script): a run from the configs shipped inside
the package (`tsexplain/conf`), so an installed tsexplain needs no checkout. `python run.py` is the same app."""

import hydra
from omegaconf import DictConfig

from tsexplain.utils.resolvers import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from tsexplain.pipeline import run

    return run(cfg)


if __name__ == "__main__":
    main()
