"""One colour hint drawn over the photo: a small disc of its colour in a black and a white
ring (visible on any background), the same size on screen at every zoom; the selected hint
gets a wider dashed ring."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

RADIUS_PX = 7.0  # the disc, in screen pixels
SELECTED_PX = 12.0  # the selection ring


class HintMarker(QGraphicsItem):
    def __init__(self, color: str, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self._color = QColor(color)
        self._selected = False
        # Constant size on screen; the position still follows the photo (the parent's scale).
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)

    def set_color(self, color: str) -> None:
        self._color = QColor(color)
        self.update()

    def color(self) -> str:
        return self._color.name()

    def set_selected(self, on: bool) -> None:
        if on != self._selected:
            self._selected = on
            self.update()

    def is_selected(self) -> bool:
        return self._selected

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        r = SELECTED_PX + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(
        self, painter: QPainter, _option: QStyleOptionGraphicsItem, _widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        centre = QPointF(0, 0)
        if self._selected:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0), 4))
            painter.drawEllipse(centre, SELECTED_PX, SELECTED_PX)
            painter.setPen(QPen(QColor(255, 255, 255), 2, Qt.PenStyle.DashLine))
            painter.drawEllipse(centre, SELECTED_PX, SELECTED_PX)
        painter.setPen(QPen(QColor(0, 0, 0), 1.5))
        painter.setBrush(QBrush(QColor(255, 255, 255)))
        painter.drawEllipse(centre, RADIUS_PX + 2, RADIUS_PX + 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(self._color))
        painter.drawEllipse(centre, RADIUS_PX, RADIUS_PX)
