"""One progress bar per training stage (and one for reading the photos), each with
its epoch, step and time left."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from divcolor_gui.core.vocabulary import STAGE_ORDER, STAGE_TITLES, format_clock

if TYPE_CHECKING:
    from trainer.data import ScanProgress
    from trainer.loop import Progress

ROWS = {"scan": "Photos", **{s: STAGE_TITLES[s] for s in STAGE_ORDER}}
SCALE = 1000  # progress bars count in thousandths of a stage


class StageProgress(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setColumnStretch(1, 1)
        self.bars: dict[str, QProgressBar] = {}
        self.notes: dict[str, QLabel] = {}
        self._names: dict[str, QLabel] = {}
        self._done: dict[str, int] = {}  # stage -> epochs finished (this model, resumes included)
        self._elapsed: dict[str, float] = {}
        for row, (key, title) in enumerate(ROWS.items()):
            name = QLabel(title)
            bar = QProgressBar()
            bar.setRange(0, SCALE)
            bar.setValue(0)
            bar.setFormat("waiting")
            note = QLabel("")
            note.setMinimumWidth(170)
            grid.addWidget(name, row, 0)
            grid.addWidget(bar, row, 1)
            grid.addWidget(note, row, 2)
            self._names[key], self.bars[key], self.notes[key] = name, bar, note

    def reset(self, stages: tuple[str, ...], reused: str | None = None) -> None:
        """A new run of `stages`; `reused` names the base model when the feature
        network is reused rather than trained."""
        self._done.clear()
        self._elapsed.clear()
        for key in ROWS:
            bar, note = self.bars[key], self.notes[key]
            bar.setRange(0, SCALE)
            bar.setValue(0)
            bar.setFormat("waiting")
            note.setText("")
            shown = key == "scan" or key in stages or (key == "features" and reused is not None)
            for w in (self._names[key], bar, note):
                w.setVisible(shown)
        if reused is not None and "features" not in stages:
            self.bars["features"].setValue(SCALE)
            self.bars["features"].setFormat(f"reused from {reused}")
            self.notes["features"].setText("frozen")

    def on_scan(self, rec: ScanProgress) -> None:
        bar = self.bars["scan"]
        bar.setValue(int(SCALE * rec.done / max(rec.total, 1)))
        bar.setFormat(f"{rec.done}/{rec.total} read · {rec.usable} usable · {rec.skipped} skipped")
        self.notes["scan"].setText("done" if rec.done >= rec.total else "reading…")

    def on_progress(self, rec: Progress) -> None:
        bar = self.bars.get(rec.stage)
        if bar is None:
            return
        if self.notes["scan"].text() != "done":  # a cached folder yields no scan records
            self.bars["scan"].setValue(SCALE)
            self.bars["scan"].setFormat("ready")
            self.notes["scan"].setText("done")
        frac = ((rec.epoch - 1) * rec.steps + rec.step) / max(rec.epochs * rec.steps, 1)
        bar.setValue(int(SCALE * frac))
        bar.setFormat(f"epoch {rec.epoch}/{rec.epochs} · step {rec.step}/{rec.steps}")
        self._elapsed[rec.stage] = rec.elapsed_s
        if rec.kind == "epoch":
            self._done[rec.stage] = rec.epoch
        if rec.kind == "epoch" and rec.epoch >= rec.epochs:
            bar.setFormat(f"done: {rec.epochs} epochs")
            self.notes[rec.stage].setText(f"took {format_clock(rec.elapsed_s)}")
        else:
            self.notes[rec.stage].setText(
                f"{format_clock(rec.elapsed_s)} so far · {format_clock(rec.eta_s)} left"
            )

    def epochs_done(self, stage: str) -> int:
        """Epochs of `stage` finished (and saved) in this run, as reported."""
        return self._done.get(stage, 0)

    def mark_stopped(self, why: str) -> None:
        """The run ended early: the stage it was in (or about to start) says so instead
        of a stale time left."""
        if self.notes["scan"].text() == "reading…":
            self.notes["scan"].setText(why)
            return
        for key in STAGE_ORDER:
            bar, note = self.bars[key], self.notes[key]
            if not bar.isVisibleTo(self) or bar.format().startswith(("done", "reused")):
                continue
            done = self._done.get(key)
            note.setText(f"{why}; {done} epochs kept" if done else why)
            return
