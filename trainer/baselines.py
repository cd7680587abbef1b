"""The paper's baselines (section 5 and 6.3): training stages and test-time sampling.

Roles in the model file (`divcolor train --method cvae|cgan`):
- "cvae": a SkipVAE with `condition_encoder=True`. The colour encoder sees (ab, grey),
  the decoder gets z times the 4x4 grey map plus the grey skips. Loss: plain L2 plus
  the KL to N(0, I), because section 5 describes the CVAE as Sohn et al.'s, trained
  with "a decoder network f(z, G) with an L2 loss"; the KL weight is our VAE's 1e-2,
  so the two differ only where the paper says they do. (`train_cvae(weights=...)`
  trains it with our decoder terms instead.)
- "cgan": a CGAN (generator and discriminator in one network, so a resumed run keeps
  the discriminator and its Adam state; the model file carries both, ~10% more
  weights, and inference uses the generator alone). pix2pix's loss and settings:
  generator BCE(D(G(x)) -> real) + 100 * L1, discriminator
  (BCE(real) + BCE(fake)) / 2, Adam with betas (.5, .999). The learning rate is
  CGAN_LR_FACTOR times the run's, i.e. pix2pix's 2e-4 at the default 1e-3.

Test time (section 5, 6.3): 256 colorizations per image (CVAE: z ~ N(0, I) decoded
with the image's grey skips; cGAN: 256 passes with dropout on), k-means to 5
centres, largest cluster first. `per_pixel_samples` is Figure 2's strawman:
independent draws from the feature network's per-pixel 313-bin distribution.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from divcolor_gui.core import lab
from divcolor_gui.core.kmeans import kmeans
from divcolor_gui.core.losses import LossWeights
from divcolor_gui.core.stats import DatasetStats
from divcolor_gui.core.vocabulary import SCORED_MODES

from .loop import StageData, StageState, epoch_means, optimizer_step, preview_grid, run_epochs
from .stages import train_vae

CVAE_LOSS = LossWeights(hist=0.0, mah=0.0, grad=0.0, l2=1.0, kl=1e-2)  # section 5: L2 + KL
CGAN_L1_WEIGHT = 100.0  # pix2pix's lambda
CGAN_LR_FACTOR = 0.2  # pix2pix's 2e-4 at the default --lr 1e-3
CGAN_BETAS = (0.5, 0.999)
N_SAMPLES = 256  # colorizations drawn per image at test time
K_DIVERSE = SCORED_MODES  # k-means centres kept: as many as Table 3 scores of every method


# ----------------------------------------------------------------------------- training


def train_cvae(
    state: StageState, sd: StageData, stats: DatasetStats, weights: LossWeights = CVAE_LOSS, lr: float = 1e-3,
):  # fmt: skip
    """The CVAE baseline: encoder Q(z | C, G), decoder f(z, G); at test z ~ N(0, I). Trained
    as our VAE is, on its own loss, and validated also on decodes of prior draws (best of
    8 and their spread)."""
    if not getattr(getattr(state.net, "cfg", None), "condition_encoder", False):
        raise ValueError("train_cvae wants a SkipVAE with condition_encoder=True")
    yield from train_vae(state, sd, stats, weights, lr, prior_draws=8, what="CVAE")


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def train_cgan(state: StageState, sd: StageData, lr: float = 2e-4, l1_weight: float = CGAN_L1_WEIGHT):
    """pix2pix on (grey, ab): a discriminator step, then a generator step, per batch.

    One Adam holds both halves' parameters (so the runner saves and restores one
    optimizer state). Each step clears all gradients to None and back-propagates into
    one half only, and torch's Adam leaves a parameter whose grad is None untouched
    (its moments and step count included), so this is two independent Adams.
    """
    net, opt = state.net, state.optimizer
    G, D = net.generator, net.discriminator
    for group in opt.param_groups:
        group["betas"] = CGAN_BETAS

    generated = []

    def d_step(g, ab):
        # The generator's output is kept aside, not returned: under DDP what a forward returns
        # says which parameters its backward reaches, and this one's reaches D's alone.
        generated[:] = [G(g)]
        # Discriminator: real pairs -> 1, generated pairs -> 0.
        d_real, d_fake = D(g, ab), D(g, generated[0].detach())
        return d_real, d_fake, 0.5 * (_bce(d_real, True) + _bce(d_fake, False))

    def g_step(g, ab, fake):
        adv = _bce(D(g, fake), True)
        l1 = (fake - ab).abs().mean()
        return adv, l1, adv + l1_weight * l1

    def step(grey, ab):
        g = lab.grey_at_field_size(grey)
        # Two forwards, each followed by its own backward (what DDP expects).
        d_real, d_fake, d_loss = state.forward(lambda: d_step(g, ab))
        fake = generated.pop()
        optimizer_step(opt, d_loss, "cGAN discriminator loss")
        # Generator: fool the (now frozen) discriminator, stay close in L1.
        D.requires_grad_(False)
        try:
            adv, l1, g_loss = state.forward(lambda: g_step(g, ab, fake))
            optimizer_step(opt, g_loss, "cGAN generator loss")
        finally:
            D.requires_grad_(True)
        return {
            "loss": g_loss.item(), "l1": l1.item(), "adv": adv.item(), "d": d_loss.item(),
            "d_real": torch.sigmoid(d_real).mean().item(), "d_fake": torch.sigmoid(d_fake).mean().item(),
        }  # fmt: skip

    def validate():
        acc: dict[str, float] = {}
        n, first = 0, None
        for x in sd.val_batches():
            grey, ab = sd.to_net(x)
            g = lab.grey_at_field_size(grey)
            B = ab.shape[0]
            samples = G(g.repeat_interleave(4, 0)).view(B, 4, 2, 64, 64)  # dropout on: 4 draws
            fake = samples[:, 0]
            terms = {
                "l1": (fake - ab).abs().mean(),
                "adv": _bce(D(g, fake), True),
                "d_real": torch.sigmoid(D(g, ab)).mean(),
                "eob4": (samples - ab[:, None]).abs().flatten(2).mean(2).min(1).values.mean(),
                "var4": samples.var(1, unbiased=False).mean(),
            }
            for k, v in terms.items():
                acc[k] = acc.get(k, 0.0) + v.item() * B
            n += B
            if first is None:
                first = (grey, ab, samples)
        preview = None
        if first is not None:
            grey, ab, samples = first
            preview = preview_grid(grey, [ab, samples[:, 0], samples[:, 1]])
        return epoch_means(acc, n), preview

    yield from run_epochs(state, sd, lr, step, validate)


# ----------------------------------------------------------------------------- test time


@torch.no_grad()
def cvae_samples(
    cvae: nn.Module, grey: torch.Tensor, n: int = N_SAMPLES, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One image's grey (1, 1, 64, 64) -> (n, 2, 64, 64): z ~ N(0, I) decoded with its skips."""
    z = torch.randn(n, cvae.cfg.vae.z_dim, generator=generator).to(grey.device)
    return cvae.decode(z, lab.grey_at_field_size(grey)).float()


