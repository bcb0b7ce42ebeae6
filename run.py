"""Entry point: `python run.py [group=option ...] [key=value ...]` (see README)."""

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
