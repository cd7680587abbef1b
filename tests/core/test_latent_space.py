"""The explorer's latent arithmetic (Qt-free)."""

from __future__ import annotations

import numpy as np
import pytest

from divcolor_gui.core.latent_space import LatentSpace


@pytest.fixture
def space():
    rng = np.random.default_rng(0)
    # 8 means that differ mostly along two directions of a 16-d space.
    d1, d2 = np.eye(16)[3], np.eye(16)[7]
    means = rng.normal(0, 0.05, (8, 16)) + rng.normal(0, 3, (8, 1)) * d1 + rng.normal(0, 1, (8, 1)) * d2
    return LatentSpace(means, np.sort(rng.dirichlet(np.ones(8)))[::-1], std=0.3)


def test_basis_is_orthonormal_and_ordered_by_importance(space):
    b = space.basis
    assert b.shape == (16, 16)
    np.testing.assert_allclose(b @ b.T, np.eye(16), atol=1e-10)
    assert space.n_principal == 7  # 8 points span at most 7 directions around their centre
    assert np.all(np.diff(space.importance[: space.n_principal]) <= 1e-12)
    assert np.all(space.importance[space.n_principal :] == 0)
    assert abs(b[0, 3]) > 0.99 and abs(b[1, 7]) > 0.9  # the big spread first, then the next


def test_coordinates_round_trip_and_move_one_direction(space):
    z = space.mean(2)
    np.testing.assert_allclose(space.from_coords(space.coords(z)), z, atol=1e-10)
    moved = space.with_coord(z, 0, space.coords(z)[0] + 1.0)
    diff = space.coords(moved) - space.coords(z)
    np.testing.assert_allclose(diff, np.eye(16)[0], atol=1e-10)


def test_slider_ranges_hold_every_mean_and_its_spread(space):
    c = space.means @ space.basis.T
    assert np.all(c >= space.lo + 0.9 - 1e-9) and np.all(c <= space.hi - 0.9 + 1e-9)


def test_blend_and_lerp(space):
    np.testing.assert_allclose(space.lerp(1, 4, 0.25), 0.75 * space.mean(1) + 0.25 * space.mean(4))
    shares = np.zeros(8)
    shares[[0, 5]] = (2.0, 6.0)
    np.testing.assert_allclose(space.blend(shares), 0.25 * space.mean(0) + 0.75 * space.mean(5))
    assert space.blend(np.zeros(8)) is None


def test_identical_means_still_give_a_full_basis():
    space = LatentSpace(np.ones((8, 4)), np.full(8, 1 / 8), std=0.1)
    assert space.n_principal == 0
    np.testing.assert_allclose(space.basis @ space.basis.T, np.eye(4), atol=1e-10)
