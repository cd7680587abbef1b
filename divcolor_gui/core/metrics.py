"""The paper's metrics (section 7), defined exactly since the authors' code has none.

All on 64x64 ab fields in the /128 scale, per image, to be averaged over a test set:
- mae: mean over pixels (and the two channels) of |predicted - true|.
- weighted mae: each pixel's absolute error (mean of the two channels) times the
  colourfulness weight of its true colour's bin (the L_hist weights), averaged.
- "centre grid": the same on the 8x8 uniformly spaced pixels rows/cols 18, 22, ..., 46.
- error-of-best: the smallest mae among the k diverse colorizations.
- variance: the per-pixel variance across the k colorizations (population variance,
  per channel), averaged over pixels and channels.
- tint variance (ours): the part of the variance that a constant ab shift per colorization
  explains, i.e. the variance across k of each colorization's mean ab (averaged over the two
  channels). Variance = tint variance + the rest, so tint share = tint variance / variance:
  1 means the colorizations are the same picture under different colour filters.
- grey MAE (ours): the MAE of leaving the photo grey (ab = 0), the floor any mode must beat.
- chroma (ours, not the paper's): the mean over pixels of sqrt(a^2 + b^2), in Lab units;
  set against the truth's, it shows greyish (low) or garish (high) colorizations,
  which the paper's metrics do not.
"""

from __future__ import annotations

import torch

from .lab import AB_SCALE
from .losses import pixel_weights

CENTRE_GRID = torch.arange(8) * 4 + 18  # rows/cols 18..46: an 8x8 grid in the centre


def centre(x: torch.Tensor) -> torch.Tensor:
    """(..., 64, 64) -> (..., 8, 8) samples on the centre grid."""
    g = CENTRE_GRID.to(x.device)
    return x.index_select(-2, g).index_select(-1, g)


def mae(pred: torch.Tensor, true: torch.Tensor, grid: bool = False) -> torch.Tensor:
    """(B, 2, H, W) each -> (B,) mean absolute error."""
    err = (pred - true).abs()
    if grid:
        err = centre(err)
    return err.flatten(1).mean(1)


def weighted_mae(
    pred: torch.Tensor, true: torch.Tensor, bin_weights: torch.Tensor, grid: bool = False
) -> torch.Tensor:
    err = (pred - true).abs().mean(1)  # (B, H, W)
    w = pixel_weights(true, bin_weights)
    if grid:
        err, w = centre(err), centre(w)
    return (w * err).flatten(1).mean(1)


def error_of_best(samples: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """samples (B, k, 2, H, W), true (B, 2, H, W) -> (B,) min over k of the mae."""
    err = (samples - true[:, None]).abs().flatten(2).mean(2)
    return err.min(1).values


def diversity_variance(samples: torch.Tensor) -> torch.Tensor:
    """(B, k, 2, H, W) -> (B,) per-pixel variance across k, averaged."""
    return samples.var(1, unbiased=False).flatten(1).mean(1)


def chroma(ab: torch.Tensor) -> torch.Tensor:
    """(..., 2, H, W) ab/128 -> (...) mean chroma in Lab units."""
    return ab.float().norm(dim=-3).flatten(-2).mean(-1) * AB_SCALE


def tint_variance(samples: torch.Tensor) -> torch.Tensor:
    """(B, k, 2, H, W) -> (B,) variance across k of each sample's mean ab, channels averaged."""
    return samples.flatten(3).mean(3).var(1, unbiased=False).mean(1)


def grey_mae(true: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) -> (B,) MAE of a grey output (ab = 0)."""
    return true.abs().flatten(1).mean(1)
