"""Choosing where the networks run."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .vocabulary import DEVICE_CHOICES

if TYPE_CHECKING:
    import torch


def cuda_works() -> bool:
    """True only when CUDA is present and a tiny kernel actually runs."""
    # torch is imported here, not above: the app imports this module before its window shows,
    # and torch loads after that (divcolor_gui/app/main_window.py).
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        (torch.ones(1, device="cuda") + 1).item()
        return True
    except Exception:
        return False


def cpu_has_bfloat16() -> bool:
    """True when this CPU does bfloat16 arithmetic in hardware (AVX-512 BF16 or AMX). Elsewhere
    oneDNN emulates it, slower than float32, so live decoding keeps float32 there."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # private in torch: a build without them says no
        return False


# pin_torch_threads: one pin at a time, and the count torch started with, read once.
_PIN_LOCK = threading.Lock()
_TORCH_DEFAULT_THREADS: int | None = None


def pin_torch_threads(share: int) -> int:
    """Run this thread's torch work on 1/share of torch's threads (at least one), leaving the
    count every other thread has, and starts new threads with, as it was; returns the count.

    For workers that run side by side, each on whole frames: on a 2-core CPU two
    single-threaded workers get through more frames than one worker on both cores, whose
    threads wait for each other at every op. `torch.set_num_threads` sets the calling
    thread's own count (OpenMP keeps one per thread) and also the default that threads
    take at their first parallel op; a short-lived thread puts that default back at once. A
    thread whose first torch op falls in that instant keeps the pinned count; the lock keeps
    two pins from reading each other's count as the default."""
    import torch

    global _TORCH_DEFAULT_THREADS
    with _PIN_LOCK:
        if _TORCH_DEFAULT_THREADS is None:
            _TORCH_DEFAULT_THREADS = torch.get_num_threads()
        default = _TORCH_DEFAULT_THREADS
        torch.get_num_threads()  # settles this thread's count now, so its first op does not reset it
        n = max(1, default // max(1, share))
        torch.set_num_threads(n)
        if n != default:
            restore = threading.Thread(target=torch.set_num_threads, args=(default,), name="torch-threads")
            restore.start()
            restore.join()
    return n


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    import torch

    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if cuda_works() else "cpu")
    if name.startswith("cuda"):
        if not cuda_works():
            raise ValueError("CUDA was asked for, but no working CUDA device is present (use --device cpu)")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {name!r}: use {', '.join(DEVICE_CHOICES)}")
