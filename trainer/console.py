"""Printing training progress on a terminal: a bar with losses and ETA."""

from __future__ import annotations

import sys
import time

from divcolor_gui.core.vocabulary import format_clock

from .data import ScanProgress
from .loop import Progress


def _bar(frac: float, width: int = 24) -> str:
    n = int(frac * width)
    return "#" * n + "." * (width - n)


def _losses(d: dict[str, float], keys: int = 5) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in list(d.items())[:keys])


class ConsoleProgress:
    """Redraws one line on a terminal; elsewhere (logs, CI) prints a line every few
    seconds and at every epoch end."""

    def __init__(self, stream=None, interval_s: float = 5.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval_s
        self.last = 0.0

    def _emit(self, line: str, final: bool) -> None:
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\033[K" + line + ("\n" if final else ""))
            self.stream.flush()
        elif final or now - self.last >= self.interval:
            self.last = now
            self.stream.write(line + "\n")
            self.stream.flush()

    def __call__(self, rec) -> None:
        if isinstance(rec, ScanProgress):
            frac = rec.done / max(rec.total, 1)
            self._emit(
                f"scan  [{_bar(frac)}] {rec.done}/{rec.total} photos, {rec.usable} usable, {rec.skipped} skipped",
                rec.done == rec.total,
            )
        elif isinstance(rec, Progress):
            frac = rec.step / max(rec.steps, 1)
            head = f"{rec.stage:<8} epoch {rec.epoch}/{rec.epochs} [{_bar(frac)}] {rec.step}/{rec.steps}"
            if rec.kind == "epoch":
                val = _losses(rec.val or {}, 7)
                self._emit(
                    f"{head} train: {_losses(rec.losses)} | val: {val} | {format_clock(rec.elapsed_s)}"
                    f" | {rec.images_per_s:.0f} images/s",
                    True,
                )
            else:
                self._emit(f"{head} {_losses(rec.losses)} ETA {format_clock(rec.eta_s)}", False)
