"""The large view with its controls: zoom out / in, fit, the tools' buttons (the hint tool),
and a press-and-hold Compare."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from ..widgets import ImageView


class PreviewPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = ImageView(self)

        self.zoom_out_button = QToolButton(self, text="−", toolTip="Zoom out (Ctrl+-)")
        self.zoom_in_button = QToolButton(self, text="+", toolTip="Zoom in (Ctrl++)")
        self.fit_button = QToolButton(self, text="Fit", toolTip="Fit the photo in the view (Ctrl+0)")
        self.zoom_label = QLabel("", self)
        self.zoom_label.setMinimumWidth(48)
        # Held, not toggled: comparing is a glance, and letting go always restores the result.
        self.compare_button = QPushButton("Compare (hold)", self)
        self.compare_button.setToolTip("Hold to see the input (the colour original, if the photo had colour)")
        self.compare_button.setEnabled(False)

        self.zoom_out_button.clicked.connect(self.view.zoom_out)
        self.zoom_in_button.clicked.connect(self.view.zoom_in)
        self.fit_button.clicked.connect(self.view.fit)
        self.compare_button.pressed.connect(lambda: self.view.set_comparing(True))
        self.compare_button.released.connect(lambda: self.view.set_comparing(False))
        self.view.zoom_changed.connect(self._show_zoom)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (self.zoom_out_button, self.zoom_in_button, self.fit_button, self.zoom_label):
            bar.addWidget(w)
        self._tools_at = bar.count()
        bar.addStretch(1)
        bar.addWidget(self.compare_button)
        self._bar = bar
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(bar)

    def add_tool_button(self, action: QAction) -> QToolButton:
        """A button for a tool's action (its text, check state and tooltip) after the zoom."""
        b = QToolButton(self)
        b.setDefaultAction(action)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self._bar.insertWidget(self._tools_at, b)
        self._tools_at += 1
        return b

    def set_compare_label(self, photo_is_colour: bool) -> None:
        what = "original" if photo_is_colour else "grey input"
        self.compare_button.setText(f"Compare with {what} (hold)")

    def _show_zoom(self, z: float) -> None:
        self.zoom_label.setText(f"{z * 100:.0f}%")
