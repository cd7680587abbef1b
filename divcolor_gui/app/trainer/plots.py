"""Live loss curves: one pyqtgraph plot per stage, a line per loss term for training
(the running mean within each epoch, at every step) and dots for validation (once
per epoch). The y axis is logarithmic because the VAE's terms differ by 1000x."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

import pyqtgraph as pg  # isort: skip  (after PySide6, so it picks that binding)

from divcolor_gui.core.vocabulary import STAGE_ORDER, stage_title

if TYPE_CHECKING:
    from trainer.loop import Progress

# Fixed colours per term, so "hist" is the same colour in every run.
COLOURS = {
    "loss": (30, 30, 30),
    "hist": (31, 119, 180),
    "mah": (255, 127, 14),
    "grad": (44, 160, 44),
    "kl": (214, 39, 40),
    "l2": (148, 103, 189),
    "mae": (140, 86, 75),
    "eob": (227, 119, 194),
    "nearest": (23, 190, 207),
}
_SPARE = [(127, 127, 127), (188, 189, 34), (90, 90, 200)]
REDRAW_MS = 250  # step records come faster than a plot needs redrawing


def _colour(term: str) -> tuple[int, int, int]:
    if term not in COLOURS:
        COLOURS[term] = _SPARE[len(COLOURS) % len(_SPARE)]
    return COLOURS[term]


class _Series:
    def __init__(self) -> None:
        self.x: list[float] = []
        self.y: list[float] = []

    def add(self, x: float, y: float) -> None:
        if y > 0 and math.isfinite(y):  # a log axis cannot show the rest
            self.x.append(x)
            self.y.append(y)


class LossPlots(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.train: dict[str, dict[str, _Series]] = {}
        self.val: dict[str, dict[str, _Series]] = {}
        self._curves: dict[tuple[str, str, str], pg.PlotDataItem] = {}
        self._dirty: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        self.reset(STAGE_ORDER[1:])  # the VAE and MDN: what reusing a base model trains

    def reset(self, stages: tuple[str, ...]) -> None:
        for plot in self.plots.values():
            self._row.removeWidget(plot)
            plot.deleteLater()
        self.plots.clear()
        self.train.clear()
        self.val.clear()
        self._curves.clear()
        for stage in stages:
            plot = pg.PlotWidget(background="w")
            plot.setMinimumSize(200, 160)
            item = plot.getPlotItem()
            item.setTitle(f"<span style='color:#222'>{stage_title(stage)}</span>", size="10pt")
            item.setLogMode(y=True)
            # Long runs make 10^5 step points per term: draw what the pixels can show.
            item.setDownsampling(auto=True, mode="peak")
            item.setClipToView(True)
            item.showGrid(x=True, y=True, alpha=0.2)
            for ax in ("left", "bottom"):
                item.getAxis(ax).setPen(pg.mkPen("#444"))
                item.getAxis(ax).setTextPen(pg.mkPen("#222"))
            item.setLabel("bottom", "epoch")
            legend = item.addLegend(
                offset=(-4, 4), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 200)
            )
            legend.setLabelTextSize("8pt")
            self.plots[stage] = plot
            self.train[stage] = {}
            self.val[stage] = {}
            self._row.addWidget(plot, 1)

    def add(self, rec: Progress) -> None:
        if rec.stage not in self.plots:
            return
        if rec.kind == "step":
            x = rec.epoch - 1 + rec.step / max(rec.steps, 1)
            for term, v in rec.losses.items():
                self.train[rec.stage].setdefault(term, _Series()).add(x, v)
        elif rec.val:
            for term, v in rec.val.items():
                self.val[rec.stage].setdefault(term, _Series()).add(float(rec.epoch), v)
        self._dirty.add(rec.stage)
        if rec.kind == "epoch":
            self.redraw()  # at once: an epoch's validation point is what users wait for
        elif not self._timer.isActive():
            self._timer.start()

    def load_history(self, history: dict) -> None:
        """A resumed model's earlier epochs (per-epoch means from its file)."""
        for stage, epochs in history.items():
            if stage not in self.plots:
                continue
            for h in epochs:
                e = float(h.get("epoch", 0))
                for term, v in (h.get("train") or {}).items():
                    self.train[stage].setdefault(term, _Series()).add(e, v)
                for term, v in (h.get("val") or {}).items():
                    self.val[stage].setdefault(term, _Series()).add(e, v)
            self._dirty.add(stage)
        self.redraw()

    def redraw(self) -> None:
        for stage in self._dirty:
            item = self.plots[stage].getPlotItem()
            for kind, series in (("train", self.train[stage]), ("val", self.val[stage])):
                for term, s in series.items():
                    key = (stage, kind, term)
                    curve = self._curves.get(key)
                    if curve is None:
                        curve = self._new_curve(
                            item, kind, term, in_legend=kind == "train" or term not in self.train[stage]
                        )
                        self._curves[key] = curve
                    curve.setData(s.x, s.y)
        self._dirty.clear()

    @staticmethod
    def _new_curve(item: pg.PlotItem, kind: str, term: str, in_legend: bool) -> pg.PlotDataItem:
        c = _colour(term)
        name = (term if kind == "train" else f"{term} (val)") if in_legend else None
        if kind == "train":
            return item.plot(pen=pg.mkPen(c, width=1.5), name=name)
        return item.plot(
            pen=pg.mkPen(c, width=1, style=Qt.PenStyle.DashLine),
            symbol="o",
            symbolSize=6,
            symbolBrush=pg.mkBrush(c),
            symbolPen=pg.mkPen("w"),
            name=name,
        )

    def series(self, stage: str, kind: str = "train") -> dict[str, tuple[list[float], list[float]]]:
        """What is plotted, for tests and the log: term -> (x, y)."""
        src = (self.train if kind == "train" else self.val).get(stage, {})
        return {t: (s.x, s.y) for t, s in src.items()}
