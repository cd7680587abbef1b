"""One thumbnail in the strip: a colorization with its caption (the component's weight)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QToolButton, QWidget

from ..images import to_pixmap


class ThumbButton(QToolButton):
    def __init__(self, rgb: np.ndarray, caption: str, side: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setCheckable(True)
        self.setAutoRaise(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        self.set_content(rgb, caption)
        self.setMinimumWidth(side + 12)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # The checked one needs to stand out at a glance, whatever the platform style.
        self.setStyleSheet(
            "QToolButton { border: 3px solid transparent; border-radius: 4px; padding: 2px; }"
            "QToolButton:checked { border-color: palette(highlight); }"
        )

    def set_content(self, rgb: np.ndarray, caption: str) -> None:
        """A new colorization in the same place (the hinted modes after an edit)."""
        self.rgb = rgb
        self.setIcon(QIcon(to_pixmap(rgb)))
        # The thumbnail's own shape: a square icon box would leave a gap above the caption.
        h, w = rgb.shape[:2]
        self.setIconSize(QSize(w, h))
        self.setText(caption)
