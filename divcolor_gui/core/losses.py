"""The paper's losses (section 3.1 and 4). Every term is a per-image sum, as in
the paper's vector norms, averaged over the batch; that keeps the paper's
weights (lambda_mah = .1, lambda_grad = 1e-3, KL 1e-2) meaningful."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import lab
from .vocabulary import CAST_WEIGHT


@dataclass
class LossWeights:
    hist: float = 1.0  # L_hist, the colourfulness-weighted L2
    mah: float = 0.1  # lambda_mah
    grad: float = 1e-3  # lambda_grad
    kl: float = 1e-2  # weight of the encoder's KL to N(0, I)
    l2: float = 0.0  # plain unweighted L2 (the ablation's baseline decoder)


def pixel_weights(ab_true: torch.Tensor, bin_weights: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) ab/128 -> (B, H, W) weight of each pixel's true colour bin."""
    bins = lab.ab_to_bin(lab.net_to_ab(ab_true))
    return bin_weights.to(ab_true.device)[bins]


def hist_loss(pred: torch.Tensor, true: torch.Tensor, bin_weights: torch.Tensor) -> torch.Tensor:
    """L_hist = sum_p w(bin(C_p)) * ||C_p - f_p||^2, averaged over the batch."""
    w = pixel_weights(true, bin_weights)
    return (w * ((true - pred) ** 2).sum(1)).flatten(1).sum(1).mean()


def l2_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    return ((true - pred) ** 2).flatten(1).sum(1).mean()


def mah_loss(
    pred: torch.Tensor, true: torch.Tensor, components: torch.Tensor, variances: torch.Tensor
) -> torch.Tensor:
    """L_mah: the error projected on the top-k principal components, each divided by its
    variance, plus the residual's squared norm divided by the k-th variance.

    components (k, 2*H*W) orthonormal rows; variances (k,) descending.
    """
    err = (true - pred).flatten(1)  # (B, 2*H*W)
    P = components.to(err)
    var = variances.to(err)
    proj = err @ P.T  # (B, k)
    residual = err - proj @ P
    return ((proj**2 / var).sum(1) + (residual**2).sum(1) / var[-1]).mean()


def grad_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """L_grad: squared differences of horizontal and vertical finite differences."""
    dh = (true[..., :, 1:] - true[..., :, :-1]) - (pred[..., :, 1:] - pred[..., :, :-1])
    dv = (true[..., 1:, :] - true[..., :-1, :]) - (pred[..., 1:, :] - pred[..., :-1, :])
    return (dh**2).flatten(1).sum(1).mean() + (dv**2).flatten(1).sum(1).mean()


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over d, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()


def vae_losses(
    pred: torch.Tensor,
    true: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    stats,
    weights: LossWeights,
) -> dict[str, torch.Tensor]:
    """All decoder and encoder terms and their weighted total ("loss")."""
    terms: dict[str, torch.Tensor] = {}
    if weights.hist:
        terms["hist"] = hist_loss(pred, true, stats.bin_weights)
    if weights.mah:
        terms["mah"] = mah_loss(pred, true, stats.pca_components, stats.pca_variances)
    if weights.grad:
        terms["grad"] = grad_loss(pred, true)
    if weights.l2:
        terms["l2"] = l2_loss(pred, true)
    terms["kl"] = kl_loss(mu, logvar)
    terms["loss"] = sum(getattr(weights, k) * v for k, v in terms.items())
    return terms


def mdn_loss(z: torch.Tensor, logits: torch.Tensor, means: torch.Tensor, variance: float) -> torch.Tensor:
    """The closest-component loss: m = argmin_i ||z - mu_i||,
    -log pi_m + ||z - mu_m||^2 / (2 * variance), averaged over the batch.

    z (B, d), logits (B, K), means (B, K, d).
    """
    dist = ((z[:, None, :] - means) ** 2).sum(-1)  # (B, K)
    m = dist.argmin(1)
    log_pi = F.log_softmax(logits, dim=1)
    idx = torch.arange(z.shape[0], device=z.device)
    return (-log_pi[idx, m] + dist[idx, m] / (2 * variance)).mean()


