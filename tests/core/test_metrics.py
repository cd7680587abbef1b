"""The paper's metrics (section 7) against explicit loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from divcolor_gui.core import lab, metrics


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(99)


def _on_bins(gen, b, h=64, w=64):
    """ab/128 fields within 3 Lab units of known bin centres: (field, bin index)."""
    idx = torch.randint(0, lab.N_BINS, (b, h, w), generator=gen)
    ab = torch.from_numpy(lab.AB_BINS)[idx] + torch.rand(b, h, w, 2, generator=gen) * 6 - 3
    return (ab / 128).permute(0, 3, 1, 2).contiguous(), idx


def test_centre_grid_indices():
    assert metrics.CENTRE_GRID.tolist() == [18, 22, 26, 30, 34, 38, 42, 46]
    g = metrics.CENTRE_GRID.numpy()
    assert len(g) == 8 and len(set(np.diff(g))) == 1  # 8 uniformly spaced rows/cols
    assert abs(g.mean() - 31.5) <= 0.5  # centred on the 64-pixel field
    x = torch.arange(64 * 64).view(64, 64)
    c = metrics.centre(x)
    assert c.shape == (8, 8)
    assert c[2, 5].item() == 26 * 64 + 38  # row 26, col 38


def test_mae(gen):
    pred, true = torch.rand(3, 2, 64, 64, generator=gen), torch.rand(3, 2, 64, 64, generator=gen)
    got = metrics.mae(pred, true)
    assert got.shape == (3,)
    for b in range(3):
        want = float(np.abs(pred[b].numpy() - true[b].numpy()).sum()) / (2 * 64 * 64)
        assert got[b].item() == pytest.approx(want, rel=1e-5)


def test_mae_on_the_centre_grid(gen):
    pred, true = torch.rand(2, 2, 64, 64, generator=gen), torch.rand(2, 2, 64, 64, generator=gen)
    got = metrics.mae(pred, true, grid=True)
    rows = list(range(18, 47, 4))
    for b in range(2):
        total = sum(
            abs(pred[b, c, y, x].item() - true[b, c, y, x].item())
            for c in range(2)
            for y in rows
            for x in rows
        )
        assert got[b].item() == pytest.approx(total / (2 * 64), rel=1e-5)
    # Errors outside the grid do not count.
    off = true.clone()
    off[:, :, 0:18] += 1
    assert metrics.mae(off, true, grid=True).abs().max().item() == 0.0


@pytest.mark.parametrize("grid", [False, True])
def test_weighted_mae(gen, grid):
    true, idx = _on_bins(gen, 2)
    pred = torch.rand(2, 2, 64, 64, generator=gen) * 0.4 - 0.2
    w = torch.rand(lab.N_BINS, generator=gen) * 4
    got = metrics.weighted_mae(pred, true, w, grid=grid)
    coords = list(range(18, 47, 4)) if grid else list(range(64))
    for b in range(2):
        total = 0.0
        for y in coords:
            for x in coords:
                err = (
                    abs(pred[b, 0, y, x] - true[b, 0, y, x]) + abs(pred[b, 1, y, x] - true[b, 1, y, x])
                ).item() / 2
                total += w[idx[b, y, x]].item() * err
        assert got[b].item() == pytest.approx(total / len(coords) ** 2, rel=1e-4)


def test_weighted_mae_with_unit_weights_is_mae(gen):
    true, _ = _on_bins(gen, 2)
    pred = torch.rand(2, 2, 64, 64, generator=gen) * 0.4 - 0.2
    torch.testing.assert_close(
        metrics.weighted_mae(pred, true, torch.ones(lab.N_BINS)), metrics.mae(pred, true)
    )


def test_error_of_best(gen):
    true = torch.rand(2, 2, 8, 8, generator=gen)
    samples = torch.rand(2, 5, 2, 8, 8, generator=gen)
    samples[1, 3] = true[1] + 0.01  # a near-perfect sample
    got = metrics.error_of_best(samples, true)
    for b in range(2):
        errs = [np.abs(samples[b, k].numpy() - true[b].numpy()).mean() for k in range(5)]
        assert got[b].item() == pytest.approx(min(errs), rel=1e-5)
    assert got[1].item() == pytest.approx(0.01, rel=1e-3)


def test_diversity_variance(gen):
    samples = torch.rand(2, 5, 2, 4, 4, generator=gen)
    got = metrics.diversity_variance(samples)
    for b in range(2):
        total = 0.0
        for c in range(2):
            for y in range(4):
                for x in range(4):
                    vals = [samples[b, k, c, y, x].item() for k in range(5)]
                    m = sum(vals) / 5
                    total += sum((v - m) ** 2 for v in vals) / 5  # population variance
        assert got[b].item() == pytest.approx(total / (2 * 16), rel=1e-5)
    same = samples[:, :1].expand(-1, 5, -1, -1, -1)
    assert metrics.diversity_variance(same).abs().max().item() == pytest.approx(0.0, abs=1e-12)


def test_tint_variance_is_the_part_a_shift_per_mode_explains(gen):
    base = torch.rand(2, 1, 2, 64, 64, generator=gen) * 0.2
    shifts = torch.tensor([[0.1, -0.05], [-0.1, 0.0], [0.0, 0.05]])  # one ab shift per mode
    tinted = base + shifts.view(1, 3, 2, 1, 1)
    # Pure colour filters: all of the variance is tint.
    assert torch.allclose(metrics.tint_variance(tinted), metrics.diversity_variance(tinted))
    want = shifts.var(0, unbiased=False).mean()
    assert torch.allclose(metrics.tint_variance(tinted), want.expand(2), atol=1e-6)
    # Modes that differ only in where colour goes, not in their mean: no tint at all.
    a = torch.zeros(1, 2, 2, 64, 64)
    a[0, 0, :, :, :32], a[0, 1, :, :, 32:] = 0.1, 0.1
    assert metrics.tint_variance(a).item() == pytest.approx(0.0, abs=1e-9)
    assert metrics.diversity_variance(a).item() > 0


def test_grey_mae_is_the_mae_of_a_zero_field(gen):
    true = torch.rand(4, 2, 64, 64, generator=gen) - 0.5
    assert torch.allclose(metrics.grey_mae(true), metrics.mae(torch.zeros_like(true), true))
