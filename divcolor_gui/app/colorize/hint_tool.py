"""The hint tool on the large view: the user says "this is blue" and every mode follows.

With the tool on (H, or its button under the view) a click on the photo adds a hint: a
colour chooser opens with the colours the current modes give at that point, plus a full
picker. Dragging a hint moves it, clicking it recolours it, a right-click (or Delete on the
selected hint) deletes it. Every edit is a command on a QUndoStack (Ctrl+Z, Ctrl+Shift+Z),
and every change of the hints (live while dragging) is announced on `hints_changed`, which
the tab answers with a solve (hint_queue.py).

Hints are kept in the photo's own pixels (as opened), whatever the size of the image shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QMouseEvent, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QWidget

from ..widgets import ImageView
from .hint_color_dialog import HintColorDialog
from .hint_marker import RADIUS_PX, HintMarker

if TYPE_CHECKING:
    from divcolor_gui.core.hints import Hint

HIT_PX = RADIUS_PX + 5  # a press this close to a hint (screen pixels) takes that hint
DRAG_PX = 3  # a press that moves further than this is a drag, not a click


class _SetHints(QUndoCommand):
    """Every edit is one of these: the hints before and after (add, move, recolour, delete,
    clear all read the same way)."""

    def __init__(self, tool: HintTool, before: list[Hint], after: list[Hint], text: str, select: int = -1):
        super().__init__(text)
        self._tool, self._before, self._after, self._select = tool, list(before), list(after), select

    def redo(self) -> None:
        self._tool._apply(self._after, self._select)

    def undo(self) -> None:
        self._tool._apply(self._before)


class HintTool(QObject):
    hints_changed = Signal(list)  # list[Hint], after every change (live during a drag)
    active_changed = Signal(bool)  # the tool was switched on or off
    message = Signal(str)  # a line for the status bar

    def __init__(self, view: ImageView, parent: QWidget):
        super().__init__(parent)
        self.view = view
        self.hints: list[Hint] = []
        self.markers: list[HintMarker] = []
        self.selected = -1
        self._size: tuple[int, int] | None = None  # the photo's (W, H); None: nothing to hint
        self._press: tuple[int, QPointF, list[Hint]] | None = None  # hint index (-1), where, before
        self._dragging = False
        # (x, y) in photo pixels -> [(label, "#rrggbb"), ...]: the modes' colours there (the tab's).
        self.swatches: Callable[[float, float], list[tuple[str, str]]] = lambda _x, _y: []
        # (x, y, current colour or None) -> the chosen colour or None; a dialog (tests replace it).
        self.choose_color: Callable[[float, float, str | None], str | None] = self._ask_color

        self.stack = QUndoStack(self)
        self.toggle_action = QAction("&Hint tool", parent)
        self.toggle_action.setCheckable(True)
        self.toggle_action.setShortcut(QKeySequence("H"))
        self.toggle_action.setToolTip(
            "Colour hints (H): click the photo to say what colour a place is; drag a hint to move it, "
            "click it to recolour it, right-click (or Delete) to remove it"
        )
        self.toggle_action.setStatusTip("Click the photo to add a colour hint")
        self.clear_action = QAction("C&lear hints", parent)
        self.clear_action.setToolTip("Remove every hint (undoable)")
        self.undo_action = self.stack.createUndoAction(parent, "&Undo")
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = self.stack.createRedoAction(parent, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for a in self.actions():
            # Only while the Colorize tab has the focus: the Trainer tab keeps its own keys.
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            parent.addAction(a)
        self.toggle_action.toggled.connect(self._on_toggled)
        self.clear_action.triggered.connect(self.clear)
        view.viewport().installEventFilter(self)
        view.installEventFilter(self)
        self.set_photo(None)

    def actions(self) -> list[QAction]:
        return [self.toggle_action, self.clear_action, self.undo_action, self.redo_action]

    # ------------------------------------------------------------------ state
    def is_active(self) -> bool:
        return self.toggle_action.isChecked()

    @property
    def has_photo(self) -> bool:
        """Whether there is a photo to hint (set_photo was given its size)."""
        return self._size is not None

    def set_active(self, on: bool) -> None:
        self.toggle_action.setChecked(on and self._size is not None)

    def set_photo(self, size: tuple[int, int] | None, hints: list[Hint] | None = None) -> None:
        """A new photo (W, H), or None when there is nothing to hint (no photo, no model): its
        hints replace the current ones, and the undo history starts again."""
        self._size = size
        self.stack.clear()
        self._press, self._dragging = None, False
        self.toggle_action.setEnabled(size is not None)
        self._apply(list(hints or []) if size else [])  # also enables Clear hints when there are some
        if size is None:
            self.set_active(False)

    def clear(self) -> None:
        if self.hints:
            self.stack.push(_SetHints(self, self.hints, [], "Clear hints"))
            self.message.emit("Hints cleared (Ctrl+Z brings them back)")

    def _apply(self, hints: list[Hint], select: int = -1) -> None:
        """Show these hints; announce them when they changed."""
        changed = list(hints) != self.hints
        self.hints = list(hints)
        overlay = self.view.overlay()
        while len(self.markers) > len(self.hints):
            m = self.markers.pop()
            m.setParentItem(None)
            if m.scene() is not None:
                m.scene().removeItem(m)
        while len(self.markers) < len(self.hints):
            self.markers.append(HintMarker("#000000", overlay))
        for m, h in zip(self.markers, self.hints):
            m.setPos(h.x + 0.5, h.y + 0.5)  # the centre of the hint's pixel
            m.set_color(h.color)
        self._select(select if select >= 0 else (self.selected if self.selected < len(self.hints) else -1))
        self.clear_action.setEnabled(self._size is not None and bool(self.hints))
        if changed:
            self.hints_changed.emit(list(self.hints))

    def _select(self, i: int) -> None:
        self.selected = i
        for j, m in enumerate(self.markers):
            m.set_selected(j == i)

    # ------------------------------------------------------------------ geometry
    def photo_point(self, pos: QPointF) -> tuple[float, float] | None:
        """A viewport point -> the photo pixel (x, y) under it, or None off the photo."""
        if self._size is None:
            return None
        p = self.view.to_photo(pos)
        W, H = self._size
        if not (0 <= p.x() < W and 0 <= p.y() < H):
            return None
        return float(math.floor(p.x())), float(math.floor(p.y()))

    def _clamped_point(self, pos: QPointF) -> tuple[float, float]:
        p = self.view.to_photo(pos)
        W, H = self._size
        return float(min(W - 1, max(0, math.floor(p.x())))), float(min(H - 1, max(0, math.floor(p.y()))))

    def hint_at(self, pos: QPointF) -> int:
        """The hint drawn under a viewport point (the nearest), or -1."""
        best, best_d = -1, HIT_PX
        for i, h in enumerate(self.hints):
            q = self.view.from_photo(QPointF(h.x + 0.5, h.y + 0.5))
            d = math.hypot(q.x() - pos.x(), q.y() - pos.y())
            if d <= best_d:
                best, best_d = i, d
        return best

    # ------------------------------------------------------------------ editing
    def _ask_color(self, x: float, y: float, current: str | None) -> str | None:
        return HintColorDialog.get_color(self.swatches(x, y), current, self.view.window())

    def add_at(self, x: float, y: float) -> bool:
        """Ask for a colour and add a hint at photo pixel (x, y); False when cancelled."""
        pending = HintMarker("#808080", self.view.overlay())  # where, while the chooser is open
        pending.setPos(x + 0.5, y + 0.5)
        pending.set_selected(True)
        try:
            color = self.choose_color(x, y, None)
        finally:
            pending.setParentItem(None)
            if pending.scene() is not None:
                pending.scene().removeItem(pending)
        if not color:
            return False
        # core.hints is imported where a hint is made, not at the top: it needs torch, which
        # loads after the window shows.
        from divcolor_gui.core.hints import make_hint

        hint = make_hint(x, y, color)
        self.stack.push(_SetHints(self, self.hints, [*self.hints, hint], "Add hint", len(self.hints)))
        self.message.emit(f"Hint {len(self.hints)}: {color} at ({x:g}, {y:g})")
        return True

    def recolour(self, i: int) -> bool:
        h = self.hints[i]
        color = self.choose_color(h.x, h.y, h.color)
        if not color or color.lower() == h.color:
            return False
        from divcolor_gui.core.hints import make_hint

        after = list(self.hints)
        after[i] = make_hint(h.x, h.y, color, h.radius)
        self.stack.push(_SetHints(self, self.hints, after, "Recolour hint", i))
        return True

    def delete(self, i: int) -> None:
        if 0 <= i < len(self.hints):
            after = self.hints[:i] + self.hints[i + 1 :]
            self.stack.push(_SetHints(self, self.hints, after, "Delete hint"))
            self._select(-1)

    # ------------------------------------------------------------------ events
    def _on_toggled(self, on: bool) -> None:
        self.view.set_panning(not on)
        if not on:
            self._press, self._dragging = None, False
        self.active_changed.emit(on)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if not self.is_active() or self._size is None:
            return False
        t = event.type()
        if obj is self.view:
            if t == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
                if self.selected >= 0:
                    self.delete(self.selected)
                    return True
            if t == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape and self.selected >= 0:
                self._select(-1)
                return True
            return False
        if t == QEvent.Type.MouseButtonPress:
            return self._on_press(event)
        if t == QEvent.Type.MouseMove:
            return self._on_move(event)
        if t == QEvent.Type.MouseButtonRelease:
            return self._on_release(event)
        return t == QEvent.Type.MouseButtonDblClick  # no double-click zoom or the like here

    def _on_press(self, event: QMouseEvent) -> bool:
        pos = event.position()
        hit = self.hint_at(pos)
        self.view.setFocus(Qt.FocusReason.MouseFocusReason)  # Delete and Ctrl+Z go to the tab
        if event.button() == Qt.MouseButton.RightButton:
            if hit >= 0:
                self.delete(hit)
            return True
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        if hit < 0 and self.photo_point(pos) is None:
            self._select(-1)
            return True
        self._press = (hit, pos, list(self.hints))
        self._dragging = False
        self._select(hit)
        return True

    def _on_move(self, event: QMouseEvent) -> bool:
        if self._press is None or not (event.buttons() & Qt.MouseButton.LeftButton):
            return False
        hit, start, before = self._press
        pos = event.position()
        if hit < 0:
            return True
        if not self._dragging and (pos - start).manhattanLength() <= DRAG_PX:
            return True
        self._dragging = True
        from divcolor_gui.core.hints import make_hint

        x, y = self._clamped_point(pos)
        h = before[hit]
        moved = list(self.hints)
        moved[hit] = make_hint(x, y, h.color, h.radius)
        self._apply(moved, hit)  # live: solved while dragging, one command when let go
        return True

    def _on_release(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return event.button() == Qt.MouseButton.LeftButton
        hit, start, before = self._press
        self._press = None
        if self._dragging:
            self._dragging = False
            if self.hints != before:
                self.stack.push(_SetHints(self, before, self.hints, "Move hint", hit))
            return True
        if hit >= 0:
            self.recolour(hit)
            return True
        point = self.photo_point(start)
        if point is not None:
            self.add_at(*point)
        return True
