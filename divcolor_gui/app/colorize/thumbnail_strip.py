"""The ranked strip: one thumbnail per MDN component, heaviest first and labelled with its
weight (or, with colour hints, one per hinted mode, best first, with the weight of the
component it started from), then (after "More like this") samples drawn around the chosen one."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QFrame, QHBoxLayout, QLabel, QScrollArea, QWidget

from .thumb_button import ThumbButton


class ThumbnailStrip(QScrollArea):
    component_clicked = Signal(int)  # rank, 0 = heaviest
    sample_clicked = Signal(int)  # index into the current samples

    def __init__(self, side: int = 128, parent: QWidget | None = None):
        super().__init__(parent)
        self.side = side
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget(self)
        self._row = QHBoxLayout(inner)
        self._row.setContentsMargins(2, 2, 2, 2)
        self._row.setSpacing(4)
        self._row.addStretch(1)
        self.setWidget(inner)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self.components: list[ThumbButton] = []
        self.samples: list[ThumbButton] = []
        self._samples_label: QLabel | None = None
        self._placeholder = QLabel(
            "Open a photo (File › Open, or drop it here) to see its colorizations.", inner
        )
        self._placeholder.setStyleSheet("color: palette(mid); padding: 12px;")
        self._row.insertWidget(0, self._placeholder)
        self._fit_height()
        self._scroll_to_end = False
        self.horizontalScrollBar().rangeChanged.connect(self._on_range_changed)

    def _on_range_changed(self, _lo: int, hi: int) -> None:
        if self._scroll_to_end:
            self._scroll_to_end = False
            self.horizontalScrollBar().setValue(hi)

    def _fit_height(self) -> None:
        # Icon, caption, borders and a horizontal scroll bar.
        self.setFixedHeight(self.side + self.fontMetrics().height() + 44)

    def set_placeholder(self, text: str) -> None:
        self._placeholder.setText(text)
        self._placeholder.setVisible(bool(text) and not self.components)

    def clear(self) -> None:
        self.clear_samples()
        for b in self.components:
            self._group.removeButton(b)
            b.deleteLater()
        self.components = []
        self._placeholder.setVisible(bool(self._placeholder.text()))

    def set_components(
        self, thumbs: list[np.ndarray], weights: np.ndarray, components: list[int] | None = None
    ) -> None:
        """Thumbnails in rank order (heaviest first); the heaviest becomes selected.

        With `components` (the component each hinted mode started from) they are hinted
        modes, best first: the same number of them replaces the pictures in place, keeping
        the selection, so a live re-solve does not flicker."""
        if components is not None and len(thumbs) == len(self.components):
            self.clear_samples()
            for i, (b, rgb, w, k) in enumerate(zip(self.components, thumbs, weights, components)):
                b.set_content(rgb, self._caption(i, w, k))
                b.setToolTip(self._tip(i, len(thumbs), w, k))
            return
        self.clear()
        self._placeholder.setVisible(False)
        for i, (rgb, w) in enumerate(zip(thumbs, weights)):
            k = None if components is None else components[i]
            b = ThumbButton(rgb, self._caption(i, w, k), self.side, self.widget())
            b.setToolTip(self._tip(i, len(thumbs), w, k))
            b.clicked.connect(lambda _=False, i=i: self.component_clicked.emit(i))
            self._group.addButton(b)
            self._row.insertWidget(self._row.count() - 1, b)
            self.components.append(b)
        if self.components:
            self.components[0].setChecked(True)

    @staticmethod
    def _caption(i: int, w: float, component: int | None) -> str:
        if component is None:
            return f"#{i + 1}  {100 * float(w):.1f}%"
        return f"#{i + 1}  hinted {100 * float(w):.0f}%"

    @staticmethod
    def _tip(i: int, n: int, w: float, component: int | None) -> str:
        if component is None:
            return f"Component {i + 1} of {n}: weight {100 * float(w):.2f}%"
        return (
            f"Hinted mode {i + 1} of {n}, best first: found from component {component + 1} "
            f"(weight {100 * float(w):.2f}%) to agree with the hints"
        )

    def set_samples(self, thumbs: list[np.ndarray], component: int) -> None:
        self.clear_samples()
        self._samples_label = QLabel(f"Like #{component + 1}:", self.widget())
        self._row.insertWidget(self._row.count() - 1, self._samples_label)
        for i, rgb in enumerate(thumbs):
            b = ThumbButton(rgb, f"sample {i + 1}", self.side, self.widget())
            b.setToolTip(f"A sample from component {component + 1}'s Gaussian")
            b.clicked.connect(lambda _=False, i=i: self.sample_clicked.emit(i))
            self._group.addButton(b)
            self._row.insertWidget(self._row.count() - 1, b)
            self.samples.append(b)
        # The samples join the end of the strip: scroll there once the strip has grown.
        self._scroll_to_end = bool(self.samples)

    def clear_samples(self) -> None:
        for b in self.samples:
            self._group.removeButton(b)
            b.deleteLater()
        self.samples = []
        if self._samples_label is not None:
            self._samples_label.deleteLater()
            self._samples_label = None

    def select_component(self, i: int) -> None:
        if 0 <= i < len(self.components):
            self.components[i].setChecked(True)

    def select_sample(self, i: int) -> None:
        if 0 <= i < len(self.samples):
            self.samples[i].setChecked(True)

    def selected_component(self) -> int:
        for i, b in enumerate(self.components):
            if b.isChecked():
                return i
        return -1
