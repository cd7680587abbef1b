"""The colour of a hint: one-click swatches with the colours the current modes give at the
hint's point, or any colour from the full picker."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SWATCH_PX = 36
COLUMNS = 4


def _swatch_icon(color: str, side: int = SWATCH_PX) -> QIcon:
    pix = QPixmap(side, side)
    pix.fill(QColor(color))
    return QIcon(pix)


class HintColorDialog(QDialog):
    def __init__(
        self,
        swatches: list[tuple[str, str]],
        current: str | None = None,
        parent: QWidget | None = None,
    ):
        """swatches: (label, "#rrggbb") per mode, best first; current: the hint's colour
        when recolouring."""
        super().__init__(parent)
        self.setWindowTitle("Hint colour")
        self._color: str | None = None
        self._current = current
        self.swatch_buttons: list[QToolButton] = []

        text = "Recolour the hint." if current else "What colour is it here?"
        if swatches:
            text += " The colorizations say:"
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(text, self))
        grid = QGridLayout()
        grid.setSpacing(4)
        for i, (label, color) in enumerate(swatches):
            b = QToolButton(self)
            b.setIcon(_swatch_icon(color))
            b.setIconSize(QSize(SWATCH_PX, SWATCH_PX))
            b.setText(label)
            b.setToolTip(f"{label}: {color}")
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setAutoRaise(True)
            b.clicked.connect(lambda _=False, c=color: self.choose(c))
            grid.addWidget(b, i // COLUMNS, i % COLUMNS)
            self.swatch_buttons.append(b)
        layout.addLayout(grid)
        self.picker_button = QPushButton("Other colour…", self)
        self.picker_button.setToolTip("Any colour (the photo keeps its own lightness)")
        self.picker_button.clicked.connect(self._pick)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        buttons.addButton(self.picker_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def choose(self, color: str) -> None:
        self._color = QColor(color).name()
        self.accept()

    def color(self) -> str | None:
        """The chosen "#rrggbb", or None when cancelled."""
        return self._color if self.result() == QDialog.DialogCode.Accepted else None

    def _pick(self) -> None:
        start = QColor(self._current or "#808080")
        c = QColorDialog.getColor(start, self, "Hint colour")
        if c.isValid():
            self.choose(c.name())

    @staticmethod
    def get_color(
        swatches: list[tuple[str, str]], current: str | None = None, parent: QWidget | None = None
    ) -> str | None:
        dlg = HintColorDialog(swatches, current, parent)
        dlg.exec()
        return dlg.color()
