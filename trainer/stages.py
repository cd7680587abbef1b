"""Training stages as plain generators.

Each stage yields `Progress` records (every step, and one per epoch with the
validation losses and a preview) and returns when its epochs are done. Stopping
the iteration (`close()`) is the cooperative cancel: it happens between steps,
never inside one. The caller (trainer.run) saves after every epoch record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from divcolor_gui.core import lab
from divcolor_gui.core.losses import LossWeights, colornet_loss, decoded_colour_loss, mdn_loss, vae_losses
from divcolor_gui.core.nets.vae import reparameterize
from divcolor_gui.core.stats import DatasetStats

from .data import FolderData


@dataclass
class Progress:
    stage: str  # "features", "vae", "mdn" (or a baseline's name)
    epoch: int  # 1-based epoch in progress (or just finished, for kind "epoch")
    epochs: int
    step: int  # 1-based step within the epoch
    steps: int
    losses: dict[str, float]  # running means over the epoch so far
    kind: str = "step"  # "step" or "epoch"
    val: dict[str, float] | None = None  # validation losses (kind "epoch")
    elapsed_s: float = 0.0  # since the stage started (this run)
    eta_s: float | None = None  # for the rest of the stage
    preview: np.ndarray | None = None  # (H, W, 3) uint8 grid of validation results


@dataclass
class StageState:
    """What a stage trains and what the runner saves: the network, its optimizer and
    how many epochs are done. Resuming passes the restored state back in."""

    name: str
    net: nn.Module
    optimizer: torch.optim.Optimizer
    epochs: int
    epochs_done: int = 0
    history: list[dict] = field(default_factory=list)  # per epoch: train and val means


@dataclass
class StageData:
    data: FolderData
    train_idx: np.ndarray
    val_idx: np.ndarray
    batch_size: int
    device: torch.device
    grey_size: int
    seed: int = 0

    def to_net(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 batch -> grey (B, 1, S, S), ab (B, 2, 64, 64) on the device, channels-last
        (on 2 CPU cores that alone makes the VAE train ~1.7x faster)."""
        grey, ab = lab.rgb_uint8_to_net(x.to(self.device, non_blocking=True), self.grey_size)
        cl = torch.channels_last
        return grey.contiguous(memory_format=cl), ab.contiguous(memory_format=cl)

    def train_batches(self, epoch: int):
        rng = np.random.default_rng(self.seed * 1000 + epoch)
        return self.data.batches(self.train_idx, self.batch_size, shuffle=True, rng=rng, flip=True)

    def val_batches(self):
        return self.data.batches(self.val_idx, self.batch_size, shuffle=False)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.train_idx) / self.batch_size))


def cosine_lr(base: float, epoch: int, epochs: int, floor: float = 0.1) -> float:
    """Per-epoch cosine decay to floor*base; a function of the epoch alone, so a
    resumed run continues on the same schedule."""
    t = epoch / max(1, epochs)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def _means(acc: dict[str, float], n: int) -> dict[str, float]:
    return {k: v / max(n, 1) for k, v in acc.items()}


def _run_epochs(
    state: StageState,
    sd: StageData,
    base_lr: float,
    train_step,  # (grey, ab) -> dict of float losses, after optimizer step
    validate,  # () -> (dict of float losses, preview or None)
) -> Generator[Progress, None, None]:
    t0 = time.monotonic()
    steps = sd.steps_per_epoch
    first = state.epochs_done
    for epoch in range(first, state.epochs):
        for g in state.optimizer.param_groups:
            g["lr"] = cosine_lr(base_lr, epoch, state.epochs)
        state.net.train()
        acc: dict[str, float] = {}
        for step, x in enumerate(sd.train_batches(epoch), 1):
            grey, ab = sd.to_net(x)
            losses = train_step(grey, ab)
            for k, v in losses.items():
                acc[k] = acc.get(k, 0.0) + v
            elapsed = time.monotonic() - t0
            done = (epoch - first) * steps + step
            remaining = (state.epochs - epoch) * steps - step
            yield Progress(
                state.name, epoch + 1, state.epochs, step, steps, _means(acc, step),
                elapsed_s=elapsed, eta_s=elapsed / done * remaining,
            )  # fmt: skip
        state.net.eval()
        with torch.no_grad():
            val, preview = validate()
        state.epochs_done = epoch + 1
        train_means = _means(acc, steps)
        state.history.append({"epoch": epoch + 1, "train": train_means, "val": val})
        elapsed = time.monotonic() - t0
        done = (epoch + 1 - first) * steps
        yield Progress(
            state.name, epoch + 1, state.epochs, steps, steps, train_means, kind="epoch", val=val,
            elapsed_s=elapsed, eta_s=elapsed / done * (state.epochs - epoch - 1) * steps, preview=preview,
        )  # fmt: skip


