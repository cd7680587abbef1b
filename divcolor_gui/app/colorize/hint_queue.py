"""Solving the colour hints live: every edit of the hints asks for a solve, of which only the
latest waiting one runs (decode_queue.LatestOnlyQueue, the live decoder's pattern), off the
GUI thread. The photo's HintSolver (under a second to set up on 2 CPU cores: the decoder
linearised around the component means, core/hints.py) is made in that worker the first time it
is needed, once per opened photo; every solve after it takes milliseconds (`divcolor bench`).

While hints exist the latent tools work from the hinted modes: `hinted_analysis` puts their
latents where the analysis keeps its component means, and `HintedColorizer` adds the hints'
local correction to everything it decodes, so a slider, a sample or an export between hinted
modes still meets the hints where the latent alone cannot.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..tasks import TaskRunner
from .decode_queue import LatestOnlyQueue

if TYPE_CHECKING:
    import torch

    from divcolor_gui.core.colorizer import Analysis, Colorizer
    from divcolor_gui.core.hints import Hint, HintedMode, HintSolver


class _SolverBox:
    """One photo's HintSolver, made in the solve worker the first time it is asked for (the
    queue's one worker runs one job at a time, so it is made once)."""

    def __init__(self, colorizer: Colorizer, analysis: Analysis):
        self.colorizer, self.analysis = colorizer, analysis
        self._solver: HintSolver | None = None
        self.setup_s = 0.0

    def get(self) -> HintSolver:
        if self._solver is None:
            # Imported here, not at the top: torch (which core.hints needs) loads after the
            # window shows, and this runs in the solve worker.
            from divcolor_gui.core.hints import HintSolver

            t0 = time.perf_counter()
            self._solver = HintSolver(self.colorizer, self.analysis)
            self.setup_s = time.perf_counter() - t0
        return self._solver


@dataclass
class SolverReady:
    token: int
    seconds: float  # the set-up (0 when it was already made)


@dataclass
class SolveResult:
    token: int
    hints: list[Hint]
    modes: list[HintedMode]  # best objective first
    thumbs: list[np.ndarray]  # one per mode, at thumbnail size
    selected: int  # the rank whose preview was rendered
    preview: np.ndarray  # (h, w, 3) that mode at preview size
    correct: Callable[[torch.Tensor], torch.Tensor]  # the hints' local correction of a field
    seconds: float  # solve and render
    setup_s: float  # the solver's set-up, when this solve made it


def warm_up_job(box: _SolverBox, token: int) -> SolverReady:
    made = box._solver is None
    box.get()
    return SolverReady(token, box.setup_s if made else 0.0)


def solve_job(
    box: _SolverBox, hints: list[Hint], selected: int, thumb_side: int, preview_side: int, token: int
) -> SolveResult:
    made = box._solver is None
    solver = box.get()
    t0 = time.perf_counter()
    modes = solver.solve(hints)
    c, a = box.colorizer, box.analysis
    thumbs = [c.render(a, m.field, max_side=thumb_side) for m in modes]
    selected = max(0, min(selected, len(modes) - 1))
    preview = c.render(a, modes[selected].field, max_side=preview_side)
    return SolveResult(
        token, list(hints), modes, thumbs, selected, preview, solver.correction(hints),
        time.perf_counter() - t0, box.setup_s if made else 0.0,
    )  # fmt: skip


class HintedColorizer:
    """A Colorizer whose decodes get the hints' local correction; everything else is the
    colorizer's own. Handed to the latent tools' jobs (live decoding, samples, export of
    the top modes) while hints exist, so they need no hint-aware variants."""

    def __init__(self, colorizer: Colorizer, correct: Callable[[torch.Tensor], torch.Tensor]):
        self.colorizer, self.correct = colorizer, correct

    def decode(self, z, analysis: Analysis | None = None, exact: bool = False) -> torch.Tensor:
        import torch

        fields = self.colorizer.decode(z, analysis, exact)
        with torch.inference_mode():
            return self.correct(fields)

    def __getattr__(self, name: str):
        return getattr(self.colorizer, name)


def hinted_analysis(analysis: Analysis, modes: list[HintedMode]) -> Analysis:
    """The analysis with the hinted modes in place of its components: their latents as the
    means, ranked as solved, each with the weight of the component it started from."""
    import torch

    return dataclasses.replace(
        analysis,
        means=torch.stack([m.z for m in modes]).float(),
        weights=np.asarray([analysis.weights[m.component] for m in modes]),
    )


class SolveQueue(LatestOnlyQueue):
    """Hint solves for the open photo: a SolveResult (or SolverReady) on `ready`."""

    preparing = Signal()  # a request will first set the photo's solver up (a second or two)

    def __init__(self, runner: TaskRunner, parent: QObject | None = None):
        super().__init__(runner, parent)
        self._box: _SolverBox | None = None
        self._sides = (128, 1024)

    def set_target(
        self, colorizer: Colorizer | None, analysis: Analysis | None, thumb_side: int, preview_side: int
    ) -> None:
        """A new photo (or model): its solver is made again when first needed."""
        same = self._box is not None and self._box.analysis is analysis and self._box.colorizer is colorizer
        if not same:
            self._box = _SolverBox(colorizer, analysis) if colorizer and analysis else None
        self._sides = (thumb_side, preview_side)
        self.invalidate()

    @property
    def ready_to_solve(self) -> bool:
        """The solver is made: a solve takes milliseconds."""
        return self._box is not None and self._box._solver is not None

    def warm_up(self) -> None:
        """Make the solver now (the hint tool was switched on), unless it is made or coming."""
        if self._box is None or self.ready_to_solve or self.busy:
            return
        self.preparing.emit()
        self.submit(partial(warm_up_job, self._box))

    def request(self, hints: list[Hint], selected: int) -> None:
        if self._box is None:
            return
        if not self.ready_to_solve and not self.busy:
            self.preparing.emit()
        self.submit(partial(solve_job, self._box, list(hints), selected, *self._sides))
