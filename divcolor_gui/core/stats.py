"""Dataset statistics, computed once from the training folder and stored in the model:
the ab histogram over the 313 bins (and the rebalancing weights made from it) and the
principal components of the 64x64 ab fields (for L_mah)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import lab

N_COMPONENTS = 20  # the paper's k


@dataclass
class DatasetStats:
    ab_hist: torch.Tensor  # (313,) empirical probability of each bin
    bin_weights: torch.Tensor  # (313,) weight per bin, mean weight 1 over the data
    pca_components: torch.Tensor  # (k, 2*64*64) orthonormal rows
    pca_variances: torch.Tensor  # (k,) variance along each component, descending
    weighting: str = "smoothed"  # "smoothed" (Zhang's) or "raw" (1/p)
    n_images: int = 0

    def to_dict(self) -> dict:
        return {
            "ab_hist": self.ab_hist, "bin_weights": self.bin_weights,
            "pca_components": self.pca_components, "pca_variances": self.pca_variances,
            "weighting": self.weighting, "n_images": self.n_images,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> DatasetStats:
        return cls(
            ab_hist=d["ab_hist"].float(), bin_weights=d["bin_weights"].float(),
            pca_components=d["pca_components"].float(), pca_variances=d["pca_variances"].float(),
            weighting=d.get("weighting", "smoothed"), n_images=int(d.get("n_images", 0)),
        )  # fmt: skip


def rebalancing_weights(
    hist: np.ndarray, mode: str = "smoothed", lam: float = 0.5, sigma: float = 5.0
) -> np.ndarray:
    """Per-bin weights from an ab histogram (313,), normalised so E_p[w] = 1.

    smoothed: Zhang et al.'s w ~ ((1 - lam) * (p * G_sigma) + lam / Q)^-1, Gaussian
    smoothing in ab (sigma in Lab units). raw: 1/p as the paper states it, with empty
    bins given the largest seen weight (raw 1/p spans orders of magnitude: use with care).
    """
    p = hist / hist.sum()
    if mode == "raw":
        w = np.zeros_like(p)
        nz = p > 0
        w[nz] = 1.0 / p[nz]
        w[~nz] = w[nz].max() if nz.any() else 1.0
    elif mode == "smoothed":
        d2 = ((lab.AB_BINS[:, None] - lab.AB_BINS[None]) ** 2).sum(-1)
        kern = np.exp(-d2 / (2 * sigma**2))
        kern /= kern.sum(1, keepdims=True)
        ps = kern @ p
        w = 1.0 / ((1 - lam) * ps + lam / len(p))
    else:
        raise ValueError(f"unknown weighting {mode!r} (smoothed or raw)")
    return (w / (p * w).sum()).astype(np.float32)


class StatsAccumulator:
    """Collects the histogram and the colour fields for PCA in one pass over batches.
    Memory is bounded by `max_fields` (each 32 KB)."""

    def __init__(self, max_fields: int = 4000):
        self.hist = np.zeros(lab.N_BINS, dtype=np.float64)
        self.fields: list[torch.Tensor] = []
        self.n_fields = 0
        self.max_fields = max_fields
        self.n_images = 0

    def add(self, ab_net: torch.Tensor) -> None:
        """(B, 2, 64, 64) ab/128."""
        bins = lab.ab_to_bin(lab.net_to_ab(ab_net))
        self.hist += np.bincount(bins.flatten().cpu().numpy(), minlength=lab.N_BINS)
        self.n_images += ab_net.shape[0]
        room = self.max_fields - self.n_fields
        if room > 0:
            take = ab_net[:room].flatten(1).float().cpu()
            self.fields.append(take)
            self.n_fields += take.shape[0]

    def finish(self, weighting: str = "smoothed", k: int = N_COMPONENTS) -> DatasetStats:
        X = torch.cat(self.fields).double()
        X = X - X.mean(0, keepdim=True)
        k = min(k, X.shape[0] - 1)
        # Top-k right singular vectors of the centred data = principal directions.
        _, S, V = torch.svd_lowrank(X, q=k + 10, niter=4)
        var = S[:k] ** 2 / (X.shape[0] - 1)
        p = self.hist / max(self.hist.sum(), 1)
        return DatasetStats(
            ab_hist=torch.from_numpy(p.astype(np.float32)),
            bin_weights=torch.from_numpy(rebalancing_weights(self.hist, weighting)),
            pca_components=V[:, :k].T.float().contiguous(),
            pca_variances=var.float().clamp_min(1e-8),
            weighting=weighting,
            n_images=self.n_images,
        )
