"""The user's own trained models, with Rename and Delete (each asks first)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from divcolor_gui.core.model_files import delete_model, rename_model, user_models
from divcolor_gui.core.resources import card_path, resume_path, user_models_dir

from ..widgets import confirm


def _describe(path: Path) -> tuple[str, str]:
    """(one line for the list, tooltip): from the file and its card, without loading
    the weights (a paper-size model is hundreds of MB)."""
    st = path.stat()
    when = _dt.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M")
    line = f"{path.stem}    {st.st_size / 1e6:.1f} MB · {when}"
    card = card_path(path)
    tip = str(path)
    if card.is_file():
        text = card.read_text(encoding="utf-8", errors="replace")
        tip = text
        if "stopped early" in text:
            line += " · stopped early"
    elif resume_path(path).exists():
        line += " · in progress"
    return line, tip


class ModelList(QWidget):
    changed = Signal(str)  # the path of a renamed (its new path) or deleted model

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._busy: str | None = None  # the model being trained: not renamed or deleted under it
        self.list = QListWidget()
        self.list.setMinimumHeight(80)
        self.list.currentItemChanged.connect(self._update_buttons)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self.delete_selected)
        self.open_button = QPushButton("Show folder")
        self.open_button.setToolTip(str(user_models_dir()))
        self.open_button.clicked.connect(self._open_folder)
        self.empty = QLabel("No models trained yet.")
        self.empty.setStyleSheet("color: gray;")
        buttons = QHBoxLayout()
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.empty)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        self.refresh()

    def refresh(self, select: Path | None = None) -> None:
        current = select or self.selected()
        self.list.clear()
        for path in user_models():
            try:
                line, tip = _describe(path)
            except OSError:
                continue  # deleted while listing
            item = QListWidgetItem(line)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(tip)
            self.list.addItem(item)
            if current is not None and path == current:
                self.list.setCurrentItem(item)
        self.empty.setVisible(self.list.count() == 0)
        self.open_button.setToolTip(str(user_models_dir()))
        self._update_buttons()

    def names(self) -> list[str]:
        return [Path(self.list.item(i).data(Qt.ItemDataRole.UserRole)).stem for i in range(self.list.count())]

    def select(self, name: str) -> None:
        for i in range(self.list.count()):
            if Path(self.list.item(i).data(Qt.ItemDataRole.UserRole)).stem == name:
                self.list.setCurrentRow(i)

    def selected(self) -> Path | None:
        item = self.list.currentItem()
        return Path(item.data(Qt.ItemDataRole.UserRole)) if item else None

    def set_busy(self, name: str | None) -> None:
        self._busy = name
        self._update_buttons()

    def _update_buttons(self, *_: object) -> None:
        path = self.selected()
        ok = path is not None and path.stem != self._busy
        self.rename_button.setEnabled(ok)
        self.delete_button.setEnabled(ok)
        if path is not None and not ok:
            self.rename_button.setToolTip("It is being trained")
        else:
            self.rename_button.setToolTip("")

    def rename_selected(self) -> None:
        path = self.selected()
        if path is None or path.stem == self._busy:
            return
        new_name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=path.stem)
        if not ok or not new_name.strip() or new_name.strip() == path.stem:
            return
        try:
            new = rename_model(path, new_name)
        except (ValueError, OSError) as e:
            QMessageBox.warning(self, "Cannot rename", f"Cannot rename {path.stem!r}: {e}")
            return
        self.refresh(select=new)
        self.changed.emit(str(new))

    def delete_selected(self) -> None:
        path = self.selected()
        if path is None or path.stem == self._busy:
            return
        if not confirm(
            self,
            "Delete model",
            f"Delete the model {path.stem!r} and its card? This cannot be undone.",
        ):
            return
        try:
            delete_model(path)
        except OSError as e:
            QMessageBox.warning(self, "Cannot delete", f"Cannot delete {path.stem!r}: {e}")
        self.refresh()
        self.changed.emit(str(path))

    def _open_folder(self) -> None:
        d = user_models_dir()
        d.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(d)))
