"""A horizontal slider over a float range, with a name and its value beside it.

`set_value` moves it without emitting, so code that mirrors the current latent into the
sliders never triggers a decode of its own."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

STEPS = 1000


class LabeledSlider(QWidget):
    value_changed = Signal(float)  # only on the user's moves

    def __init__(
        self,
        name: str,
        lo: float = 0.0,
        hi: float = 1.0,
        value: float = 0.0,
        fmt: str = "{:.2f}",
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self._lo, self._hi, self._fmt = lo, hi, fmt
        self.name_label = QLabel(name, self)
        self.name_label.setMinimumWidth(64)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, STEPS)
        self.slider.setPageStep(STEPS // 10)
        self.value_label = QLabel(self)
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.value_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("-00.00%") + 4)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.name_label)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.value_label)
        self.set_value(value)
        self.slider.valueChanged.connect(self._moved)

    def value(self) -> float:
        return self._lo + (self._hi - self._lo) * self.slider.value() / STEPS

    def set_value(self, v: float) -> None:
        span = self._hi - self._lo
        pos = 0 if span <= 0 else round((v - self._lo) / span * STEPS)
        self.slider.blockSignals(True)
        self.slider.setValue(max(0, min(STEPS, pos)))
        self.slider.blockSignals(False)
        self.value_label.setText(self._fmt.format(v))

    def _moved(self, _pos: int) -> None:
        v = self.value()
        self.value_label.setText(self._fmt.format(v))
        self.value_changed.emit(v)