@torch.no_grad()
def cgan_samples(cgan: nn.Module, grey: torch.Tensor, n: int = N_SAMPLES, chunk: int = 256) -> torch.Tensor:
    """One image's grey (1, 1, 64, 64) -> (n, 2, 64, 64): n generator passes, each its own
    dropout draw (the global torch RNG: seed it for reproducible samples)."""
    gen = cgan.generator if hasattr(cgan, "generator") else cgan
    g = lab.grey_at_field_size(grey)
    out = [gen(g.expand(min(chunk, n - i), -1, -1, -1)).float() for i in range(0, n, chunk)]
    return torch.cat(out)


def cluster_diverse(samples: torch.Tensor, k: int = K_DIVERSE, seed: int = 0) -> torch.Tensor:
    """(n, 2, 64, 64) samples of one image -> (k, 2, 64, 64) k-means centres, largest first."""
    res = kmeans(samples.flatten(1), k, seed=seed)
    return res.centres.view(k, *samples.shape[1:])


def diverse_colorizations(
    method: str, net: nn.Module, grey: torch.Tensor, k: int = K_DIVERSE, n: int = N_SAMPLES, seed: int = 0,
) -> torch.Tensor:  # fmt: skip
    """A batch of grey (B, 1, 64, 64) -> (B, k, 2, 64, 64): each image's n samples
    (method "cvae" or "cgan") clustered to k. Image i's draws use seed + i."""
    if method not in SAMPLERS:
        raise ValueError(f"no sampling for method {method!r}")
    out = []
    for i in range(grey.shape[0]):
        s = SAMPLERS[method](net, grey[i : i + 1], n, seed + i)
        out.append(cluster_diverse(s, k, seed=seed + i))
    return torch.stack(out)


# method -> (net, one image's grey, n, seed) -> (n, 2, 64, 64) samples
SAMPLERS = {
    "cvae": lambda net, g, n, seed: cvae_samples(net, g, n, torch.Generator().manual_seed(seed)),
    "cgan": lambda net, g, n, seed: cgan_samples(net, g, n),
}


@torch.no_grad()
def per_pixel_samples(
    colornet: nn.Module, grey: torch.Tensor, n: int, T: float = 1.0,
    generator: torch.Generator | None = None, size: int = lab.FIELD_SIZE,
) -> torch.Tensor:  # fmt: skip
    """Figure 2's per-pixel sampling: every pixel draws its bin independently from the
    feature network's distribution softmax(logits / T).

    grey (B, 1, S, S) at the network's input size -> (B, n, 2, size, size) ab/128, each
    sample's (S/4)^2 field of draws upsampled bilinearly (as `stages.annealed_mean` is
    for previews), so the two differ only in how a bin is chosen.
    """
    logits = colornet(grey).float()  # (B, 313, h, w)
    B, Q, h, w = logits.shape
    p = torch.softmax(logits / T, dim=1).permute(0, 2, 3, 1).reshape(-1, Q)  # (B*h*w, 313)
    draws = torch.multinomial(p.cpu(), n, replacement=True, generator=generator)  # (B*h*w, n)
    bins = torch.from_numpy(lab.AB_BINS) / lab.AB_SCALE  # (313, 2)
    ab = bins[draws].view(B, h, w, n, 2).permute(0, 3, 4, 1, 2).reshape(B * n, 2, h, w)
    if h != size:
        ab = F.interpolate(ab, size=(size, size), mode="bilinear", align_corners=False)
    return ab.view(B, n, 2, size, size).to(grey.device)
