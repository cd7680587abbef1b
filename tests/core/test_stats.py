"""Dataset statistics: the rebalancing weights and the PCA for L_mah."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from divcolor_gui.core import lab
from divcolor_gui.core.stats import DatasetStats, StatsAccumulator, rebalancing_weights

Q = lab.N_BINS


def _bin(a: int, b: int) -> int:
    return int(np.flatnonzero((lab.AB_BINS == (a, b)).all(1))[0])


def _interior_bin() -> int:
    """A bin whose neighbours out to 30 Lab units are all in the gamut."""
    return _bin(0, 0)


def _gauss_row_sum(j: int, sigma: float = 5.0) -> float:
    """sum_i exp(-|c_i - c_j|^2 / (2 sigma^2)) over the 313 centres, by hand."""
    c = lab.AB_BINS.astype(np.float64)
    return float(sum(np.exp(-((c[i] - c[j]) ** 2).sum() / (2 * sigma**2)) for i in range(Q)))


@pytest.mark.parametrize("mode", ["smoothed", "raw"])
def test_weights_have_mean_one_under_the_data(mode):
    rng = np.random.default_rng(0)
    hist = rng.random(Q) ** 4 * 1000
    hist[rng.choice(Q, 80, replace=False)] = 0  # empty bins, as in real data
    w = rebalancing_weights(hist, mode=mode)
    p = hist / hist.sum()
    assert w.shape == (Q,) and w.dtype == np.float32
    assert np.all(w > 0)
    assert float((p * w).sum()) == pytest.approx(1.0, abs=1e-5)


def test_smoothed_weights_of_a_single_colour_dataset():
    """All pixels in one interior bin j: E_p[w] = 1 gives w_j = 1 exactly; a bin far from j
    has smoothed probability 0, so by Zhang's formula its weight is
    ((1 - lam) * ps_j + lam / Q) / (lam / Q) with ps_j = 1 / sum_i G(c_i - c_j)."""
    j = _interior_bin()
    hist = np.zeros(Q)
    hist[j] = 500
    w = rebalancing_weights(hist, mode="smoothed", lam=0.5, sigma=5.0)
    ps_j = 1.0 / _gauss_row_sum(j)
    far = _bin(100, -90)  # ~140 Lab units away
    assert w[j] == pytest.approx(1.0, rel=1e-5)
    assert w[far] == pytest.approx((0.5 * ps_j + 0.5 / Q) / (0.5 / Q), rel=1e-4)
    # A neighbour 10 units away gets part of the smoothed mass: between the two.
    nb = _bin(10, 0)
    assert w[j] < w[nb] < w[far]


def test_smoothed_weights_rarer_colours_weigh_more():
    """Two colours far apart, one nine times as common: the rare one's weight is larger,
    both stay far below the weight of colours never seen."""
    common, rare, unseen = _bin(-50, 60), _bin(60, -60), _bin(100, 0)
    hist = np.zeros(Q)
    hist[common], hist[rare] = 900, 100
    w = rebalancing_weights(hist, mode="smoothed")
    assert w[common] < w[rare] < w[unseen]
    # lam = 1 is uniform mixing only: every weight is equal (and so equal to 1).
    w_uniform = rebalancing_weights(hist, mode="smoothed", lam=1.0)
    np.testing.assert_allclose(w_uniform, 1.0, rtol=1e-5)


def test_raw_weights_are_inverse_probability_normalised():
    hist = np.zeros(Q)
    occupied = [3, 50, 200, 312]
    hist[occupied] = [1, 2, 5, 12]
    p = hist / hist.sum()
    w = rebalancing_weights(hist, mode="raw")
    # w = (1/p) / sum_q p_q (1/p_q) = 1 / (p * n_occupied)
    for q in occupied:
        assert w[q] == pytest.approx(1.0 / (p[q] * len(occupied)), rel=1e-5)
    # Empty bins get the largest seen weight (the rarest seen colour's).
    empty = np.setdiff1d(np.arange(Q), occupied)
    np.testing.assert_allclose(w[empty], w[3], rtol=1e-6)


def test_unknown_weighting_is_an_error():
    with pytest.raises(ValueError, match="unknown weighting"):
        rebalancing_weights(np.ones(Q), mode="sqrt")


# ----------------------------------------------------------------------------- accumulator


def _fields_from_bins(bin_idx: list[int], n_each: int) -> torch.Tensor:
    """Constant 64x64 fields at the given bin centres, ab/128: (N, 2, 64, 64)."""
    rows = []
    for q in bin_idx:
        ab = torch.from_numpy(lab.AB_BINS[q]).float() / 128
        rows.append(ab.view(1, 2, 1, 1).expand(n_each, 2, 64, 64))
    return torch.cat(rows).contiguous()


def test_accumulator_histogram_counts_pixels_per_bin():
    acc = StatsAccumulator()
    a, b = _bin(0, 0), _bin(30, -40)
    acc.add(_fields_from_bins([a], 3))
    acc.add(_fields_from_bins([b], 1))
    assert acc.n_images == 4
    assert acc.hist[a] == 3 * 64 * 64 and acc.hist[b] == 64 * 64
    assert acc.hist.sum() == 4 * 64 * 64


def test_accumulator_caps_the_fields_kept_for_pca():
    acc = StatsAccumulator(max_fields=5)
    acc.add(torch.zeros(4, 2, 64, 64))
    acc.add(torch.zeros(4, 2, 64, 64))
    assert acc.n_fields == 5 and sum(f.shape[0] for f in acc.fields) == 5
    assert acc.n_images == 8  # the histogram still sees every image


def _synthetic_fields(n: int, gen: torch.Generator) -> torch.Tensor:
    """n fields = mean + sum_k s_k * u_k * basis_k + small noise, with 24 orthonormal
    directions whose standard deviations fall off geometrically (clear eigen-gaps)."""
    D, m = 2 * 64 * 64, 24
    basis, _ = torch.linalg.qr(torch.randn(D, m, generator=gen, dtype=torch.float64))
    sd = 0.5 * 0.8 ** torch.arange(m, dtype=torch.float64)
    scores = torch.randn(n, m, generator=gen, dtype=torch.float64) * sd
    X = 0.1 + scores @ basis.T + 1e-4 * torch.randn(n, D, generator=gen, dtype=torch.float64)
    return X.float().view(n, 2, 64, 64)


def test_pca_matches_numpy_eigendecomposition_of_the_covariance():
    gen = torch.Generator().manual_seed(7)
    X = _synthetic_fields(120, gen)
    acc = StatsAccumulator()
    for chunk in X.split(50):
        acc.add(chunk)
    stats = acc.finish(k=20)

    # numpy reference: the covariance's eigenpairs, via the 120x120 Gram matrix (the
    # same non-zero spectrum as the 8192x8192 covariance, without building it).
    Xn = X.flatten(1).double().numpy()
    Xc = Xn - Xn.mean(0)
    n = Xc.shape[0]
    evals, U = np.linalg.eigh(Xc @ Xc.T / (n - 1))
    order = np.argsort(evals)[::-1][:20]
    evals, U = evals[order], U[:, order]
    V = (Xc.T @ U) / np.sqrt(evals * (n - 1))  # (D, 20) unit eigenvectors of the covariance

    P = stats.pca_components.double().numpy()
    var = stats.pca_variances.double().numpy()
    assert P.shape == (20, 8192) and var.shape == (20,)
    np.testing.assert_allclose(P @ P.T, np.eye(20), atol=1e-4)  # orthonormal rows
    assert np.all(np.diff(var) <= 0)  # descending
    np.testing.assert_allclose(var, evals, rtol=1e-3)
    cos = np.abs((P @ V).diagonal())  # same directions, up to sign
    assert cos.min() > 0.999


def test_finish_builds_consistent_stats():
    acc = StatsAccumulator()
    gen = torch.Generator().manual_seed(8)
    acc.add(_synthetic_fields(30, gen))
    s = acc.finish(weighting="raw", k=20)
    assert isinstance(s, DatasetStats)
    assert s.weighting == "raw" and s.n_images == 30
    assert s.ab_hist.shape == (Q,) and float(s.ab_hist.sum()) == pytest.approx(1.0, abs=1e-5)
    p = s.ab_hist.double()
    assert float((p * s.bin_weights.double()).sum()) == pytest.approx(1.0, abs=1e-4)
    # Fewer fields than k + 1: k shrinks to n - 1 rather than inventing directions.
    small = StatsAccumulator()
    small.add(_synthetic_fields(6, gen))
    assert small.finish(k=20).pca_components.shape == (5, 8192)


def test_dataset_stats_dict_round_trip():
    s = DatasetStats(
        ab_hist=torch.rand(Q).double(), bin_weights=torch.rand(Q), pca_components=torch.rand(3, 8192),
        pca_variances=torch.tensor([3.0, 2.0, 1.0]), weighting="raw", n_images=17,
    )  # fmt: skip
    r = DatasetStats.from_dict(s.to_dict())
    assert r.ab_hist.dtype == torch.float32
    torch.testing.assert_close(r.ab_hist, s.ab_hist.float())
    torch.testing.assert_close(r.pca_components, s.pca_components)
    assert (r.weighting, r.n_images) == ("raw", 17)