def _finite(t: torch.Tensor, what: str) -> None:
    if not torch.isfinite(t):
        raise FloatingPointError(f"{what} became {t.item()}: lower the learning rate or check the data")


def _preview_grid(L_net: torch.Tensor, ab_rows: list[torch.Tensor], n: int = 8) -> np.ndarray:
    """Rows of 64x64 tiles: each row one kind of result (grey, truth, prediction...)."""
    L = lab.F.interpolate(L_net[:n].float().cpu(), size=(64, 64), mode="area") * lab.L_CENTER + lab.L_CENTER
    rows = []
    for ab in ab_rows:
        labs = torch.cat([L, lab.net_to_ab(ab[:n].float().cpu())], 1)
        rgb = lab.lab_to_rgb(labs)  # (n, 3, 64, 64)
        rows.append(torch.cat(list(rgb), dim=2))  # (3, 64, n*64)
    grid = torch.cat(rows, dim=1)
    return (grid * 255 + 0.5).byte().permute(1, 2, 0).numpy()


# ----------------------------------------------------------------------------- stages


def train_features(state: StageState, sd: StageData, stats: DatasetStats, lr: float = 1e-3):
    """The grey-level feature network: per-pixel classification into the 313 bins."""
    net, opt = state.net, state.optimizer
    w = stats.bin_weights.to(sd.device)

    def step(grey, ab):
        loss = colornet_loss(net(grey), ab, w)
        _finite(loss, "feature network loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
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
            preview = _preview_grid(grey, [torch.zeros_like(ab), ab, pred])
        return {"loss": tot / max(n, 1)}, preview

    yield from _run_epochs(state, sd, lr, step, validate)


def annealed_mean(logits: torch.Tensor, T: float = 0.38) -> torch.Tensor:
    """Zhang et al.'s annealed-mean colour of the bin distribution: (B, 2, h, w) ab/128."""
    p = torch.softmax(logits.float() / T, dim=1)
    bins = torch.from_numpy(lab.AB_BINS).to(p.device) / lab.AB_SCALE  # (313, 2)
    return torch.einsum("bqhw,qc->bchw", p, bins)


def train_vae(
    state: StageState, sd: StageData, stats: DatasetStats, weights: LossWeights, lr: float = 1e-3,
):  # fmt: skip
    """Stage 1: the VAE (or the skip VAE, which also takes the grey image)."""
    net, opt = state.net, state.optimizer
    skip = hasattr(net, "grey_encoder")

    def forward(grey, ab):
        return net(ab, lab.grey_at_field_size(grey)) if skip else net(ab)

    def step(grey, ab):
        pred, mu, logvar = forward(grey, ab)
        terms = vae_losses(pred, ab, mu, logvar, stats, weights)
        _finite(terms["loss"], "VAE loss")
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        return {k: v.item() for k, v in terms.items()}

    def validate():
        acc: dict[str, float] = {}
        n, first = 0, None
        for x in sd.val_batches():
            grey, ab = sd.to_net(x)
            g64 = lab.grey_at_field_size(grey)
            mu, logvar = net.encode(ab, g64) if skip else net.encoder(ab)
            pred = net.decode(mu, g64) if skip else net.decoder(mu)  # z = mu: the reconstruction
            terms = vae_losses(pred, ab, mu, logvar, stats, weights)
            terms["mae"] = (pred - ab).abs().mean()
            for k, v in terms.items():
                acc[k] = acc.get(k, 0.0) + v.item() * len(x)
            n += len(x)
            if first is None:
                first = (grey, ab, pred)
        preview = _preview_grid(first[0], [first[1], first[2]]) if first else None
        return _means(acc, n), preview

    yield from _run_epochs(state, sd, lr, step, validate)


MDN_LOSSES = ("latent", "decoded")


def train_mdn(
    state: StageState, sd: StageData, features: nn.Module, vae: nn.Module, lr: float = 1e-3,
    loss: str = "latent", end_to_end: bool = False,
):  # fmt: skip
    """Stage 2: the MDN from grey features to the VAE's embedding.

    loss "latent" is the paper's: the component nearest z, drawn afresh from the VAE's
    posterior at every step. "decoded" adds best-of-K on the decoded colours
    (losses.decoded_colour_loss), which trains the means for error-of-best directly;
    it decodes every component at every step, so an epoch takes several times longer.

    end_to_end also trains the feature network's trunk through the MDN's loss (the
    caller's optimizer holds both networks' parameters): features learned for the goal
    itself rather than for the 313-bin classification, which carries little of a
    photo's colour (docs/quality.md).
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
    skip = hasattr(vae, "grey_encoder")

    def decoder_for(grey):
        """decode(z, r) of losses.decoded_colour_loss for this batch's grey images."""
        g64 = lab.grey_at_field_size(grey) if skip else None
        return lambda z, r: vae.decode(z, g64.repeat_interleave(r, 0) if skip else None)

    def batch_loss(grey, ab, z, logits, means):
        value = mdn_loss(z, logits, means, variance)
        if loss == "decoded":
            value = value + decoded_colour_loss(ab, means, decoder_for(grey))[0]
        return value

    def inputs(grey, ab, train: bool = False):
        with torch.no_grad():
            mu, logvar = vae.encode(ab, lab.grey_at_field_size(grey)) if skip else vae.encoder(ab)
        features.train(train and end_to_end)
        with torch.set_grad_enabled(train and end_to_end):
            G = features.features(grey)
        return G, mu, logvar

    def step(grey, ab):
        G, mu, logvar = inputs(grey, ab, train=True)
        value = batch_loss(grey, ab, reparameterize(mu, logvar), *net(G))
        _finite(value, "MDN loss")
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        return {"loss": value.item()}

    def validate():
        acc = {"loss": 0.0, "eob": 0.0, "nearest": 0.0}
        n, first = 0, None
        for x in sd.val_batches():
            grey, ab = sd.to_net(x)
            G, mu, _ = inputs(grey, ab)
            logits, means = net(G)
            acc["loss"] += batch_loss(grey, ab, mu, logits, means).item() * len(x)
            # Error-of-best of the top 5 means, decoded: the paper's Table 3 quantity.
            order = torch.argsort(logits, 1, descending=True)[:, :5]
            top = torch.gather(means, 1, order[..., None].expand(-1, -1, means.shape[-1]))
            B, k, d = top.shape
            dec = decoder_for(grey)(top.reshape(B * k, d), k).view(B, k, 2, 64, 64)
            err = (dec - ab[:, None]).abs().mean((2, 3, 4))  # (B, k)
            acc["eob"] += err.min(1).values.sum().item()
            acc["nearest"] += ((means - mu[:, None]) ** 2).sum(-1).min(1).values.sum().item()
            n += B
            if first is None:
                first = (grey, ab, dec)
        preview = None
        if first is not None:
            grey, ab, dec = first
            preview = _preview_grid(grey, [ab] + [dec[:, i] for i in range(min(3, dec.shape[1]))])
        return _means(acc, n), preview

    yield from _run_epochs(state, sd, lr, step, validate)
