"""The training loop every stage and method runs, and its small pure helpers.

A stage is a generator: `run_epochs` drives its epochs, calls the stage's `train_step`
on every batch and its `validate` once per epoch, and yields `Progress` records (every
step, and one per epoch with the validation losses and a preview). Stopping the iteration
(`close()`) is the cooperative cancel: it happens between steps, never inside one. The
runner (trainer.run) saves after every epoch record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DistributedSampler

from divcolor_gui.core import lab

from .data import FolderData, PhotoFolder, batch_plan
from .distributed import SINGLE, Ranks, direct, reduce_means


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
    images_per_s: float = 0.0  # training photos a second over the stage so far, all processes, data included


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
    # Runs one training step's loss computation: under DDP and bf16 autocast where the run
    # asks for them (distributed.step_forward), else as it is.
    forward: Callable = direct


@dataclass
class StageData:
    data: PhotoFolder
    train_idx: np.ndarray
    val_idx: np.ndarray
    batch_size: int
    device: torch.device
    grey_size: int
    seed: int = 0
    ranks: Ranks = SINGLE  # several processes share each global batch of batch_size photos

    def to_net(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 batch -> grey (B, 1, S, S), ab (B, 2, 64, 64) on the device, channels-last
        (on 2 CPU cores that alone makes the VAE train ~1.7x faster)."""
        grey, ab = lab.rgb_uint8_to_net(x.to(self.device, non_blocking=True), self.grey_size)
        cl = torch.channels_last
        return grey.contiguous(memory_format=cl), ab.contiguous(memory_format=cl)

    @property
    def local_batch_size(self) -> int:
        """This process's part of each global batch."""
        return max(1, self.batch_size // self.ranks.world)

    def epoch_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """This process's training photos for an epoch, in order, and which to flip.

        One global order for the epoch (DistributedSampler's, from the seed and the epoch),
        dealt round-robin: the k-th local batches of all processes together are the k-th
        batch a single process would take, so any number of processes (a resumed run's
        too) trains on the same global batches. Each photo's flip is drawn once per epoch."""
        n = len(self.train_idx)
        sampler = DistributedSampler(
            range(n), self.ranks.world, self.ranks.rank, shuffle=True, seed=self.seed
        )
        sampler.set_epoch(epoch)
        pos = np.fromiter(iter(sampler), dtype=np.int64)
        gen = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        flips = (torch.rand(n, generator=gen) < 0.5).numpy()
        return self.train_idx[pos], flips[pos]

    def train_batches(self, epoch: int):
        order, flips = self.epoch_order(epoch)
        return self.data.batches(order, self.local_batch_size, shuffle=False, flips=flips)

    @property
    def keyed(self) -> bool:
        """Whether train_keys can name each batch's photos: not for a streamed folder,
        whose batches drop photos found unusable."""
        return isinstance(self.data, FolderData)

    def train_keys(self, epoch: int):
        """The (photo indices, flips) of each batch train_batches gives, in order."""
        order, flips = self.epoch_order(epoch)
        return batch_plan(order, self.local_batch_size, shuffle=False, flips=flips)

    @property
    def val_shard(self) -> np.ndarray:
        """This process's validation photos (all of them in a single-process run)."""
        return self.val_idx[self.ranks.rank :: self.ranks.world]

    def val_batches(self):
        return self.data.batches(self.val_shard, self.batch_size, shuffle=False)

    @property
    def steps_per_epoch(self) -> int:
        per_rank = math.ceil(len(self.train_idx) / self.ranks.world)
        return max(1, math.ceil(per_rank / self.local_batch_size))


def cosine_lr(base: float, epoch: int, epochs: int, floor: float = 0.1) -> float:
    """Per-epoch cosine decay towards floor*base, which t = epoch / epochs reaches one epoch
    past the last (8 epochs end at 0.13 x base); a function of the epoch alone, so a resumed
    run continues on the same schedule."""
    t = epoch / max(1, epochs)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def epoch_means(acc: dict[str, float], n: int) -> dict[str, float]:
    return {k: v / max(n, 1) for k, v in acc.items()}


def run_epochs(
    state: StageState,
    sd: StageData,
    base_lr: float,
    train_step: Callable[[torch.Tensor, torch.Tensor], dict[str, float]],  # after the optimizer step
    validate: Callable[[], tuple[dict[str, float], np.ndarray | None]],  # losses, preview
    keyed: bool = False,  # train_step(grey, ab, keys): each batch's sd.train_keys too
) -> Generator[Progress, None, None]:
    t0 = time.monotonic()
    steps = sd.steps_per_epoch
    first = state.epochs_done
    for epoch in range(first, state.epochs):
        for g in state.optimizer.param_groups:
            g["lr"] = cosine_lr(base_lr, epoch, state.epochs)
        state.net.train()
        acc: dict[str, float] = {}
        keys = sd.train_keys(epoch) if keyed and sd.keyed else None
        for step, x in enumerate(sd.train_batches(epoch), 1):
            grey, ab = sd.to_net(x)
            losses = train_step(grey, ab, next(keys)) if keys is not None else train_step(grey, ab)
            for k, v in losses.items():
                acc[k] = acc.get(k, 0.0) + v
            # never 0: a coarse clock (Windows' ticks 15.6 ms) can read the same after a fast step
            elapsed = max(time.monotonic() - t0, 1e-9)
            done = (epoch - first) * steps + step
            remaining = (state.epochs - epoch) * steps - step
            yield Progress(
                state.name, epoch + 1, state.epochs, step, steps, epoch_means(acc, step),
                elapsed_s=elapsed, eta_s=elapsed / done * remaining, images_per_s=done * sd.batch_size / elapsed,
            )  # fmt: skip
        state.net.eval()
        with torch.no_grad():
            val, preview = validate()
        # Every process's figures, as one process would have them over all the photos.
        val = reduce_means(sd.ranks, val, len(sd.val_shard))
        state.epochs_done = epoch + 1
        train_means = reduce_means(sd.ranks, epoch_means(acc, steps), steps)
        state.history.append({"epoch": epoch + 1, "train": train_means, "val": val})
        elapsed = max(time.monotonic() - t0, 1e-9)
        done = (epoch + 1 - first) * steps
        yield Progress(
            state.name, epoch + 1, state.epochs, steps, steps, train_means, kind="epoch", val=val,
            elapsed_s=elapsed, eta_s=elapsed / done * (state.epochs - epoch - 1) * steps, preview=preview,
            images_per_s=done * sd.batch_size / elapsed,
        )  # fmt: skip


def check_finite(t: torch.Tensor, what: str) -> None:
    if not torch.isfinite(t):
        raise FloatingPointError(f"{what} became {t.item()}: lower the learning rate or check the data")


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, what: str) -> None:
    """One step on `loss`: refuse a non-finite value (naming `what`), clear, back-propagate, step."""
    check_finite(loss, what)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def preview_grid(L_net: torch.Tensor, ab_rows: list[torch.Tensor], n: int = 8) -> np.ndarray:
    """Rows of 64x64 tiles: each row one kind of result (grey, truth, prediction...), fitted
    to the gamut as the app renders them."""
    L = lab.net_to_l(lab.F.interpolate(L_net[:n].float().cpu(), size=(64, 64), mode="area"))
    rows = []
    for ab in ab_rows:
        labs = torch.cat([L, lab.net_to_ab(lab.fit_gamut(ab[:n].float().cpu(), L))], 1)
        rgb = lab.lab_to_rgb(labs)  # (n, 3, 64, 64)
        rows.append(torch.cat(list(rgb), dim=2))  # (3, 64, n*64)
    grid = torch.cat(rows, dim=1)
    return (grid * 255 + 0.5).byte().permute(1, 2, 0).numpy()
