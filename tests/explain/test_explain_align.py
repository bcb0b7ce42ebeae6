"""DTW alignment of one map onto another's time axis (tslearn; first call JIT-compiles, ~7 s)."""

import numpy as np
import pytest
import torch

from tsexplain.explain.align import align_maps, dtw_time_path, warp_along_path

C, T = 2, 40


def test_identical_maps_give_identity_path_and_unchanged_map():
    g = torch.Generator().manual_seed(0)
    m = torch.rand(3, C, T, generator=g)  # distinct values: the diagonal is the only zero-cost path
    prof = m[0].mean(0).numpy()
    assert dtw_time_path(prof, prof, radius=5) == [(i, i) for i in range(T)]
    assert torch.allclose(align_maps(m, m.clone(), "dtw", sakoe_chiba_radius=5), m, atol=1e-6)


def _bump(centre, width=3.0):
    t = torch.arange(T, dtype=torch.float32)
    return torch.exp(-0.5 * ((t - centre) / width) ** 2).expand(1, C, T).clone()


def test_shifted_bump_is_realigned():
    ref, mov = _bump(15), _bump(23)
    out = align_maps(ref, mov, "dtw", sakoe_chiba_radius=12)
    assert abs(int(out[0, 0].argmax()) - 15) <= 1
    assert (out[0, 0] - ref[0, 0]).abs().mean() < 0.3 * (mov[0, 0] - ref[0, 0]).abs().mean()
    # the band limits the warp: a radius smaller than the shift cannot bring the peak home
    tight = align_maps(ref, mov, "dtw", sakoe_chiba_radius=2)
    assert abs(int(tight[0, 0].argmax()) - 15) > 1
    assert torch.equal(align_maps(ref, mov, "none"), mov)


def test_warp_averages_values_mapped_to_one_index():
    moving = np.array([[1.0, 3.0, 5.0]])
    out = warp_along_path(moving, [(0, 0), (1, 0), (2, 1), (2, 2)], 3)
    np.testing.assert_allclose(out, [[2.0, 5.0, 5.0]])


def test_bad_alignment_arguments():
    with pytest.raises(ValueError, match="dtw"):
        align_maps(_bump(3), _bump(3), "euclid")
    with pytest.raises(ValueError, match="shape"):
        align_maps(_bump(3), _bump(3)[..., :10])
