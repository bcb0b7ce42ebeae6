"""`ViTimeForecaster`: a ViTime-style (Yang et al., TMLR 2025) forecaster built from timm ViT parts.

A series is resampled to the model's history width, normalised by its own mean/std, clipped to ±max_scale
and binned into an image of `h` value rows × `L = input_len + pred_len` time columns (future columns empty),
then Gaussian-blurred. A masked-autoencoder ViT (`PatchEmbed`, CLS token, fixed 2-D sin-cos positions, timm
`Block`s, MAE decoder) predicts per-column logits over the value bins; softmax over the bins of each column
and the expectation (or argmax) give values, read back at the forecast samples and de-normalised.

Parameter names and shapes are those of the public ViTime code's `MAE` wrapper (`model.patch_embed.proj`,
`model.cls_token`, `model.blocks.N.attn.qkv`, ..., `model.decoder_pred`), so its released checkpoint
(`{"args": Namespace(h, patch_size, size, modelSize, maxScal, ...), "model": state_dict}`) loads from
`ckpt_path`; its sizes then come from the checkpoint's `args`.

Deviations from the public code, on purpose: (1) at mask ratio 0 the public encoder still shuffles tokens
(`random_masking` argsorts random noise) and un-shuffles them in the decoder; the output is the same without
the shuffle (attention is permutation-equivariant), and without it the encoder's attention maps are in grid
order, which attention analysis needs. (2) The history always fills `input_len` columns (the public inference
varies it with the history/horizon ratio). (3) `binning="soft"` (default for models trained here) splats each
value linearly onto its two nearest bins, so gradient explainers see a gradient; `"hard"` is the public one-hot.
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from tsexplain.models.backbones.layers import check_input, sincos_1d
from tsexplain.models.backbones.timm_compat import vit_parts

Binning = Literal["soft", "hard"]
Decode = Literal["expectation", "argmax"]


def sincos_2d_mae(gh: int, gw: int, dim: int, cls_token: bool = True) -> torch.Tensor:
    """MAE's fixed 2-D sin-cos table `[(1 +) gh·gw, dim]` (row-major; first half encodes the column, as the
    public code's meshgrid(w, h) puts w first); a zero row for CLS."""
    if dim % 4:
        raise ValueError(f"2-D sin-cos positions need an embedding dim divisible by 4, got {dim}.")
    cols = sincos_1d(gw, dim // 2)[None].expand(gh, gw, dim // 2)
    rows = sincos_1d(gh, dim // 2)[:, None].expand(gh, gw, dim // 2)
    table = torch.cat([cols, rows], dim=-1).reshape(gh * gw, dim)
    return torch.cat([torch.zeros(1, dim), table]) if cls_token else table


def gaussian_kernel1d(size: int) -> torch.Tensor:
    """OpenCV's `getGaussianKernel(size, 0)`: σ = 0.3·((size − 1)/2 − 1) + 0.8, normalised to sum 1."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"blur kernel sizes must be odd and ≥ 1 (as OpenCV's), got {size}.")
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-(t**2) / (2 * sigma**2))
    return (k / k.sum()).float()


class MaskedAutoencoderViT(nn.Module):
    """The public code's MAE with mask ratio 0: image `[B, 1, h, L]` → per-pixel logits `[B, 1, h, L]`."""

    def __init__(self, h: int, length: int, patch_size: tuple[int, int], embed_dim: int, depth: int,
                 num_heads: int, decoder_embed_dim: int, decoder_depth: int, decoder_num_heads: int,
                 mlp_ratio: float = 4.0, in_chans: int = 1, prefer_timm: bool = True) -> None:
        super().__init__()
        patch_embed_cls, block_cls = vit_parts(prefer_timm)
        ph, pw = patch_size
        self.img_size, self.patch_size, self.in_chans = (h, length), (ph, pw), in_chans
        self.grid = (h // ph, length // pw)
        self.patch_embed = patch_embed_cls((h, length), (ph, pw), in_chans, embed_dim)
        n = self.grid[0] * self.grid[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(sincos_2d_mae(*self.grid, embed_dim)[None], requires_grad=False)
        self.blocks = nn.ModuleList(block_cls(embed_dim, num_heads, mlp_ratio, qkv_bias=True, norm_layer=nn.LayerNorm)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim)
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim, bias=True)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))  # unused at mask ratio 0; kept for layout
        self.decoder_pos_embed = nn.Parameter(sincos_2d_mae(*self.grid, decoder_embed_dim)[None], requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            block_cls(decoder_embed_dim, decoder_num_heads, mlp_ratio, qkv_bias=True, norm_layer=nn.LayerNorm)
            for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, ph * pw * in_chans, bias=True)
        assert self.pos_embed.shape[1] == n + 1
        self._init_weights()

    def _init_weights(self) -> None:
        """The public code's initialisation: xavier for Linear and the patch projection, N(0, 0.02) tokens."""
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_encoder(self, img: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(img) + self.pos_embed[:, 1:]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(len(x), -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_decoder(self, latent: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(latent) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, gh·gw, ph·pw·c]` → `[B, c, h, L]` (the public code's einsum 'nhwpqc->nchpwq')."""
        (gh, gw), (ph, pw) = self.grid, self.patch_size
        x = x.reshape(len(x), gh, gw, ph, pw, self.in_chans)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(len(x), self.in_chans, gh * ph, gw * pw)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.unpatchify(self.forward_decoder(self.forward_encoder(img)))


def _args_dict(args: Any) -> dict[str, Any]:
    if isinstance(args, argparse.Namespace):
        return vars(args)
    if isinstance(args, Mapping):
        return dict(args)
    raise ValueError(f"the checkpoint's 'args' is a {type(args).__name__}; expected an argparse.Namespace or a dict "
                     "with h, patch_size, size, modelSize and maxScal.")


def load_vitime_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """`(args, MAE state dict)` from a public-layout ViTime checkpoint, read without running code (weights_only)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"ViTime checkpoint {str(p)!r} does not exist; download ViTime_Model.pth (see the "
                                "public ViTime README) and give its local path as model.backbone.ckpt_path.")
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, Mapping) or "args" not in ckpt or "model" not in ckpt:
        keys = sorted(ckpt) if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise ValueError(f"{p} is not a ViTime checkpoint: expected a dict with 'args' and 'model', got {keys}.")
    args = _args_dict(ckpt["args"])
    missing = [k for k in ("h", "patch_size", "size", "modelSize", "maxScal") if k not in args]
    if missing:
        raise ValueError(f"{p}: the checkpoint's args lack {missing}; present: {sorted(args)}.")
    state = {}
    for k, v in ckpt["model"].items():
        k = k.removeprefix("module.")
        if k.startswith("model."):  # the MAE; the wrapper's other parts (channel_combiner, ...) are not used here
            state[k.removeprefix("model.")] = v
    if not state:
        raise ValueError(f"{p}: no 'model.*' parameters in the checkpoint's state dict (keys start with "
                         f"{sorted({k.split('.')[0] for k in ckpt['model']})}).")
    return args, state


def is_vitime_checkpoint(path: str | Path | None) -> bool:
    """Whether `path` is a public-layout ViTime checkpoint (`args` + `model`), not a Lightning one (`state_dict`)."""
    if not path or not Path(path).expanduser().is_file():
        return False
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return False
    return isinstance(ckpt, Mapping) and "args" in ckpt and "model" in ckpt and "state_dict" not in ckpt


def sizes_from_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The public MAE's sizes from its `args`: embed 1024·modelSize, depth 12·modelSize, heads 16·modelSize,
    decoder half the width and depth; image h × (size[0] + size[-1])·expandData, patch `patch_size`."""
    ms, expand = float(args["modelSize"]), int(args.get("expandData", 1))
    embed, depth, heads = int(1024 * ms), int(12 * ms), int(16 * ms)
    return {"h": int(args["h"]), "patch_size": tuple(int(p) for p in args["patch_size"]),
            "input_len": int(args["size"][0]) * expand, "pred_len": int(args["size"][-1]) * expand,
            "embed_dim": embed, "depth": depth, "num_heads": heads, "decoder_embed_dim": int(embed / 2),
            "decoder_depth": int(depth / 2), "decoder_num_heads": heads, "max_scale": float(args["maxScal"])}


class ViTimeForecaster(nn.Module):
    """`forward(x [B, C, T]) -> [B, C, horizon]`, channel-independent; see the module docstring.

    Geometry: the history (T samples) is resampled to `input_len` columns (r = (input_len − 1)/(T − 1) columns
    per sample); forecast sample T − 1 + k sits at column (T − 1 + k)·r, so the horizon must end inside the
    `L = input_len + pred_len` columns (`max_horizon`). Tokens: CLS + a grid of h/ph value rows × L/pw time
    columns (`token_grid`), `samples_per_patch = pw / r` input samples per token column.
    """

    num_prefix_tokens = 1

    def __init__(
        self,
        in_channels: int,
        seq_len: int,
        horizon: int,
        h: int = 32,
        patch_size: tuple[int, int] | list[int] = (8, 8),
        input_len: int = 256,
        pred_len: int = 64,
        embed_dim: int = 64,
        depth: int = 4,
        num_heads: int = 4,
        decoder_embed_dim: int = 32,
        decoder_depth: int = 2,
        decoder_num_heads: int = 4,
        mlp_ratio: float = 4.0,
        max_scale: float = 4.0,
        blur_kernel: tuple[int, int] | list[int] = (5, 5),
        binning: Binning = "soft",
        decode: Decode = "expectation",
        temperature: float = 1.0,
        ckpt_path: str | None = None,
        prefer_timm: bool = True,
    ) -> None:
        super().__init__()
        if ckpt_path:
            args, state = load_vitime_checkpoint(ckpt_path)
            sizes = sizes_from_args(args)
            given = {"h": h, "patch_size": tuple(patch_size), "input_len": input_len, "pred_len": pred_len,
                     "embed_dim": embed_dim, "depth": depth, "num_heads": num_heads, "max_scale": max_scale}
            differ = {k: (given[k], sizes[k]) for k in given if given[k] != sizes[k]}
            if differ:
                warnings.warn(f"model sizes come from the checkpoint's args, not the config: (config, checkpoint) = "
                              f"{differ}", stacklevel=2)
            h, patch_size, input_len, pred_len = sizes["h"], sizes["patch_size"], sizes["input_len"], sizes["pred_len"]
            embed_dim, depth, num_heads = sizes["embed_dim"], sizes["depth"], sizes["num_heads"]
            decoder_embed_dim, decoder_depth = sizes["decoder_embed_dim"], sizes["decoder_depth"]
            decoder_num_heads, max_scale = sizes["decoder_num_heads"], sizes["max_scale"]
        if binning not in ("soft", "hard"):
            raise ValueError(f"binning={binning!r} is unknown; use 'soft' (differentiable) or 'hard' (ViTime's "
                             "one-hot).")
        if decode not in ("expectation", "argmax"):
            raise ValueError(f"decode={decode!r} is unknown; use 'expectation' or 'argmax'.")
        ph, pw = (int(p) for p in patch_size)
        length = int(input_len) + int(pred_len)
        if h % ph or length % pw:
            raise ValueError(
                f"the patch grid does not divide the image: h={h} value rows by patch height {ph} "
                f"(remainder {h % ph}) and L=input_len+pred_len={length} columns by patch width {pw} (remainder "
                f"{length % pw}); choose h a multiple of {ph} and L a multiple of {pw} "
                f"(e.g. pred_len={math.ceil(length / pw) * pw - input_len}).")
        if seq_len < 2:
            raise ValueError(f"seq_len={seq_len}: ViTime resamples the history, which needs at least 2 samples.")
        if max_scale <= 0 or temperature <= 0:
            raise ValueError(f"max_scale={max_scale} and temperature={temperature} must be positive.")
        self.in_channels, self.seq_len, self.horizon = int(in_channels), int(seq_len), int(horizon)
        self.h, self.patch_size, self.input_len, self.pred_len = int(h), (ph, pw), int(input_len), int(pred_len)
        self.length, self.max_scale, self.binning, self.decode = length, float(max_scale), binning, decode
        self.temperature = float(temperature)
        self.cols_per_sample = (self.input_len - 1) / (self.seq_len - 1)
        self.max_horizon = int(math.floor((self.length - 1) / self.cols_per_sample + 1e-9)) - (self.seq_len - 1)
        if not 1 <= self.horizon <= self.max_horizon:
            raise ValueError(
                f"horizon={horizon} is longer than this model supports: with seq_len={seq_len} resampled to "
                f"input_len={input_len} columns, its L={length} columns reach {self.max_horizon} samples past the "
                f"history (horizon 1..{self.max_horizon}). Use a shorter horizon, a longer context, or build the "
                f"model with a larger pred_len.")
        self.model = MaskedAutoencoderViT(self.h, length, (ph, pw), embed_dim, depth, num_heads, decoder_embed_dim,
                                          decoder_depth, decoder_num_heads, mlp_ratio, 1, prefer_timm)
        kv, kt = (int(k) for k in blur_kernel)
        self.blur_scale = float(kv)  # the public code multiplies the normalised blur by the kernel width
        self.register_buffer("blur_v", gaussian_kernel1d(kv).view(1, 1, kv, 1), persistent=False)
        self.register_buffer("blur_t", gaussian_kernel1d(kt).view(1, 1, 1, kt), persistent=False)
        self.token_grid = self.model.grid
        self.samples_per_patch = pw / self.cols_per_sample
        self.history_patches = self.input_len / pw
        if ckpt_path:
            self.load_mae_state(state, ckpt_path)

    # -- checkpoint ----------------------------------------------------------------------------------------
    def load_mae_state(self, state: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
        """Load the MAE's parameters; a mismatch names the missing, unexpected and mis-shaped keys."""
        own = self.model.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        shapes = {k: (tuple(state[k].shape), tuple(own[k].shape)) for k in set(own) & set(state)
                  if tuple(state[k].shape) != tuple(own[k].shape)}
        if missing or unexpected or shapes:
            raise ValueError(f"{source} does not fit this ViTime MAE: missing {missing[:10]}, unexpected "
                             f"{unexpected[:10]}, shape (checkpoint, model) {dict(list(shapes.items())[:10])}.")
        self.model.load_state_dict(dict(state), strict=True)

    # -- series ↔ image ------------------------------------------------------------------------------------
    def _bins(self, z: torch.Tensor) -> torch.Tensor:
        """Bin positions in [0, h − 1] of clipped normalised values (ViTime: resolution 2·MS/(h − 1))."""
        res = 2 * self.max_scale / (self.h - 1)
        return ((z.clamp(-self.max_scale, self.max_scale) + self.max_scale) / res).clamp(0, self.h - 1)

    def _splat(self, pos: torch.Tensor) -> torch.Tensor:
        """`[N, W]` bin positions → `[N, h, W]` one-hot (hard: floor, as ViTime) or linear two-bin (soft)."""
        if self.binning == "hard":
            return F.one_hot(pos.floor().long(), self.h).transpose(1, 2).to(pos.dtype)
        lo = pos.floor().clamp(max=self.h - 2)
        frac = pos - lo
        img = torch.zeros(*pos.shape, self.h, dtype=pos.dtype, device=pos.device)
        img = img.scatter(-1, lo.long()[..., None], (1 - frac)[..., None])
        img = img.scatter_add(-1, lo.long()[..., None] + 1, frac[..., None])
        return img.transpose(1, 2)

    def _blur(self, img: torch.Tensor) -> torch.Tensor:
        kv, kt = self.blur_v.shape[2], self.blur_t.shape[3]
        if kv > 1:
            img = F.conv2d(F.pad(img, (0, 0, kv // 2, kv // 2), mode="reflect"), self.blur_v)
        if kt > 1:
            img = F.conv2d(F.pad(img, (kt // 2, kt // 2, 0, 0), mode="reflect"), self.blur_t)
        return img * self.blur_scale

    def normalise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`[N, T]` history → resampled `[N, input_len]` normalised values, and the mean and std `[N, 1]`."""
        s = F.interpolate(x[:, None], size=self.input_len, mode="linear", align_corners=True)[:, 0]
        mu = s.mean(-1, keepdim=True)
        std = s.std(-1, unbiased=False, keepdim=True) + 1e-7
        return (s - mu) / std, mu, std

    def image(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised history `[N, input_len]` → blurred value image `[N, 1, h, L]` (future columns empty)."""
        img = self._splat(self._bins(z))
        img = F.pad(img, (0, self.pred_len))[:, None]
        return self._blur(img)

    def column_probs(self, img: torch.Tensor) -> torch.Tensor:
        """Softmax over the value bins of each column: `[N, h, L]`."""
        return (self.model(img)[:, 0] / self.temperature).softmax(dim=1)

    def column_values(self, probs: torch.Tensor) -> torch.Tensor:
        """Expected (or most likely) normalised value of each column, `[N, L]`."""
        res = 2 * self.max_scale / (self.h - 1)
        if self.decode == "argmax":
            idx = probs.argmax(1).to(probs.dtype)
        else:
            idx = (probs * torch.arange(self.h, device=probs.device, dtype=probs.dtype)[:, None]).sum(1)
        return idx * res - self.max_scale

    def read_forecast(self, cols: torch.Tensor) -> torch.Tensor:
        """Column values `[N, L]` → values at forecast samples T..T+H−1 by linear interpolation, `[N, H]`."""
        pos = (self.seq_len - 1 + torch.arange(1, self.horizon + 1, device=cols.device, dtype=cols.dtype)) \
            * self.cols_per_sample
        lo = pos.floor().long().clamp(max=self.length - 2)
        frac = pos - lo
        return cols[:, lo] * (1 - frac) + cols[:, lo + 1] * frac

    # -- forward -------------------------------------------------------------------------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels, self.seq_len, model="ViTimeForecaster")
        return x.reshape(-1, self.seq_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        z, mu, std = self.normalise(self._flat(x))
        cols = self.column_values(self.column_probs(self.image(z)))
        return (self.read_forecast(cols) * std + mu).reshape(b, self.in_channels, self.horizon)

    def forecast_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of each covered column's value-bin softmax against the true series' (linearly splatted)
        bins — ViTime's per-column distribution target — over history and forecast columns alike."""
        z, mu, std = self.normalise(self._flat(x))
        logits = self.model(self.image(z))[:, 0] / self.temperature  # [N, h, L]
        full = torch.cat([self._flat(x), y.reshape(-1, self.horizon)], dim=1)  # [N, T + H]
        n_cols = min(self.length, int(math.floor((self.seq_len + self.horizon - 1) * self.cols_per_sample)) + 1)
        t = torch.arange(n_cols, device=x.device, dtype=x.dtype) / self.cols_per_sample
        lo = t.floor().long().clamp(max=full.shape[1] - 2)
        frac = t - lo
        target = (full[:, lo] * (1 - frac) + full[:, lo + 1] * frac - mu) / std
        pos = self._bins(target)
        lo_b = pos.floor().clamp(max=self.h - 2)
        w = pos - lo_b
        logp = logits[..., :n_cols].log_softmax(dim=1)  # [N, h, n_cols]
        lp_lo = logp.gather(1, lo_b.long()[:, None]).squeeze(1)
        lp_hi = logp.gather(1, lo_b.long()[:, None] + 1).squeeze(1)
        return -((1 - w) * lp_lo + w * lp_hi).mean()
