"""(b) One slider per component: its share of a blend of the component means."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from divcolor_gui.core.latent_space import LatentSpace

from ..widgets import LabeledSlider


class BlendSliders(QWidget):
    latent_changed = Signal(object)  # (d,) float latent

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._space: LatentSpace | None = None
        self.sliders: list[LabeledSlider] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)

    def set_space(self, space: LatentSpace | None) -> None:
        for s in self.sliders:
            s.deleteLater()
        self.sliders = []
        self._space = space
        if space is None:
            return
        for i in range(space.k):
            s = LabeledSlider(f"#{i + 1}", 0.0, 1.0, 0.0, "{:.0%}", self)
            s.setToolTip(f"Share of component {i + 1} (weight {100 * space.weights[i]:.1f}%) in the blend")
            s.value_changed.connect(self._emit)
            self._layout.addWidget(s)
            self.sliders.append(s)
        self.reset(0)

    def reset(self, selected: int = 0) -> None:
        """All of one component, none of the others: the blend is that component's mean."""
        for i, s in enumerate(self.sliders):
            s.set_value(1.0 if i == selected else 0.0)

    def shares(self) -> np.ndarray:
        return np.array([s.value() for s in self.sliders])

    def latent(self) -> np.ndarray | None:
        return None if self._space is None else self._space.blend(self.shares())

    def _emit(self, *_args) -> None:
        z = self.latent()
        if z is not None:  # all shares at zero blend nothing: keep what is shown
            self.latent_changed.emit(z)
