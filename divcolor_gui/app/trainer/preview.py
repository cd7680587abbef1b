"""The grid of validation colorizations, refreshed every epoch: the truth and what
the stage being trained makes of the same grey photos."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from divcolor_gui.core.vocabulary import stage_title

from ..images import to_pixmap

ROW_NAMES = {
    # The rows trainer.stages puts in its preview grid, top to bottom.
    "features": ["grey input", "true colours", "feature network's colours"],
    "vae": ["true colours", "VAE reconstruction"],
    "mdn": ["true colours", "MDN's 1st choice", "2nd choice", "3rd choice"],
}


class PreviewGrid(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel("Validation photos appear here after each epoch.")
        self.caption.setWordWrap(True)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image.setMinimumSize(128, 4 * 64)  # the MDN's grid, 4 rows of 64x64 tiles, unshrunk
        self._pixmap: QPixmap | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.caption)
        lay.addWidget(self.image, 1)

    def clear(self) -> None:
        self._pixmap = None
        self.image.clear()
        self.caption.setText("Validation photos appear here after each epoch.")

    def set_preview(self, stage: str, epoch: int, grid: np.ndarray) -> None:
        """grid: (H, W, 3) uint8, rows of 64x64 tiles as trainer.stages makes them."""
        self._pixmap = to_pixmap(grid)
        rows = ROW_NAMES.get(stage, [])
        n_rows = grid.shape[0] // 64
        names = " · ".join(rows[:n_rows]) if len(rows) >= n_rows else f"{n_rows} rows"
        self.caption.setText(f"<b>{stage_title(stage)}, epoch {epoch}</b> — rows: {names}")
        self._rescale()

    def has_preview(self) -> bool:
        return self._pixmap is not None

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        box: QSize = self.image.size()
        pm = self._pixmap
        # Whole-number enlargement keeps the 64x64 tiles crisp; shrink smoothly if needed.
        k = min(box.width() // max(pm.width(), 1), box.height() // max(pm.height(), 1))
        if k >= 1:
            self.image.setPixmap(pm.scaled(pm.width() * k, pm.height() * k))
        else:
            self.image.setPixmap(
                pm.scaled(box, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            )

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._rescale()
