"""Token → time: patch-token attention `[.., N, N]` → time-column attention `[.., gw, gw]`, rollout, blocks.

With a grid of gh rows (value bins for ViTime, channels for patch models) × gw time columns after the prefix
tokens, a map is reshaped to `(gh, gw, gh, gw)`, summed over key rows and averaged over query rows, so each
time-column row still sums to 1 (REFERENCE §5; averaging over both, as the seed did, scales rows to 1/gh).
A lag of k columns is `k · samples_per_patch` input samples: the patch width over the resampling ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tsexplain.explain.rollout import HeadFusion, rollout

Block = str  # "all" | "history×history" | "forecast×history" (ASCII "x" accepted)


@dataclass
class TokenLayout:
    """Where the tokens lie: `grid = (gh, gw)` after `num_prefix_tokens`, `samples_per_patch` input samples per
    time column, and (forecasters) `history_patches` columns of history before the forecast region."""

    grid: tuple[int, int]
    num_prefix_tokens: int = 0
    samples_per_patch: float = 1.0
    history_patches: float | None = None

    @property
    def n_tokens(self) -> int:
        return self.num_prefix_tokens + self.grid[0] * self.grid[1]

    @classmethod
    def from_model(cls, model: nn.Module) -> TokenLayout:
        """Read a layout off a backbone (or a wrapper with `.backbone`): ViTime, PatchTransformer2d, ResNetTransformer,
        PatchTST, ITransformer."""
        from tsexplain.explain.attention.capture import _unwrap

        bb = _unwrap(model)
        if not hasattr(bb, "token_grid"):
            raise ValueError(f"{type(bb).__name__} has no token_grid; give a TokenLayout(grid=(gh, gw), ...) yourself.")
        spp = getattr(bb, "samples_per_patch", None)
        if spp is None:  # patch models: the time stride of one token column
            tf = getattr(bb, "transformer", bb)
            spp = getattr(bb, "stride", None) or (tf.patch[1] if hasattr(tf, "patch") else 1.0)
        return cls(tuple(int(g) for g in bb.token_grid), int(getattr(bb, "num_prefix_tokens", 0)), float(spp),
                   getattr(bb, "history_patches", None))

    def check(self, n_tokens: int) -> None:
        """A ValueError unless `n_tokens` = prefix + gh·gw, listing the grids that would fit."""
        if n_tokens == self.n_tokens:
            return
        n = n_tokens - self.num_prefix_tokens
        fits = [(d, n // d) for d in range(1, n + 1) if n > 0 and n % d == 0][:12]
        raise ValueError(f"the attention map has {n_tokens} tokens but the grid {self.grid} with "
                         f"{self.num_prefix_tokens} prefix token(s) needs {self.n_tokens}; grids (gh, gw) that divide "
                         f"{n} patch tokens: {fits}. Give the model's own layout (TokenLayout.from_model).")


def token_to_time(attn: torch.Tensor, layout: TokenLayout, queries: str = "grid") -> torch.Tensor:
    """`[..., Nq, N]` → time-column attention.

    `queries="grid"` (full maps): `[..., gw, gw]`, key rows summed, query rows averaged. `queries="rows"` (maps
    captured for a few query rows): `[..., Nq, gw]`, keys converted only.
    """
    layout.check(attn.shape[-1])
    gh, gw = layout.grid
    p = layout.num_prefix_tokens
    keys = attn[..., p:].reshape(*attn.shape[:-1], gh, gw).sum(-2)  # [..., Nq, gw]
    if queries == "rows":
        return keys
    if queries != "grid":
        raise ValueError(f"queries={queries!r} is unknown; use 'grid' (full maps) or 'rows' (row-restricted maps).")
    if attn.shape[-2] != attn.shape[-1]:
        raise ValueError(f"the map has {attn.shape[-2]} query rows for {attn.shape[-1]} keys: it was captured for "
                         "rows of interest; use queries='rows', or capture with rows=None.")
    return keys[..., p:, :].reshape(*attn.shape[:-2], gh, gw, gw).mean(-3)


def rollout_time(maps: list[torch.Tensor], layout: TokenLayout, head_fusion: HeadFusion = "mean") -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) across `maps` (full `[B, H, N, N]` per layer, first to last),
    then token → time: `[B, gw, gw]`."""
    if not maps:
        raise ValueError("rollout needs at least one layer's attention.")
    if any(m.shape[-2] != m.shape[-1] for m in maps):
        raise ValueError("rollout needs full maps (all query rows); capture with rows=None.")
    if len({m.shape[-1] for m in maps}) > 1:
        counts = [m.shape[-1] for m in maps]
        raise ValueError(f"rollout multiplies maps over the same tokens; got token counts {counts}.")
    return token_to_time(rollout(maps, head_fusion), layout)


def restrict_block(a_time: torch.Tensor, layout: TokenLayout, block: Block = "all") -> torch.Tensor:
    """The history×history or forecast×history block of a time map `[..., gw, gw]` (queries × keys)."""
    block = block.replace("x", "×")
    if block == "all":
        return a_time
    if block not in ("history×history", "forecast×history"):
        raise ValueError(f"block={block!r} is unknown; use 'all', 'history×history' or 'forecast×history'.")
    if layout.history_patches is None:
        raise ValueError("this model has no history/forecast split of its tokens (history_patches is None); "
                         "use block='all'.")
    hist = int(round(layout.history_patches))
    if not 0 < hist < layout.grid[1] or a_time.shape[-1] != layout.grid[1]:
        raise ValueError(f"history_patches={layout.history_patches} does not split the {layout.grid[1]} time columns.")
    return a_time[..., :hist, :hist] if block == "history×history" else a_time[..., hist:, :hist]
