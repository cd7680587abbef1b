"""The ranked strip: one thumbnail per MDN component, heaviest first and labelled with its
weight, then (after "More like this") samples drawn around the chosen component."""

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

    def set_components(self, thumbs: list[np.ndarray], weights: np.ndarray) -> None:
        """Thumbnails in rank order (heaviest first); the heaviest becomes selected."""
        self.clear()
        self._placeholder.setVisible(False)
        for i, (rgb, w) in enumerate(zip(thumbs, weights)):
            b = ThumbButton(rgb, f"#{i + 1}  {100 * float(w):.1f}%", self.side, self.widget())
            b.setToolTip(f"Component {i + 1} of {len(thumbs)}: weight {100 * float(w):.2f}%")
            b.clicked.connect(lambda _=False, i=i: self.component_clicked.emit(i))
            self._group.addButton(b)
            self._row.insertWidget(self._row.count() - 1, b)
            self.components.append(b)
        if self.components:
            self.components[0].setChecked(True)

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
