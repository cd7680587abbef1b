"""Training on several processes: torchrun's environment, PyTorch's DistributedDataParallel,
and the few collective steps the loop needs.

`torchrun --nproc-per-node N -m divcolor_gui train ...` starts N copies of the same command.
Each reads its place from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE), joins one process group (NCCL on CUDA, Gloo on the CPU) and trains its
share of every global batch; DDP averages the gradients, so every process holds the same
networks after every step. Rank 0 alone writes the model, its resume file and the log.
A plain `divcolor train` is rank 0 of 1, where every helper here does nothing.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
import torch.nn as nn

T = TypeVar("T")

# A rank that waits longer than this in a collective gives up with an error rather than
# hang for ever (torchrun also ends the others as soon as one rank fails).
COLLECTIVE_TIMEOUT = _dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0  # among the processes on this machine
    local_world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


SINGLE = Ranks()


def ranks_from_env(env: dict[str, str] | None = None) -> Ranks:
    """The place torchrun gave this process; one process of one without torchrun."""
    env = os.environ if env is None else env
    world = int(env.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Ranks(
        rank=int(env["RANK"]), world=world, local_rank=int(env.get("LOCAL_RANK", "0")),
        local_world=int(env.get("LOCAL_WORLD_SIZE", str(world))),
    )  # fmt: skip


def start(ranks: Ranks, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, Gloo on the CPU); returns this rank's device:
    on CUDA, the GPU of its local rank."""
    if not ranks.distributed or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    return device


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def reduce_means(ranks: Ranks, means: dict[str, float], n: float) -> dict[str, float]:
    """Means over all ranks of per-rank means, each weighted by its rank's count n: the
    mean a single process would have computed over the union of the shards."""
    if not ranks.distributed or not means:
        return means
    keys = list(means)  # the same order on every rank: the same code made them
    t = torch.tensor([means[k] * n for k in keys] + [float(n)], dtype=torch.float64)
    dist.all_reduce(t)
    total = max(t[-1].item(), 1e-12)
    return {k: t[i].item() / total for i, k in enumerate(keys)}


def broadcast(ranks: Ranks, obj: T) -> T:
    """Rank 0's obj, on every rank (pickled: for small things such as a decision)."""
    if not ranks.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class _Step(nn.Module):
    """What DistributedDataParallel wraps: the networks one stage trains. Its forward runs
    one step's loss computation (a closure over those networks), so DDP sees the forward of
    every step, whichever methods of the networks it calls, and averages every gradient in
    the backward that follows."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, compute: Callable[[], T]) -> T:
        return compute()


def step_forward(
    nets: list[nn.Module], ranks: Ranks, device: torch.device, precision: str = "fp32"
) -> Callable[[Callable[[], T]], T]:
    """forward(compute) for a stage's training step: compute() under DDP where the run
    has several processes, and under bf16 autocast where asked."""
    ddp = None
    if ranks.distributed:
        # find_unused_parameters: a step may leave some parameters out (the feature
        # network's bin head when the MDN trains it end to end; one half of the cGAN).
        ddp = nn.parallel.DistributedDataParallel(
            _Step(nets),
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    bf16 = precision == "bf16"

    def forward(compute: Callable[[], T]) -> T:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return ddp(compute) if ddp is not None else compute()

    return forward


def direct(compute: Callable[[], T]) -> T:
    """The single-process, full-precision forward."""
    return compute()
