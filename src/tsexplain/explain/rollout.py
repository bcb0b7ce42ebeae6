"""Attention rollout (Abnar & Zuidema 2020) and gradient-weighted rollout (Chefer et al. ICCV 2021)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from tsexplain.explain.base import Explainer
from tsexplain.models.backbones.base import HasAttention

HeadFusion = Literal["mean", "max", "min"]


def fuse_heads(attn: torch.Tensor, head_fusion: HeadFusion) -> torch.Tensor:
    """`[B, H, N, N]` → `[B, N, N]` by mean, max or min over heads."""
    if head_fusion == "mean":
        return attn.mean(1)
    if head_fusion == "max":
        return attn.amax(1)
    if head_fusion == "min":
        return attn.amin(1)
    raise ValueError(f"head_fusion={head_fusion!r} is unknown; use 'mean', 'max' or 'min'.")


def discard_lowest(attn: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero the `ratio` fraction of smallest entries of each sample's `[N, N]` map (per sample, not item 0 only)."""
    if ratio <= 0:
        return attn
    b = attn.shape[0]
    flat = attn.reshape(b, -1)
    k = int(flat.shape[1] * ratio)
    if k == 0:
        return attn
    idx = flat.topk(k, dim=-1, largest=False).indices
    return flat.scatter(1, idx, 0.0).reshape(attn.shape)


def rollout(
    attentions: list[torch.Tensor], head_fusion: HeadFusion = "mean", discard_ratio: float = 0.0
) -> torch.Tensor:
    """`R = Â_L ⋯ Â_1` with `Â = rownorm(½Ā + ½I)`, `Ā` the head-fused (and thinned) attention; `[B, N, N]`."""
    if not attentions:
        raise ValueError("rollout needs at least one attention map; the backbone returned none.")
    b, _, n, _ = attentions[0].shape
    eye = torch.eye(n, device=attentions[0].device, dtype=attentions[0].dtype)
    r = eye.expand(b, n, n)
    for attn in attentions:
        a = discard_lowest(fuse_heads(attn, head_fusion), discard_ratio)
        a = 0.5 * a + 0.5 * eye
        a = a / a.sum(-1, keepdim=True)
        r = a @ r
    return r


def chefer_rollout(attentions: list[torch.Tensor], grads: list[torch.Tensor]) -> torch.Tensor:
    """Chefer et al. 2021: `R = I; R ← R + mean_h[(∇A ⊙ A)⁺] · R` per layer, first to last; `[B, N, N]`."""
    b, _, n, _ = attentions[0].shape
    r = torch.eye(n, device=attentions[0].device, dtype=attentions[0].dtype).expand(b, n, n)
    for attn, grad in zip(attentions, grads, strict=True):
        cam = (grad * attn).clamp_min(0).mean(1)
        r = r + cam @ r
    return r


def tokens_to_map(
    relevance: torch.Tensor, grid: tuple[int, int], size: tuple[int, int], patch: tuple[int, int] | None = None
) -> torch.Tensor:
    """Token relevance `[B, gh·gw]` → `[B, C, T]`: reshape to the (channel × time) grid, bilinear upsample.

    With `patch=(pc, pt)` the grid covers a zero-padded `[gh·pc, gw·pt]` input: upsample to that, then crop.
    """
    gh, gw = grid
    if relevance.shape[1] != gh * gw:
        raise ValueError(
            f"{relevance.shape[1]} patch tokens do not fill token_grid={grid} ({gh * gw}); the backbone's "
            "token_grid or num_prefix_tokens is wrong."
        )
    img = relevance.reshape(-1, 1, gh, gw)
    full = size if patch is None else (max(size[0], gh * patch[0]), max(size[1], gw * patch[1]))
    return F.interpolate(img, size=full, mode="bilinear", align_corners=False)[:, 0, : size[0], : size[1]]


def _patch_size(backbone) -> tuple[int, int] | None:
    """`(pc, pt)` of a patch backbone that pads its input (PatchTransformer2d, or a model's `.transformer`)."""
    for m in (backbone, getattr(backbone, "transformer", None)):
        if m is not None and isinstance(getattr(m, "patch", None), tuple | list) and len(m.patch) == 2:
            return tuple(m.patch)
    return None


class RolloutBase(Explainer):
    """Token relevance from an attention rollout, read out at the CLS row (prefix models) or the mean query row,
    laid on the backbone's `token_grid` and upsampled to `[C, T]`. Subclasses give the rollout matrix."""

    requires = (HasAttention,)
    supported_models = ("transformer2d", "resnet_tf", "transformer", "patchtst", "itransformer")

    def _backbone(self):
        return getattr(self.blackbox, "backbone", self.blackbox)

    def rollout_matrix(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """`[B, N, N]` token-to-token relevance (prefix tokens included)."""
        raise NotImplementedError

    def token_relevance(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Relevance of each patch token (prefix tokens dropped), `[B, N − prefix]`."""
        prefix = int(getattr(self._backbone(), "num_prefix_tokens", 0))
        r = self.rollout_matrix(x, target)
        return (r[:, 0, prefix:] if prefix else r.mean(1)).detach()

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        backbone = self._backbone()
        rel = self.token_relevance(x, target)
        return tokens_to_map(rel, tuple(backbone.token_grid), (x.shape[1], x.shape[2]), _patch_size(backbone))


class AttentionRollout(RolloutBase):
    """Abnar & Zuidema's class-agnostic rollout (`explainer=rollout`); `CheferRollout` is the class-specific one."""

    name = "rollout"

    def __init__(self, head_fusion: HeadFusion = "mean", discard_ratio: float = 0.0, batch_size: int = 64,
                 method: str | None = None) -> None:
        super().__init__(batch_size=batch_size)
        if method is not None:  # the former string switch between the two rollouts
            raise ValueError(
                f"rollout method={method!r} is gone: the two rollouts are two explainers now, explainer=rollout "
                "(Abnar & Zuidema) and explainer=rollout_chefer (gradient-weighted; inside the fusion: "
                "explainer@explainer.rollout=rollout_chefer); in Python AttentionRollout() or CheferRollout().")
        fuse_heads(torch.zeros(1, 1, 1, 1), head_fusion)  # validate early
        if not 0 <= discard_ratio < 1:
            raise ValueError(f"discard_ratio={discard_ratio} must lie in [0, 1).")
        self.head_fusion, self.discard_ratio = head_fusion, discard_ratio

    def rollout_matrix(self, x, target):
        with torch.no_grad():
            _, attns = self._backbone().forward_with_attention(x)
        return rollout(attns, self.head_fusion, self.discard_ratio)


class CheferRollout(RolloutBase):
    """Chefer et al.'s gradient-weighted rollout (`explainer=rollout_chefer`): class-specific, heads averaged after
    weighting each attention map by its gradient."""

    name = "rollout_chefer"

    def rollout_matrix(self, x, target):
        backbone = self._backbone()
        with torch.enable_grad():
            out, attns = backbone.forward_with_attention(x)
            score = out.gather(1, target.to(out.device)[:, None]).sum()
            grads = torch.autograd.grad(score, attns, allow_unused=True)
        grads = [torch.zeros_like(a) if g is None else g for a, g in zip(attns, grads, strict=True)]
        r = chefer_rollout([a.detach() for a in attns], grads)
        if not int(getattr(backbone, "num_prefix_tokens", 0)):  # drop the identity so the mean over query rows
            r = r - torch.eye(r.shape[-1], device=r.device, dtype=r.dtype)  # is not offset by 1/N
        return r
