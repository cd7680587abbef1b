"""The method's three training stages (the feature network, the VAE, the MDN), each a
generator run by `loop.run_epochs`: a `step` for one batch and a `validate` for the epoch.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from divcolor_gui.core import lab, metrics
from divcolor_gui.core.losses import (
    LinearDecoder,
    LossWeights,
    colornet_loss,
    decoded_colour_loss,
    mdn_loss,
    nearest_field_loss,
    shared_cast_loss,
    vae_losses,
)
from divcolor_gui.core.nets.vae import reparameterize
from divcolor_gui.core.stats import DatasetStats
from divcolor_gui.core.vocabulary import CAST_WEIGHT, MDN_LOSSES, SCORED_MODES

from .input_cache import InputCache
from .loop import StageData, StageState, epoch_means, optimizer_step, preview_grid, run_epochs


def train_features(
    state: StageState,
    sd: StageData,
    stats: DatasetStats,
    lr: float = 1e-3,
    loss: str = "bins",
    shift: int = 0,
):
    """The grey-level feature network: per-pixel classification into the 313 bins (Zhang
    et al.'s, the paper's), or ("field") the L1 error of the colour field predicted from G
    by a low-rank linear read-out: features trained for the goal itself; ("hypotheses",
    "shared-cast") several such fields, each photo learning from its nearest
    (losses.nearest_field_loss). `shift` moves each training photo by up to that many field
    pixels (random_shifts)."""
    augment = _shifter(state, sd, shift)
    if loss != "bins":  # the read-out's losses
        cast_weight = CAST_WEIGHT if loss == "shared-cast" else None
        yield from _train_features_on_field(state, sd, lr, augment, cast_weight)
        return
    net, opt = state.net, state.optimizer
    w = stats.bin_weights.to(sd.device)

    def step(grey, ab):
        grey, ab = augment(grey, ab)
        loss = state.forward(lambda: colornet_loss(net(grey), ab, w))
        optimizer_step(opt, loss, "feature network loss")
        return {"loss": loss.item()}

    def validate():
        tot, n, first = 0.0, 0, None
        for x in sd.val_batches():
            grey, ab = sd.to_net(x)
            logits = net(grey)
            tot += colornet_loss(logits, ab, w).item() * len(x)
            n += len(x)
            if first is None:
                first = (grey, ab, logits)
        preview = None
        if first is not None:
            grey, ab, logits = first
            pred = annealed_mean(logits, T=0.38)
            pred = lab.F.interpolate(pred, size=(64, 64), mode="bilinear", align_corners=False)
            preview = preview_grid(grey, [torch.zeros_like(ab), ab, pred])
        return {"loss": tot / max(n, 1)}, preview

    yield from run_epochs(state, sd, lr, step, validate)


def _train_features_on_field(state: StageState, sd: StageData, lr: float, augment, cast_weight=None):
    """The field, hypotheses and shared-cast losses: L1 of the read-out's one field, or of
    the nearest of its fields (reported as "mae" either way)."""
    net, opt = state.net, state.optimizer

    def step(grey, ab):
        grey, ab = augment(grey, ab)
        loss, nearest = state.forward(lambda: nearest_field_loss(net.predict_fields(grey), ab, cast_weight))
        optimizer_step(opt, loss, "feature network loss")
        return {"mae": nearest.item()}

    def validate():
        tot, n, first = 0.0, 0, None
        for x in sd.val_batches():
            grey, ab = sd.to_net(x)
            fields = net.predict_fields(grey)
            tot += nearest_field_loss(fields, ab)[1].item() * len(x)
            n += len(x)
            if first is None:
                first = (grey, ab, fields[:, 0])
        preview = preview_grid(first[0], [first[1], first[2]]) if first else None
        return {"mae": tot / max(n, 1)}, preview

    yield from run_epochs(state, sd, lr, step, validate)


def random_shifts(
    grey: torch.Tensor, ab: torch.Tensor, most: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each photo of a batch moved by its own offset of up to `most` field pixels each way,
    grey and colour together (the grey by the same distance at its own scale), the edges
    replicated, so that the feature network cannot learn the training photos' colours by
    where they sit in the frame (its measured effect: docs/method.md, section 9). Where the
    grey's side is not a whole multiple of the field's (the paper preset's 224 on 64), its
    offset is rounded to the nearest grey pixel: the two then agree to half a grey pixel."""
    n, S = ab.shape[-1], grey.shape[-1]
    pad = -(-most * S // n)  # the grey's margin at its own scale, rounded up

    def at(d: int) -> int:  # where a grey crop starts for an offset of d field pixels
        return pad + round(d * S / n)

    padded_grey = F.pad(grey, (pad,) * 4, mode="replicate")
    padded_ab = F.pad(ab, (most,) * 4, mode="replicate")
    offsets = torch.randint(-most, most + 1, (len(ab), 2), generator=generator).tolist()
    moved_grey, moved_ab = [], []
    for g, a, (y, x) in zip(padded_grey, padded_ab, offsets):
        moved_grey.append(g[:, at(y) : at(y) + S, at(x) : at(x) + S])
        moved_ab.append(a[:, most + y : most + y + n, most + x : most + x + n])
    grey, ab = torch.stack(moved_grey), torch.stack(moved_ab)
    cl = torch.channels_last
    return grey.contiguous(memory_format=cl), ab.contiguous(memory_format=cl)


def _shifter(state: StageState, sd: StageData, most: int):
    """(grey, ab) -> (grey, ab): random_shifts by up to `most`, or as they are for 0.

    Each epoch draws from its own generator, seeded by the run's seed, the stage, the epoch
    and the process: a resumed run draws what an uninterrupted one would have (an epoch cut
    short starts again from its first batch), and an end-to-end MDN stage does not give each
    photo the offset it had in the feature stage's epoch of the same number. Processes draw
    apart, so a run on several processes shifts differently from a run on one."""
    if most <= 0:
        return lambda grey, ab: (grey, ab)
    stage = zlib.crc32(state.name.encode())
    drawn = {}  # the epoch in progress -> its generator

    def augment(grey, ab):
        epoch = state.epochs_done  # run_epochs counts an epoch done only after its last step
        if epoch not in drawn:
            seed = np.random.SeedSequence([sd.seed, stage, epoch, sd.ranks.rank]).generate_state(1)[0]
            drawn.clear()
            drawn[epoch] = torch.Generator().manual_seed(int(seed))
        return random_shifts(grey, ab, most, drawn[epoch])

    return augment


def fit_decoder_proxy(vae: nn.Module, sd: StageData, n: int = 4096) -> LinearDecoder | None:
    """The decoder's best affine stand-in around the training photos' latents (their means,
    and draws from their posteriors, where the MDN's components land). None for a decoder
    that also reads the grey image."""
    if vae.needs_grey:
        return None
    zs, fields = [], []
    # The same photos in every process of a distributed run (one seeded draw), so that all
    # choose their winners through the same stand-in.
    order = np.random.default_rng(sd.seed).permutation(sd.train_idx)[:n]
    with torch.no_grad():
        for x in sd.data.batches(order, sd.batch_size, shuffle=False):
            grey, ab = sd.to_net(x)
            mu, logvar = vae.encode(ab)
            for z in (mu, reparameterize(mu, logvar)):
                zs.append(z)
                fields.append(vae.decode(z))
            if sum(len(z) for z in zs) >= n:
                break
    return LinearDecoder(torch.cat(zs), torch.cat(fields))


def annealed_mean(logits: torch.Tensor, T: float = 0.38) -> torch.Tensor:
    """Zhang et al.'s annealed-mean colour of the bin distribution: (B, 2, h, w) ab/128."""
    p = torch.softmax(logits.float() / T, dim=1)
    bins = torch.from_numpy(lab.AB_BINS).to(p.device) / lab.AB_SCALE  # (313, 2)
    return torch.einsum("bqhw,qc->bchw", p, bins)


def train_vae(
    state: StageState, sd: StageData, stats: DatasetStats, weights: LossWeights, lr: float = 1e-3,
    prior_draws: int = 0, what: str = "VAE",
):  # fmt: skip
    """Stage 1: the VAE (or the skip VAE, which also takes the grey image).

    Validation reports the reconstruction (z = mu: Table 1). With `prior_draws` (the
    CVAE baseline, which is used by decoding z ~ N(0, I)) it also decodes that many
    prior draws per photo and reports their best (`prior_eob`) and spread
    (`prior_var`): a CVAE can reconstruct well and still ignore or misuse z at test time.
    """
    net, opt = state.net, state.optimizer

    def losses(grey, ab):
        pred, mu, logvar = net(ab, lab.grey_at_field_size(grey))
        return vae_losses(pred, ab, mu, logvar, stats, weights)

    def step(grey, ab):
        terms = state.forward(lambda: losses(grey, ab))
        optimizer_step(opt, terms["loss"], f"{what} loss")
        return {k: v.item() for k, v in terms.items()}

    def validate():
        acc: dict[str, float] = {}
        n, first = 0, None
        gen = torch.Generator().manual_seed(sd.seed)
        for x in sd.val_batches():
            grey, ab = sd.to_net(x)
            g64 = lab.grey_at_field_size(grey)
            mu, logvar = net.encode(ab, g64)
            pred = net.decode(mu, g64)  # z = mu: the reconstruction
            terms = vae_losses(pred, ab, mu, logvar, stats, weights)
            terms["mae"] = (pred - ab).abs().mean()
            shown = [ab, pred]
            if prior_draws:
                B = len(x)
                z = torch.randn(B * prior_draws, mu.shape[1], generator=gen).to(mu)
                prior = net.decode(z, g64.repeat_interleave(prior_draws, 0)).view(
                    B, prior_draws, *ab.shape[1:]
                )
                terms["prior_eob"] = metrics.error_of_best(prior, ab).mean()
                terms["prior_var"] = prior.var(1, unbiased=False).mean()
                shown += [prior[:, 0], prior[:, 1]]
            for k, v in terms.items():
                acc[k] = acc.get(k, 0.0) + v.item() * len(x)
            n += len(x)
            if first is None:
                first = (grey, shown)
        preview = preview_grid(*first) if first else None
        return epoch_means(acc, n), preview

    yield from run_epochs(state, sd, lr, step, validate)


def train_mdn(
    state: StageState, sd: StageData, features: nn.Module, vae: nn.Module, lr: float = 1e-3,
    loss: str = "latent", end_to_end: bool = False, cast_weight: float = CAST_WEIGHT, shift: int = 0,
):  # fmt: skip
    """Stage 2: the MDN from grey features to the VAE's embedding.

    loss "latent" is the paper's: the component nearest z, drawn afresh from the VAE's
    posterior at every step. "decoded" adds best-of-K on the decoded colours
    (losses.decoded_colour_loss), which trains the means for error-of-best directly;
    it decodes every component at every step, so an epoch takes several times longer.
    "winner" is "decoded" with the winner chosen through a linear stand-in for the decoder
    (fit_decoder_proxy), so each step decodes only the winners. "shared-cast" is "winner"
    with the winner chosen with every component's overall cast set aside, and each cast
    pulled towards the photo's (losses.shared_cast_loss): modes that differ in what is
    coloured rather than by a filter.

    end_to_end also trains the feature network's trunk through the MDN's loss (the
    caller's optimizer holds both networks' parameters): features learned for the goal
    itself rather than for the 313-bin classification, which carries little of a
    photo's colour (docs/method.md, section 9). `shift` then moves each training photo as
    the feature stage does (random_shifts): the trunk keeps learning from shifted photos.
    """
    if loss not in MDN_LOSSES:
        raise ValueError(f"unknown MDN loss {loss!r}: choose from {', '.join(MDN_LOSSES)}")
    net, opt = state.net, state.optimizer
    variance = net.cfg.variance
    features.eval()
    if end_to_end:
        features.to(memory_format=torch.channels_last)
    vae.eval()
    # Decoding from a 1x1 latent starts in the default layout; channels-last weights
    # make the batch decodes of the "decoded" loss about 3x faster on a CPU.
    vae.to(memory_format=torch.channels_last)

    def decoder_for(grey):
        """decode(z, r) of losses.decoded_colour_loss for this batch's grey images."""
        g64 = lab.grey_at_field_size(grey) if vae.needs_grey else None
        return lambda z, r: vae.decode(z, None if g64 is None else g64.repeat_interleave(r, 0))

    proxy = fit_decoder_proxy(vae, sd) if loss in ("winner", "shared-cast") else None
    if loss == "shared-cast" and proxy is None:
        raise ValueError(
            "the shared-cast MDN loss needs a decoder that reads the latent alone (not ours-skip)"
        )

    def batch_loss(grey, ab, z, logits, means):
        value = mdn_loss(z, logits, means, variance)
        if loss == "shared-cast":
            value = value + shared_cast_loss(ab, means, decoder_for(grey), proxy, cast_weight)[0]
        elif loss != "latent":
            value = value + decoded_colour_loss(ab, means, decoder_for(grey), proxy)[0]
        return value

    def inputs(grey, ab, train: bool = False):
        with torch.no_grad():
            mu, logvar = vae.encode(ab, lab.grey_at_field_size(grey))
        features.train(train and end_to_end)
        with torch.set_grad_enabled(train and end_to_end):
            G = features.features(grey)
        return G, mu, logvar

    # A frozen trunk gives each photo the same inputs in every epoch: compute them once.
    cache = InputCache(len(sd.data.files)) if sd.keyed and not end_to_end else None

    def train_loss(grey, ab, keys):
        if cache is not None:
            G, mu, logvar = cache.get(keys, grey, ab, inputs)
        else:
            G, mu, logvar = inputs(grey, ab, train=True)
        return batch_loss(grey, ab, reparameterize(mu, logvar), *net(G))

    augment = _shifter(state, sd, shift if end_to_end else 0)

    def step(grey, ab, keys=None):
        grey, ab = augment(grey, ab)
        value = state.forward(lambda: train_loss(grey, ab, keys))
        optimizer_step(opt, value, "MDN loss")
        return {"loss": value.item()}

    def validate():
        acc = {"loss": 0.0, "eob": 0.0, "nearest": 0.0}
        n, first = 0, None
        for x in sd.val_batches():
            grey, ab = sd.to_net(x)
            G, mu, _ = inputs(grey, ab)
            logits, means = net(G)
            acc["loss"] += batch_loss(grey, ab, mu, logits, means).item() * len(x)
            # Error-of-best of the top means, decoded: the paper's Table 3 quantity.
            order = torch.argsort(logits, 1, descending=True)[:, :SCORED_MODES]
            top = torch.gather(means, 1, order[..., None].expand(-1, -1, means.shape[-1]))
            B, k, d = top.shape
            dec = decoder_for(grey)(top.reshape(B * k, d), k).view(B, k, 2, 64, 64)
            dec = lab.fit_modes_to_grey(dec, grey)  # as shown
            err = (dec - ab[:, None]).abs().mean((2, 3, 4))  # (B, k)
            acc["eob"] += err.min(1).values.sum().item()
            acc["nearest"] += ((means - mu[:, None]) ** 2).sum(-1).min(1).values.sum().item()
            n += B
            if first is None:
                first = (grey, ab, dec)
        preview = None
        if first is not None:
            grey, ab, dec = first
            preview = preview_grid(grey, [ab] + [dec[:, i] for i in range(min(3, dec.shape[1]))])
        return epoch_means(acc, n), preview

    yield from run_epochs(state, sd, lr, step, validate, keyed=cache is not None)
