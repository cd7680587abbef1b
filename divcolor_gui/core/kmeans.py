"""A small deterministic k-means in torch, for the baselines' test time (paper
section 5 and 6.3): 256 sampled colour fields per image are clustered to 5
centres, and the centres are the method's 5 diverse colorizations.

k-means++ initialisation from a fixed seed, then Lloyd iterations until the
assignment stops changing. Distances are computed in float64, so the result does
not depend on summation order, and the same input and seed give the same centres
on any device. Centres come back ordered by cluster size, largest first (the
analogue of ordering the MDN's means by their mixture weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class KMeansResult:
    centres: torch.Tensor  # (k, D) in the input's dtype and device, largest cluster first
    labels: torch.Tensor  # (N,) long: each point's centre in that order
    counts: torch.Tensor  # (k,) long: points per centre, descending
    iterations: int  # Lloyd iterations run


def _sq_dist(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(N, D), (k, D) float64 -> (N, k) squared distances, clamped at 0."""
    return ((x * x).sum(1, keepdim=True) - 2 * x @ c.T + (c * c).sum(1)[None]).clamp_min_(0)


def kmeans_pp_init(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Indices (k,) of the initial centres by k-means++ (D^2 sampling).

    Where every point already coincides with a chosen centre (all samples equal),
    the remaining centres are the lowest unused indices: duplicates, but defined.
    """
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    chosen = [first]
    d2 = _sq_dist(x, x[first : first + 1])[:, 0]
    for _ in range(1, k):
        total = float(d2.sum())
        if total > 0:
            nxt = int(torch.multinomial((d2 / total).float().cpu(), 1, generator=generator))
        else:
            unused = [i for i in range(n) if i not in chosen]
            nxt = unused[0]
        chosen.append(nxt)
        d2 = torch.minimum(d2, _sq_dist(x, x[nxt : nxt + 1])[:, 0])
    return torch.tensor(chosen, dtype=torch.long)


def kmeans(x: torch.Tensor, k: int, seed: int = 0, max_iter: int = 100) -> KMeansResult:
    """Cluster the rows of x (N, D) into k groups; N >= k."""
    if x.ndim != 2:
        raise ValueError(f"kmeans wants (N, D) rows, got shape {tuple(x.shape)}")
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"kmeans: need 1 <= k <= N, got k={k}, N={n}")
    xd = x.detach().double()
    g = torch.Generator().manual_seed(seed)
    centres = xd[kmeans_pp_init(xd, k, g).to(x.device)]
    labels = torch.full((n,), -1, dtype=torch.long, device=x.device)
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        d = _sq_dist(xd, centres)
        new = d.argmin(1)  # ties go to the lower index: deterministic
        if torch.equal(new, labels):
            break
        labels = new
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, labels, xd)
        centres = sums / counts.clamp_min(1)[:, None].double()
        for j in torch.nonzero(counts == 0).flatten().tolist():
            # An empty cluster takes the point farthest from its own centre.
            far = int(d.gather(1, labels[:, None])[:, 0].argmax())
            centres[j] = xd[far]
            labels[far] = j
            d[far] = 0  # not picked twice
    counts = torch.bincount(labels, minlength=k)
    order = torch.sort(counts, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(k, device=order.device)
    return KMeansResult(
        centres=centres[order].to(x.dtype), labels=rank[labels], counts=counts[order], iterations=iterations
    )
