"""ViTimeForecaster: public checkpoint layout, geometry errors, binning, and gradients for explainers."""

from __future__ import annotations

import argparse

import pytest
import torch

from tsexplain.models.backbones.vitime import ViTimeForecaster, gaussian_kernel1d, load_vitime_checkpoint

TINY = dict(h=16, patch_size=(4, 8), input_len=32, pred_len=16, embed_dim=32, depth=1, num_heads=2,
            decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, blur_kernel=(3, 3))


def public_mae_shapes(h: int, length: int, ph: int, pw: int, ms: float) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of the public code's `MAE` wrapper (model/modelMAE.py), written from its source:
    embed 1024·ms, depth 12·ms, heads 16·ms, decoder half width and depth, mlp ratio 4, qkv bias."""
    e, d = int(1024 * ms), int(12 * ms)
    de, dd = int(e / 2), int(d / 2)
    n = (h // ph) * (length // pw)
    shapes = {"model.cls_token": (1, 1, e), "model.pos_embed": (1, n + 1, e), "model.mask_token": (1, 1, de),
              "model.decoder_pos_embed": (1, n + 1, de), "model.patch_embed.proj.weight": (e, 1, ph, pw),
              "model.patch_embed.proj.bias": (e,), "model.norm.weight": (e,), "model.norm.bias": (e,),
              "model.decoder_embed.weight": (de, e), "model.decoder_embed.bias": (de,),
              "model.decoder_norm.weight": (de,), "model.decoder_norm.bias": (de,),
              "model.decoder_pred.weight": (ph * pw, de), "model.decoder_pred.bias": (ph * pw,)}
    for prefix, dim, depth in (("model.blocks", e, d), ("model.decoder_blocks", de, dd)):
        for i in range(depth):
            b = f"{prefix}.{i}"
            for ln in ("norm1", "norm2"):
                shapes[f"{b}.{ln}.weight"] = shapes[f"{b}.{ln}.bias"] = (dim,)
            shapes.update({f"{b}.attn.qkv.weight": (3 * dim, dim), f"{b}.attn.qkv.bias": (3 * dim,),
                           f"{b}.attn.proj.weight": (dim, dim), f"{b}.attn.proj.bias": (dim,),
                           f"{b}.mlp.fc1.weight": (4 * dim, dim), f"{b}.mlp.fc1.bias": (4 * dim,),
                           f"{b}.mlp.fc2.weight": (dim, 4 * dim), f"{b}.mlp.fc2.bias": (dim,)})
    return shapes


@pytest.fixture
def public_ckpt(tmp_path):
    """A checkpoint as the public code saves it: {'args': Namespace, 'model': DataParallel state dict}."""
    g = torch.Generator().manual_seed(0)
    shapes = public_mae_shapes(h=16, length=48, ph=4, pw=8, ms=0.125)  # embed 128, 1 block, 16 heads, no decoder
    state = {f"module.{k}": torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}
    args = argparse.Namespace(h=16, patch_size=[4, 8], size=[32, 16, 16], modelSize=0.125, maxScal=3.0, dNorm=1)
    path = tmp_path / "ViTime_Model.pth"
    torch.save({"args": args, "model": state}, path)
    return path, shapes, state


def test_public_checkpoint_loads_with_its_sizes_and_weights(public_ckpt):
    path, shapes, state = public_ckpt
    m = ViTimeForecaster(1, 64, 16, ckpt_path=str(path))
    own = m.state_dict()
    assert {k: tuple(v.shape) for k, v in own.items()} == shapes  # same names and shapes as the public MAE
    for k in shapes:
        assert torch.equal(own[k], state[f"module.{k}"]), k
    assert (m.h, m.patch_size, m.input_len, m.pred_len, m.max_scale) == (16, (4, 8), 32, 16, 3.0)
    assert m.token_grid == (4, 6) and len(m.model.blocks) == 1 and m.model.blocks[0].attn.num_heads == 2
    assert torch.isfinite(m(torch.randn(2, 1, 64))).all()


def test_checkpoint_errors_name_the_problem(tmp_path, public_ckpt):
    path, _, state = public_ckpt
    with pytest.raises(FileNotFoundError, match="ckpt_path"):
        load_vitime_checkpoint(tmp_path / "missing.pth")
    bad = dict(state)
    bad["module.model.norm.weight"] = torch.zeros(7)
    args = argparse.Namespace(h=16, patch_size=[4, 8], size=[32, 16, 16], modelSize=0.125, maxScal=3.0)
    torch.save({"args": args, "model": bad}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"model\.norm\.weight|norm\.weight"):
        ViTimeForecaster(1, 64, 16, ckpt_path=str(tmp_path / "bad.pth"))
    torch.save({"args": {"h": 16}, "model": state}, tmp_path / "noargs.pth")
    with pytest.raises(ValueError, match="patch_size"):
        load_vitime_checkpoint(tmp_path / "noargs.pth")


def test_horizon_longer_than_supported_lists_the_maximum():
    m = ViTimeForecaster(1, 64, 8, **TINY)
    with pytest.raises(ValueError, match=rf"horizon 1\.\.{m.max_horizon}"):
        ViTimeForecaster(1, 64, m.max_horizon + 1, **TINY)
    ViTimeForecaster(1, 64, m.max_horizon, **TINY)  # the maximum itself is accepted


def test_grid_that_does_not_divide_the_image_is_refused():
    with pytest.raises(ValueError, match="does not divide"):
        ViTimeForecaster(1, 64, 8, **{**TINY, "pred_len": 15})
    with pytest.raises(ValueError, match="does not divide"):
        ViTimeForecaster(1, 64, 8, **{**TINY, "h": 18})


def test_hard_binning_is_one_hot_at_floor_bins_and_soft_keeps_the_value():
    hard = ViTimeForecaster(1, 64, 8, **{**TINY, "binning": "hard", "blur_kernel": (1, 1)})
    soft = ViTimeForecaster(1, 64, 8, **{**TINY, "blur_kernel": (1, 1)})
    z = torch.linspace(-2, 2, 32)[None]
    img = hard.image(z)[0, 0]  # [h, L]
    res = 2 * hard.max_scale / (hard.h - 1)
    assert torch.equal(img[:, :32].argmax(0), torch.floor((z[0] + hard.max_scale) / res).long())
    assert torch.allclose(img[:, :32].sum(0), torch.ones(32)) and img[:, 32:].abs().sum() == 0
    simg = soft.image(z)[0, 0, :, :32]
    centre = (simg * torch.arange(16.0)[:, None]).sum(0) * res - soft.max_scale  # the splat keeps the value
    assert torch.allclose(centre, z[0], atol=1e-5)


def test_blur_kernel_matches_opencv_sigma_rule():
    k = gaussian_kernel1d(31)
    sigma = 0.3 * (15 - 1) + 0.8  # OpenCV getGaussianKernel(31, 0)
    t = torch.arange(31.0) - 15
    ref = torch.exp(-(t**2) / (2 * sigma**2))
    assert torch.allclose(k, ref / ref.sum(), atol=1e-6)
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel1d(4)


def test_forecast_follows_the_input_scale_and_soft_binning_has_gradients():
    torch.manual_seed(0)
    m = ViTimeForecaster(2, 64, 8, **TINY).eval()
    x = torch.randn(3, 2, 64)
    y = m(x)
    assert y.shape == (3, 2, 8)
    # per-series normalisation: an affine map of the input maps the forecast the same way
    assert torch.allclose(m(3 * x + 5), 3 * y + 5, atol=1e-3)
    xg = x.clone().requires_grad_(True)
    m(xg)[:, :, -1].sum().backward()
    assert xg.grad.abs().sum() > 0 and torch.isfinite(xg.grad).all()


def test_forecast_loss_is_lower_for_the_true_continuation_after_training():
    torch.manual_seed(0)
    m = ViTimeForecaster(1, 64, 8, **TINY)
    t = torch.arange(72.0)
    series = torch.stack([torch.sin(2 * torch.pi * (t + s) / 12) for s in range(16)])[:, None]
    x, y = series[..., :64], series[:, 0, 64:]
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = m.forecast_loss(x, y).item()
    for _ in range(40):
        opt.zero_grad()
        loss = m.forecast_loss(x, y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first
