"""(c) One slider per latent coordinate, along directions ordered by importance: first the
principal directions of the component means (where the colorizations differ most), then the
remaining orthonormal directions. A slider's value is the latent's coordinate along it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from divcolor_gui.core.latent_space import LatentSpace

from ..widgets import LabeledSlider


class LatentSliders(QWidget):
    latent_changed = Signal(object)  # (d,) float latent

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._space: LatentSpace | None = None
        self._z: np.ndarray | None = None
        self._stale = False  # the sliders lag self._z (set while the panel is folded away)
        self.sliders: list[LabeledSlider] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(1)

    def set_space(self, space: LatentSpace | None) -> None:
        for s in self.sliders:
            s.deleteLater()
        self.sliders = []
        self._space = space
        self._z = None
        if space is None:
            return
        for i in range(space.dim):
            if i < space.n_principal:
                name = f"PC{i + 1}"
                tip = f"Principal direction {i + 1} of the components: {100 * space.importance[i]:.1f}% of their spread"
            else:
                name = f"dir {i + 1}"
                tip = "A direction in which the components agree: changes here are the model's own"
            s = LabeledSlider(name, float(space.lo[i]), float(space.hi[i]), 0.0, "{:+.2f}", self)
            s.setToolTip(tip)
            s.value_changed.connect(lambda v, i=i: self._moved(i, v))
            self._layout.addWidget(s)
            self.sliders.append(s)

    def show_latent(self, z: np.ndarray) -> None:
        """Mirror a latent chosen elsewhere (a thumbnail, another slider) without emitting.

        While the panel is folded away the sliders are brought up to date only when it opens:
        moving 64 sliders on every step of another slider's drag costs the GUI thread (and,
        through the GIL, the decoder) more than the drag itself."""
        if self._space is None:
            return
        self._z = np.asarray(z, dtype=np.float64).copy()
        self._stale = True
        if self.isVisible():
            self._sync()

    def _sync(self) -> None:
        if self._space is None or self._z is None or not self._stale:
            return
        self._stale = False
        for s, c in zip(self.sliders, self._space.coords(self._z)):
            s.set_value(float(c))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._sync()
        super().showEvent(event)

    def _moved(self, i: int, value: float) -> None:
        if self._space is None or self._z is None:
            return
        self._z = self._space.with_coord(self._z, i, value)
        self.latent_changed.emit(self._z.copy())
