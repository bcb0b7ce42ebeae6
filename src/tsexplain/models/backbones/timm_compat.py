"""timm's ViT parts (`PatchEmbed`, `Block`, `Attention`) from timm when it imports, else same-layout stand-ins.

Why the stand-ins: timm imports torchvision at import time, and the only torchvision on the registry for our
pinned torch is a CUDA build that fails to load against the CPU torch wheel (it even breaks `import lightning`
once installed). The stand-ins below copy timm 1.0's module and parameter names (`proj`, `norm1`,
`attn.qkv`, `attn.proj`, `attn.attn_drop`, `mlp.fc1`, `mlp.fc2`, ...) and its `fused_attn` switch, so a
checkpoint written with timm loads into either, and attention capture (a hook on `attn_drop`) is the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

try:  # pragma: no cover - depends on the environment
    from timm.layers import PatchEmbed as TimmPatchEmbed
    from timm.models.vision_transformer import Attention as TimmAttention
    from timm.models.vision_transformer import Block as TimmBlock

    HAS_TIMM = True
except Exception:  # ImportError, or torchvision's RuntimeError on a CPU torch
    TimmPatchEmbed = TimmAttention = TimmBlock = None
    HAS_TIMM = False


class Attention(nn.Module):
    """timm's `Attention`: fused SDPA when `fused_attn`, else explicit softmax → `attn_drop` (hooks see it)."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}; pick heads dividing dim.")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.fused_attn = True
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = nn.Identity()
        self.k_norm = nn.Identity()
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if self.fused_attn:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            attn = self.attn_drop(attn.softmax(dim=-1))
            x = attn @ v
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class Mlp(nn.Module):
    """timm's `Mlp`: fc1 → GELU → fc2."""

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.norm = nn.Identity()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.norm(self.drop1(self.act(self.fc1(x))))))


class Block(nn.Module):
    """timm's pre-norm ViT `Block` (no layer scale, no drop path): x + attn(LN(x)), x + mlp(LN(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False,
                 proj_drop: float = 0.0, attn_drop: float = 0.0, norm_layer: type[nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=proj_drop)
        self.ls1 = nn.Identity()
        self.drop_path1 = nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=proj_drop)
        self.ls2 = nn.Identity()
        self.drop_path2 = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))


class PatchEmbed(nn.Module):
    """timm's `PatchEmbed` for a fixed image size: Conv2d(kernel = stride = patch) → `[B, gh·gw, dim]`."""

    def __init__(self, img_size: tuple[int, int], patch_size: tuple[int, int], in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.img_size, self.patch_size = tuple(img_size), tuple(patch_size)
        self.grid_size = (self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1])
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.norm = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(f"PatchEmbed was built for images {self.img_size} but got {tuple(x.shape[-2:])}.")
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


def vit_parts(prefer_timm: bool = True) -> tuple[type[nn.Module], type[nn.Module]]:
    """`(PatchEmbed, Block)`: timm's when importable and preferred, else the same-layout stand-ins above."""
    if prefer_timm and HAS_TIMM:
        return TimmPatchEmbed, TimmBlock
    return PatchEmbed, Block


def is_timm_style_attention(module: nn.Module) -> bool:
    """A timm-layout attention module: a `fused_attn` switch and an `attn_drop` module the weights pass through."""
    if HAS_TIMM and isinstance(module, TimmAttention):
        return True
    return isinstance(module, Attention) or (
        hasattr(module, "fused_attn") and isinstance(getattr(module, "attn_drop", None), nn.Module)
        and hasattr(module, "num_heads") and hasattr(module, "qkv"))
