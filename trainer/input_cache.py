"""The MDN stage's inputs, kept per photo while neither network that makes them moves.

Without --end-to-end the feature network is frozen in the MDN stage, and the VAE always
is: a photo drawn the same way round gives the same grey features G and the same VAE
posterior (mu, logvar) in every epoch. Computing them is a large part of a step (for
`lite128`, the trunk's forward pass alone is about half of it on a CPU), so each (photo,
flip) pair is computed the first time it is drawn and read from memory after that. Each
epoch draws every photo once, flipped or not at random, so the first epoch computes all
of them, the second about half, the third a quarter; the training is the same.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

MAX_CACHE_BYTES = 2 * 2**30  # a folder whose inputs take more is computed every step, as before

Inputs = tuple[torch.Tensor, ...]  # G, mu, logvar


class InputCache:
    """Tables of float32 inputs indexed by (flip, photo index), on the CPU; filled lazily."""

    def __init__(self, n_photos: int, max_bytes: int = MAX_CACHE_BYTES):
        self.n_photos, self.max_bytes = n_photos, max_bytes
        self.have = torch.zeros(2, n_photos, dtype=torch.bool)
        self.tables: list[torch.Tensor] | None = None
        self.too_large = False

    def get(
        self, keys: tuple[np.ndarray, np.ndarray], grey: torch.Tensor, ab: torch.Tensor,
        compute: Callable[[torch.Tensor, torch.Tensor], Inputs],
    ) -> Inputs:  # fmt: skip
        """compute(grey, ab)'s values for this batch, whose rows are the photos `keys`
        gives (indices into the folder, and whether each was flipped); computed only for
        the rows not seen before."""
        if self.too_large:
            return compute(grey, ab)
        idx = torch.as_tensor(keys[0], dtype=torch.long)
        flip = torch.as_tensor(keys[1], dtype=torch.long)
        new = ~self.have[flip, idx]
        if new.any():
            values = compute(grey[new.to(grey.device)], ab[new.to(ab.device)])
            if self.tables is None and not self._allocate(values):
                self.too_large = True
                return values  # the first batch: every row was new
            for table, v in zip(self.tables, values):
                table[flip[new], idx[new]] = v.detach().float().cpu()
            self.have[flip[new], idx[new]] = True
        return tuple(t[flip, idx].to(grey.device) for t in self.tables)

    def _allocate(self, values: Inputs) -> bool:
        shapes = [(2, self.n_photos, *v.shape[1:]) for v in values]
        if sum(4 * int(np.prod(s)) for s in shapes) > self.max_bytes:
            return False
        self.tables = [torch.empty(s, dtype=torch.float32) for s in shapes]
        return True