def decoded_colour_loss(
    ab: torch.Tensor, means: torch.Tensor, decode, proxy: LinearDecoder | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best-of-K on the decoded colours (multiple choice learning), our addition to the
    paper's MDN loss.

    Every mean is decoded; the one whose colours are nearest the truth (L1, the metric
    of error-of-best) is pulled towards them through the frozen decoder. The paper's
    loss picks the component nearest z in the latent space, which is often not the one
    whose colours come nearest. Only the means learn from this term: on its own, with
    pi trained towards its winner too, the heaviest mode turned grey (README).

    ab (B, 2, H, W); means (B, K, d); decode(z, r) decodes z (B*r, d), each image's r
    latents in a row, to (B*r, 2, H, W). With a `proxy` the winner is the component nearest
    through it (the "winner" MDN loss): one decode per photo instead of K + 1.
    Returns the term, summed over pixels and averaged over the batch, and the winning
    component of each image.
    """
    B, K, d = means.shape
    with torch.no_grad():  # choosing needs every component, the gradient only the winner
        flat = means.reshape(B * K, d)
        fields = proxy(flat) if proxy is not None else decode(flat, K)
        err = (fields.view(B, K, *ab.shape[1:]) - ab[:, None]).abs()
        m = err.flatten(2).mean(2).argmin(1)
    idx = torch.arange(B, device=ab.device)
    return (decode(means[idx, m], 1) - ab).abs().flatten(1).sum(1).mean(), m


def nearest_uncast(fields: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(B, K, 2, H, W) fields, (B, 2, H, W) truth -> (B,) the field nearest the truth once
    each field's overall cast (its mean ab) is replaced by the truth's: the choice of the
    shared-cast losses, by what is coloured where rather than by a tint."""
    true_cast = ab.mean((-2, -1))[:, None, :, None, None]
    uncast = fields - fields.mean((-2, -1), keepdim=True) + true_cast
    return (uncast - ab[:, None]).abs().flatten(2).mean(2).argmin(1)


def shared_cast_loss(
    ab: torch.Tensor, means: torch.Tensor, decode, proxy: LinearDecoder, cast_weight: float = CAST_WEIGHT
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best-of-K on the decoded colours with the overall cast set aside: the "shared-cast"
    MDN loss, our answer to modes that differ mostly by a colour filter (docs/method.md,
    section 9).

    The winner is the component nearest the truth once each component's mean ab is
    replaced by the truth's, so the components divide the photo's possible colourings of
    its parts among them rather than its possible casts; its decoded colours are pulled
    towards the truth as in decoded_colour_loss. Every component's cast, read through the
    affine proxy (exactly the proxy's field's mean, since the mean of an affine map is
    affine; the decoder's own cast only as far as the proxy fits it), is pulled towards the
    truth's overall colour, so all share the cast the features predict. The pull is
    averaged over the K components.

    Shapes as decoded_colour_loss; `proxy` is required. Returns the loss (summed over
    pixels, averaged over the batch) and the winning component of each image.
    """
    B, K, d = means.shape
    pixels = ab.shape[-2] * ab.shape[-1]
    true_cast = ab.mean((-2, -1))  # (B, 2)
    with torch.no_grad():
        m = nearest_uncast(proxy(means.reshape(B * K, d)).view(B, K, *ab.shape[1:]), ab)
    idx = torch.arange(B, device=ab.device)
    winner = (decode(means[idx, m], 1) - ab).abs().flatten(1).sum(1).mean()
    casts = proxy.cast(means.reshape(B * K, d)).view(B, K, 2)
    off = (casts - true_cast[:, None]).abs().sum(-1).mean(1).mean()
    return winner + cast_weight * pixels * off, m


# The share of a photo's "hypotheses" loss that every read-out field takes (the rest goes to
# the nearest): a field that is never the nearest still learns, so that none is left dead
# (Rupprecht et al.'s relaxed winner-takes-all, ICCV 2017).
HYPOTHESES_RELAX = 0.05


def nearest_field_loss(
    fields: torch.Tensor, ab: torch.Tensor, cast_weight: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K, 2, 64, 64) fields, (B, 2, 64, 64) truth -> (the relaxed winner-takes-all L1 to
    train on, the nearest field's L1 to report); the two are the L1 itself for one field.

    With a `cast_weight` (the "shared-cast" feature loss), as shared_cast_loss:
    the field that learns is the nearest once each field's overall cast (its mean ab) is
    replaced by the truth's, and every field's cast is pulled towards the truth's, so that
    the fields differ in what is coloured where rather than by a tint."""
    err = (fields - ab.unsqueeze(1)).abs().mean(dim=(2, 3, 4))  # (B, K)
    nearest = err.min(dim=1).values.mean()
    if cast_weight is None:
        return (1 - HYPOTHESES_RELAX) * nearest + HYPOTHESES_RELAX * err.mean(), nearest
    m = nearest_uncast(fields.detach(), ab)
    chosen = err.gather(1, m[:, None]).mean()
    off = (fields.mean(dim=(3, 4)) - ab.mean(dim=(2, 3))[:, None]).abs().mean()
    loss = (1 - HYPOTHESES_RELAX) * chosen + HYPOTHESES_RELAX * err.mean() + cast_weight * off
    return loss, nearest


class LinearDecoder:
    """An affine stand-in for a decoder, fitted by least squares to (z, decode(z)) pairs:
    cheap enough to score all K components of every photo when choosing a winner."""

    def __init__(self, z: torch.Tensor, fields: torch.Tensor, ridge: float = 1e-6):
        self.shape = fields.shape[1:]
        # Normal equations on the CPU in float64, a little ridge: any number of pairs, any device.
        X = torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype, device=z.device)], 1).double().cpu()
        Y = fields.flatten(1).double().cpu()
        gram = X.T @ X
        gram += ridge * gram.diagonal().mean() * torch.eye(len(gram), dtype=gram.dtype)
        self.weight = torch.linalg.solve(gram, X.T @ Y).to(z.device, z.dtype)  # (d + 1, H*W*2)
        # The field's per-channel mean is affine in z too: (d + 1, channels).
        self._cast = self.weight.view(len(self.weight), self.shape[0], -1).mean(-1)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.weight[:-1] + self.weight[-1]).view(-1, *self.shape)

    def cast(self, z: torch.Tensor) -> torch.Tensor:
        """(N, d) -> (N, channels): the mean over pixels of each decoded field."""
        return z @ self._cast[:-1] + self._cast[-1]


def colornet_loss(logits: torch.Tensor, ab_true: torch.Tensor, bin_weights: torch.Tensor) -> torch.Tensor:
    """Per-pixel classification into the 313 bins with class rebalancing (Zhang et al.).

    logits (B, 313, h, w); ab_true (B, 2, H, W) ab/128, area-averaged to (h, w).
    Hard labels (the nearest bin) rather than Zhang's soft 5-neighbour encoding:
    simpler, and the rebalancing weights do the work that matters here.
    """
    h, w = logits.shape[-2:]
    ab = F.adaptive_avg_pool2d(ab_true, (h, w))
    bins = lab.ab_to_bin(lab.net_to_ab(ab))  # (B, h, w)
    wts = bin_weights.to(logits.device)[bins]
    ce = F.cross_entropy(logits, bins, reduction="none")
    return (wts * ce).mean()
