"""(a) A slider between any two components: 0 is A's mean, 1 is B's."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from divcolor_gui.core.latent_space import LatentSpace

from ..widgets import LabeledSlider


class ABSlider(QWidget):
    latent_changed = Signal(object)  # (d,) float latent

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._space: LatentSpace | None = None
        self.a_combo = QComboBox(self)
        self.b_combo = QComboBox(self)
        self.slider = LabeledSlider("A ↔ B", 0.0, 1.0, 0.0, "{:.0%}", self)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("A", self))
        pick.addWidget(self.a_combo, 1)
        pick.addWidget(QLabel("B", self))
        pick.addWidget(self.b_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(pick)
        layout.addWidget(self.slider)
        self.slider.value_changed.connect(self._emit)
        self.a_combo.activated.connect(self._emit)
        self.b_combo.activated.connect(self._emit)
        self.setEnabled(False)

    def set_space(self, space: LatentSpace | None) -> None:
        self._space = space
        for combo in (self.a_combo, self.b_combo):
            combo.clear()
            if space is not None:
                combo.addItems([f"#{i + 1}  ({100 * w:.1f}%)" for i, w in enumerate(space.weights)])
        if space is not None and space.k > 1:
            self.a_combo.setCurrentIndex(0)
            self.b_combo.setCurrentIndex(1)
        self.slider.set_value(0.0)
        self.setEnabled(space is not None and space.k > 1)

    def set_ends(self, a: int, b: int) -> None:
        self.a_combo.setCurrentIndex(a)
        self.b_combo.setCurrentIndex(b)

    def reset(self, a: int = 0) -> None:
        if self._space is not None and self._space.k > 1:
            self.a_combo.setCurrentIndex(a)
            self.b_combo.setCurrentIndex(1 if a == 0 else 0)
        self.slider.set_value(0.0)

    def latent(self) -> np.ndarray | None:
        if self._space is None:
            return None
        return self._space.lerp(self.a_combo.currentIndex(), self.b_combo.currentIndex(), self.slider.value())

    def _emit(self, *_args) -> None:
        z = self.latent()
        if z is not None:
            self.latent_changed.emit(z)
