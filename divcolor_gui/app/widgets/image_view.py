"""The large view: one image, zoomed with the wheel or buttons, panned by dragging, and a
second image (the grey input or colour original) swapped in while Compare is held. Items
drawn over the photo (the colour hints) go into `overlay()`, whose coordinates are the
photo's own pixels whatever the size of the image shown."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from ..images import to_pixmap

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0


class ImageView(QGraphicsView):
    zoom_changed = Signal(float)  # displayed pixels per photo pixel

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._scene.addItem(self._item)
        # Photo pixels -> shown pixels: a scaled, empty parent for what is drawn over the photo.
        self._overlay = QGraphicsRectItem()
        self._overlay.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents)
        self._overlay.setZValue(1)
        self._scene.addItem(self._overlay)
        self.setScene(self._scene)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        # Drops belong to the tab around us (open a photo), not to the scene.
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self._main = QPixmap()
        self._compare = QPixmap()
        self._comparing = False
        self._fit = True  # keep fitting on resize until the user zooms
        self._photo_width = 1  # the full-resolution width, so zoom is reported in photo pixels

    # ------------------------------------------------------------------ content
    def set_image(self, rgb: np.ndarray, photo_width: int | None = None, fit: bool = False) -> None:
        """Show a new result; the zoom and pan stay unless `fit` or the size changed."""
        pix = to_pixmap(rgb)
        resized = pix.size() != self._main.size()
        self._main = pix
        if photo_width:
            self._photo_width = photo_width
        self._overlay.setScale(pix.width() / max(1, self._photo_width))
        if not self._comparing:
            self._item.setPixmap(pix)
        if fit or resized:
            self._scene.setSceneRect(self._item.boundingRect())
            self.fit()

    def set_compare_image(self, rgb: np.ndarray | None) -> None:
        self._compare = to_pixmap(rgb) if rgb is not None else QPixmap()

    def clear(self) -> None:
        self._main = QPixmap()
        self._compare = QPixmap()
        self._item.setPixmap(QPixmap())

    def has_image(self) -> bool:
        return not self._main.isNull()

    def set_comparing(self, on: bool) -> None:
        """Show the compare image instead of the result (while the button is held)."""
        self._comparing = on and not self._compare.isNull()
        self._item.setPixmap(self._compare if self._comparing else self._main)

    def shown_pixmap(self) -> QPixmap:
        return self._item.pixmap()

    # ------------------------------------------------------------------ the photo's coordinates
    def overlay(self) -> QGraphicsItem:
        """The parent of items drawn over the photo; its coordinates are photo pixels."""
        return self._overlay

    def to_photo(self, pos: QPoint | QPointF) -> QPointF:
        """A point of the viewport -> the photo's pixels (as opened)."""
        return self._overlay.mapFromScene(self.mapToScene(QPointF(pos).toPoint()))

    def from_photo(self, pos: QPointF) -> QPointF:
        """A point of the photo (its pixels) -> the viewport."""
        return QPointF(self.mapFromScene(self._overlay.mapToScene(pos)))

    def set_panning(self, on: bool) -> None:
        """Dragging pans the view (the default), or is left to a tool (the hint tool)."""
        if on:
            self.viewport().unsetCursor()
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)  # sets its open hand
        else:
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)

    # ------------------------------------------------------------------ zoom
    def zoom(self) -> float:
        """Displayed pixels per full-resolution photo pixel."""
        shown = max(1, self._main.width())
        return self.transform().m11() * shown / max(1, self._photo_width)

    def fit(self) -> None:
        self._fit = True
        if not self._main.isNull():
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom())

    def zoom_by(self, factor: float) -> None:
        current = self.transform().m11()
        target = min(MAX_ZOOM, max(MIN_ZOOM, current * factor))
        if current > 0 and target != current:
            self._fit = False
            self.scale(target / current, target / current)
            self.zoom_changed.emit(self.zoom())

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP**steps)
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        if self._fit:
            self.fit()
