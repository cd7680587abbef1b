"""The latent explorer's arithmetic, Qt-free: blends of the component means and a basis of
the latent space ordered by how much the components differ along each direction.

The sliders never hold the latent themselves; they ask this object for one, so the A<->B
slider, the share sliders and the coordinate sliders all agree on what a latent is.
"""

from __future__ import annotations

import numpy as np


class LatentSpace:
    def __init__(self, means: np.ndarray, weights: np.ndarray, std: float):
        """means: (K, d) component means, heaviest first; weights: (K,); std: the
        components' common standard deviation (sqrt of the MDN's fixed variance)."""
        self.means = np.asarray(means, dtype=np.float64)  # (K, d)
        self.weights = np.asarray(weights, dtype=np.float64)  # (K,)
        self.std = float(std)
        K, d = self.means.shape
        self.basis, self.importance, self.n_principal = self._basis(self.means)  # (d, d) rows, (d,)
        coords = self.means @ self.basis.T  # (K, d) each mean's coordinates
        # Each slider spans every mean plus three standard deviations of the Gaussians.
        margin = 3.0 * max(self.std, 1e-3)
        self.lo = coords.min(axis=0) - margin  # (d,)
        self.hi = coords.max(axis=0) + margin  # (d,)

    @staticmethod
    def _basis(means: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Orthonormal rows: the principal directions of the means (SVD of the centred
        means, largest spread first), then the rest of the space in a fixed order."""
        K, d = means.shape
        centred = means - means.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)  # vt (min(K,d), d)
        r = int((s > 1e-6 * max(float(s.max(initial=0.0)), 1e-12)).sum())
        principal = vt[:r]  # (r, d)
        # QR of [principal directions | identity] keeps the first r columns (up to sign)
        # and completes them with the remaining orthonormal directions.
        q, _ = np.linalg.qr(np.concatenate([principal.T, np.eye(d)], axis=1))  # (d, d)
        q = q[:, :d]
        if r:
            signs = np.sign((q[:, :r] * principal.T).sum(axis=0))
            q[:, :r] *= np.where(signs == 0, 1.0, signs)
        spread = np.zeros(d)
        spread[:r] = s[:r] ** 2 / max(float((s**2).sum()), 1e-12)  # share of the means' variance
        return q.T, spread, r

    @property
    def k(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def mean(self, i: int) -> np.ndarray:
        return self.means[i].copy()

    def lerp(self, a: int, b: int, t: float) -> np.ndarray:
        """The latent a fraction t of the way from component a's mean to b's."""
        return (1.0 - t) * self.means[a] + t * self.means[b]

    def blend(self, shares: np.ndarray) -> np.ndarray | None:
        """Means weighted by non-negative shares (normalised); None when all are zero."""
        w = np.clip(np.asarray(shares, dtype=np.float64), 0.0, None)
        total = w.sum()
        if total <= 0:
            return None
        return (w / total) @ self.means

    def coords(self, z: np.ndarray) -> np.ndarray:
        """(d,) coordinates of z along the basis directions."""
        return self.basis @ np.asarray(z, dtype=np.float64)

    def from_coords(self, c: np.ndarray) -> np.ndarray:
        return self.basis.T @ np.asarray(c, dtype=np.float64)

    def with_coord(self, z: np.ndarray, i: int, value: float) -> np.ndarray:
        """z moved so that its coordinate along direction i is `value`."""
        c = self.coords(z)
        c[i] = value
        return self.from_coords(c)
