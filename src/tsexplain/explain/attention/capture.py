"""Capture self-attention weights `[B, H, N, N]` per layer, reduced inside the hook when asked.

Three kinds of site: timm-layout `Attention` (hook on `attn_drop`, whose input is the softmax; `fused_attn`
is switched off only while capturing, then restored), `torch.nn.MultiheadAttention` (forced to return
per-head weights), and our backbones' `HasAttention.forward_with_attention`. Reduction (one head, a head
subset, the head mean, query rows of interest) happens as each layer's map is produced, so only the reduced
maps are kept (ViTime's 2,465 tokens are 24 MB per head and layer).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from tsexplain.models.backbones.base import HasAttention
from tsexplain.models.backbones.timm_compat import is_timm_style_attention

Heads = str | int | Sequence[int]  # "all" | "mean" | index | indices


@dataclass
class AttentionSite:
    """One attention layer: its module name, kind ("timm", "mha" or "backbone") and number of heads."""

    name: str
    kind: str
    num_heads: int
    module: nn.Module | None = None


@dataclass
class CapturedAttention:
    """Reduced maps per layer name, first to last: `[B, H', R, N]` (H' kept heads, R kept query rows)."""

    maps: dict[str, torch.Tensor]
    heads: Heads
    rows: list[int] | None
    num_heads: dict[str, int]
    output: torch.Tensor | None = None
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.names = list(self.maps)

    def stacked(self) -> torch.Tensor:
        """All layers as one `[L, B, H', R, N]` tensor (layers must share N)."""
        return torch.stack([self.maps[n] for n in self.names])

    @property
    def nbytes(self) -> int:
        return sum(m.numel() * m.element_size() for m in self.maps.values())


def _unwrap(model: nn.Module) -> nn.Module:
    """The innermost `.backbone` (ExplainedTarget → ForecastModule/BlackBox → backbone)."""
    seen = model
    while isinstance(getattr(seen, "backbone", None), nn.Module) and seen.backbone is not seen:
        seen = seen.backbone
    return seen


def attention_sites(model: nn.Module) -> list[AttentionSite]:
    """The model's attention layers, in forward order; a ValueError naming what is supported when there is none."""
    sites = []
    for name, m in model.named_modules():
        if is_timm_style_attention(m):
            sites.append(AttentionSite(name, "timm", int(m.num_heads), m))
        elif isinstance(m, nn.MultiheadAttention):
            sites.append(AttentionSite(name, "mha", int(m.num_heads), m))
    if sites:
        return sites
    bb = _unwrap(model)
    if isinstance(bb, HasAttention):
        blocks = getattr(getattr(bb, "encoder", None), "blocks", None)
        if blocks is None:
            blocks = getattr(getattr(getattr(bb, "transformer", None), "encoder", None), "blocks", None)
        if blocks is None:
            raise ValueError(f"{type(bb).__name__} has HasAttention but no .encoder.blocks to count layers from.")
        return [AttentionSite(f"layer{i}", "backbone", int(b.attn.num_heads)) for i, b in enumerate(blocks)]
    raise ValueError(
        f"{type(bb).__name__} has no attention to capture: no timm-layout Attention, no torch.nn.MultiheadAttention "
        "and no HasAttention hook. Use a model with self-attention: model=vitime|transformer2d|resnet_tf|patchtst|"
        "itransformer, or any timm ViT / nn.MultiheadAttention model.")


def _select_layers(sites: list[AttentionSite], layers: Sequence[int | str] | None) -> list[AttentionSite]:
    if layers is None:
        return sites
    by_name = {s.name: s for s in sites}
    listing = ", ".join(f"{i}: {s.name}" for i, s in enumerate(sites))
    out = []
    for layer in layers:
        if isinstance(layer, str) and layer in by_name:
            out.append(by_name[layer])
        elif isinstance(layer, int) and -len(sites) <= layer < len(sites):
            out.append(sites[layer])
        else:
            raise ValueError(f"attention layer {layer!r} does not exist; this model has {len(sites)} attention "
                             f"layer(s) (index: name) {listing}.")
    return out


def _check_heads(heads: Heads, sites: list[AttentionSite]) -> None:
    if isinstance(heads, str):
        if heads not in ("all", "mean"):
            raise ValueError(f"heads={heads!r} is unknown; use 'all', 'mean', a head index or a list of them.")
        return
    idx = [heads] if isinstance(heads, int) else list(heads)
    for s in sites:
        bad = [h for h in idx if not -s.num_heads <= int(h) < s.num_heads]
        if bad:
            raise ValueError(f"head(s) {bad} do not exist in layer {s.name!r}: it has {s.num_heads} heads "
                             f"(0..{s.num_heads - 1}).")


def reduce_attention(attn: torch.Tensor, heads: Heads = "all", rows: Sequence[int] | None = None) -> torch.Tensor:
    """`[B, H, N, N]` → `[B, H', R, N]`: query rows first (cheapest), then heads (index/indices or their mean)."""
    if rows is not None:
        attn = attn[:, :, list(rows)]
    if heads == "mean":
        return attn.mean(1, keepdim=True)
    if heads == "all":
        return attn
    idx = [heads] if isinstance(heads, int) else list(heads)
    return attn[:, idx]


class AttentionCapture(contextlib.AbstractContextManager):
    """Hooks the chosen layers of `model` while open; `run(x)` returns a `CapturedAttention`.

    `layers`: indices or names from `attention_sites(model)` (None: all). `heads`: "all", "mean", an index or
    a list. `rows`: query-token indices (prefix tokens count) to keep, or None. `keep_grad` keeps the maps in
    the autograd graph (for gradient-weighted rollout); otherwise they are detached.
    """

    def __init__(self, model: nn.Module, layers: Sequence[int | str] | None = None, heads: Heads = "all",
                 rows: Sequence[int] | None = None, keep_grad: bool = False) -> None:
        self.model = model
        self.all_sites = attention_sites(model)
        self.sites = _select_layers(self.all_sites, layers)
        _check_heads(heads, self.sites)
        self.heads, self.rows, self.keep_grad = heads, None if rows is None else [int(r) for r in rows], keep_grad
        self._maps: dict[str, torch.Tensor] = {}
        self._handles: list = []
        self._fused: dict[str, bool] = {}

    # -- hooks ---------------------------------------------------------------------------------------------
    def _store(self, name: str, attn: torch.Tensor) -> None:
        n = attn.shape[-2]
        if self.rows is not None and any(not -n <= r < n for r in self.rows):
            raise ValueError(f"query row(s) {[r for r in self.rows if not -n <= r < n]} do not exist in layer "
                             f"{name!r}, which has {n} tokens (0..{n - 1}).")
        red = reduce_attention(attn, self.heads, self.rows)
        self._maps[name] = red if self.keep_grad else red.detach()

    def __enter__(self) -> AttentionCapture:
        for s in self.sites:
            if s.kind == "timm":
                self._fused[s.name] = bool(s.module.fused_attn)
                s.module.fused_attn = False
                self._handles.append(s.module.attn_drop.register_forward_hook(
                    lambda mod, inp, out, name=s.name: self._store(name, inp[0])))
            elif s.kind == "mha":
                def pre(mod, args, kwargs):
                    kwargs = dict(kwargs, need_weights=True, average_attn_weights=False)
                    return args, kwargs

                self._handles.append(s.module.register_forward_pre_hook(pre, with_kwargs=True))
                self._handles.append(s.module.register_forward_hook(
                    lambda mod, inp, out, name=s.name: self._store(name, out[1])))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for s in self.sites:
            if s.name in self._fused:
                s.module.fused_attn = self._fused.pop(s.name)

    # -- running -------------------------------------------------------------------------------------------
    def run(self, x: torch.Tensor) -> CapturedAttention:
        """One forward pass of `x` (hooks opened and closed around it); the reduced maps of the chosen layers."""
        self._maps = {}
        if self.sites[0].kind == "backbone":
            bb = _unwrap(self.model)
            with torch.set_grad_enabled(self.keep_grad or torch.is_grad_enabled()):
                out, attns = bb.forward_with_attention(x)
            for s in self.sites:
                self._store(s.name, attns[int(s.name.removeprefix("layer"))])
        else:
            # nn.TransformerEncoderLayer's inference fast path skips self_attn entirely unless grad is on
            need_grad = self.keep_grad or any(s.kind == "mha" for s in self.sites)
            with self, torch.set_grad_enabled(need_grad or torch.is_grad_enabled()):
                out = self.model(x)
        missing = [s.name for s in self.sites if s.name not in self._maps]
        if missing:
            raise RuntimeError(f"no attention was recorded in layer(s) {missing} during the forward pass; a fused or "
                               "fast path skipped them (e.g. a custom fused attention).")
        out = out if self.keep_grad else out.detach()
        return CapturedAttention({s.name: self._maps[s.name] for s in self.sites}, self.heads, self.rows,
                                 {s.name: s.num_heads for s in self.sites}, out)


def capture_attention(model: nn.Module, x: torch.Tensor, layers: Sequence[int | str] | None = None,
                      heads: Heads = "all", rows: Sequence[int] | None = None,
                      keep_grad: bool = False) -> CapturedAttention:
    """`AttentionCapture(model, layers, heads, rows, keep_grad).run(x)`."""
    return AttentionCapture(model, layers, heads, rows, keep_grad).run(x)
