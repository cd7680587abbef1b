"""The latent explorer: every control yields a latent that is decoded live.

(a) A<->B between two components, (b) a blend of the means by share, (c) coordinates along
directions ordered by importance (folded away), (d) "More like this" samples around the
selected component. Reset returns to the components."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from divcolor_gui.core.latent_space import LatentSpace

from ..widgets import Collapsible
from .ab_slider import ABSlider
from .blend_sliders import BlendSliders
from .latent_sliders import LatentSliders


class LatentExplorer(QWidget):
    latent_changed = Signal(object)  # (d,) latent to decode
    more_like_this = Signal()
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.ab = ABSlider(self)
        self.blend = BlendSliders(self)
        self.coords = LatentSliders()
        self.more_button = QPushButton("More like this", self)
        self.more_button.setToolTip("New colorizations sampled around the selected component")
        self.reset_button = QPushButton("Reset", self)
        self.reset_button.setToolTip(
            "Back to the components: the selected one, sliders at rest, samples gone"
        )

        ab_box = QGroupBox("Between two components", self)
        QVBoxLayout(ab_box).addWidget(self.ab)
        blend_box = QGroupBox("Blend of components", self)
        QVBoxLayout(blend_box).addWidget(self.blend)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.coords)
        scroll.setMinimumHeight(220)
        self.coords_panel = Collapsible("Latent coordinates", scroll, expanded=False, parent=self)

        buttons = QHBoxLayout()
        buttons.addWidget(self.more_button)
        buttons.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(ab_box)
        layout.addWidget(blend_box)
        layout.addWidget(self.coords_panel)
        layout.addStretch(1)

        self.ab.latent_changed.connect(self._from_generator)
        self.blend.latent_changed.connect(self._from_generator)
        self.coords.latent_changed.connect(self.latent_changed)
        self.more_button.clicked.connect(self.more_like_this)
        self.reset_button.clicked.connect(self.reset_requested)
        self.set_space(None)

    def set_space(self, space: LatentSpace | None) -> None:
        self.space = space
        self.ab.set_space(space)
        self.blend.set_space(space)
        self.coords.set_space(space)
        if space is not None:
            title = f"Latent coordinates ({space.dim}, by importance)"
            self.coords_panel.toggle.setText(title)
            self.show_latent(space.mean(0))
        for w in (self.more_button, self.reset_button, self.blend, self.coords_panel):
            w.setEnabled(space is not None)

    def show_latent(self, z: np.ndarray) -> None:
        """Mirror the shown latent into the coordinate sliders."""
        self.coords.show_latent(z)

    def reset(self, selected: int = 0) -> None:
        """Controls back at rest around component `selected` (emits nothing)."""
        self.ab.reset(selected)
        self.blend.reset(selected)
        if self.space is not None:
            self.show_latent(self.space.mean(selected))

    def _from_generator(self, z: np.ndarray) -> None:
        # The coordinate sliders follow whatever latent the other controls make, so they
        # always start from what is on screen.
        self.coords.show_latent(z)
        self.latent_changed.emit(z)
