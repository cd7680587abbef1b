"""Which model colorizes: the bundled ones and the user's own (trained in the Trainer tab or
copied into the user models folder), plus any file named on the command line."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget

from divcolor_gui.core.resources import available_models, bundled_models_dir, user_models_dir


class ModelPicker(QComboBox):
    model_chosen = Signal(str)  # path of the chosen model file

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setMinimumContentsLength(12)
        self._extra: dict[str, Path] = {}  # files named outside the model folders
        self.activated.connect(self._on_activated)
        self.refresh_models()

    def add_file(self, path: Path) -> None:
        """A model file outside the model folders (from --model): listed for this session."""
        path = Path(path).resolve()
        if path not in available_models().values():
            self._extra[path.stem] = path
        self.refresh_models()

    def refresh_models(self) -> None:
        """Re-read the model folders (a new model was saved); the selection stays if it still exists."""
        current = self.current_path()
        self.blockSignals(True)
        self.clear()
        bundled = bundled_models_dir().resolve()
        for name, path in available_models().items():
            where = "bundled" if path.resolve().parent == bundled else "yours"
            self.addItem(f"{name} ({where})", str(path.resolve()))
            self.setItemData(self.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
        for name, path in self._extra.items():
            if path.is_file():
                self.addItem(f"{name} (file)", str(path))
                self.setItemData(self.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
        if self.count() == 0:
            self.addItem("no model installed", None)
            self.setToolTip(
                f"No model yet: train one in the Trainer tab, or copy a .pt model file into {user_models_dir()}"
            )
            self.setEnabled(False)
        else:
            self.setToolTip("The model that colorizes")
            self.setEnabled(True)
        if current is not None:
            self.select(current, emit=False)
        self.blockSignals(False)

    def has_models(self) -> bool:
        return self.itemData(0) is not None

    def current_path(self) -> Path | None:
        data = self.currentData()
        return Path(data) if data else None

    def select(self, name_or_path: str | Path, emit: bool = False) -> bool:
        """Select by model name or file path; False when it is not in the list."""
        target = str(name_or_path)
        for i in range(self.count()):
            data = self.itemData(i)
            if data is None:
                continue
            if data == target or Path(data).stem == target or data == str(Path(target).resolve()):
                self.setCurrentIndex(i)
                if emit:
                    self.model_chosen.emit(data)
                return True
        return False

    def _on_activated(self, index: int) -> None:
        data = self.itemData(index)
        if data:
            self.model_chosen.emit(data)
