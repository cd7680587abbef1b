"""The main window: menus, the Colorize and Trainer tabs, and the status bar. It only wires
the tabs together; each tab does its own work. Built by small `_setup_*` methods, one per
part, in the order __init__ lists them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from divcolor_gui.core.resources import user_config_dir
from divcolor_gui.core.settings import Settings

from .colorize import ColorizeTab

DEFAULT_SIZE = (1280, 820)


def _trainer_tab(parent: QWidget) -> QWidget:
    """The Trainer tab when its module is installed, otherwise a label saying so."""
    try:
        from .trainer import TrainerTab
    except ImportError as e:
        label = QLabel(
            f"The trainer is not available in this build ({e}).\nUse `divcolor train` instead.", parent
        )
        label.setWordWrap(True)
        label.setMargin(24)
        return label
    return TrainerTab(parent)


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: Settings,
        model_override: str | None = None,
        remember_geometry: bool = True,
        cuda: bool | None = None,
    ):
        super().__init__()
        self.settings = settings
        self.setWindowTitle("divcolor")
        self._remember_geometry = remember_geometry
        self._setup_tabs(model_override, cuda)
        self._setup_status_bar()
        self._setup_menus()
        self.setAcceptDrops(True)
        self._restore_geometry()
        if settings.problem:
            self.statusBar().showMessage(f"Settings ignored: {settings.problem}", 15_000)

    # ------------------------------------------------------------------ tabs
    def _setup_tabs(self, model_override: str | None, cuda: bool | None) -> None:
        self.tabs = QTabWidget(self)
        self.colorize = ColorizeTab(self.settings, model_override, self, cuda=cuda)
        self.trainer = _trainer_tab(self)
        self.tabs.addTab(self.colorize, "Colorize")
        self.tabs.addTab(self.trainer, "Trainer")
        self.setCentralWidget(self.tabs)
        # A model saved by the trainer shows up in the picker at once.
        if hasattr(self.trainer, "model_saved"):
            self.trainer.model_saved.connect(self._on_model_saved)

    # ------------------------------------------------------------------ menus
    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        return a

    def _setup_menus(self) -> None:
        c = self.colorize
        self.open_action = self._action(
            "&Open…", c.open_dialog, QKeySequence.StandardKey.Open, "Open a photo"
        )
        self.export_action = self._action(
            "&Export…", c.export_current, "Ctrl+E", "Save the shown colorization at full resolution"
        )
        self.export_all_action = self._action(
            "Export &all top-k…",
            c.export_all,
            "Ctrl+Shift+E",
            "Save the heaviest colorizations into a folder",
        )
        self.copy_action = self._action(
            "&Copy colorization",
            c.copy_to_clipboard,
            "Ctrl+Shift+C",
            "Copy the shown colorization, full resolution",
        )
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        for a in (self.export_action, self.export_all_action, self.copy_action):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        edit = self.menuBar().addMenu("&Edit")
        hints = c.hint_tool
        edit.addAction(hints.undo_action)
        edit.addAction(hints.redo_action)
        edit.addSeparator()
        edit.addAction(hints.toggle_action)
        edit.addAction(hints.clear_action)

        view = self.menuBar().addMenu("&View")
        v = c.preview.view
        view.addAction(self._action("Zoom &in", v.zoom_in, QKeySequence.StandardKey.ZoomIn))
        view.addAction(self._action("Zoom &out", v.zoom_out, QKeySequence.StandardKey.ZoomOut))
        view.addAction(self._action("&Fit", v.fit, "Ctrl+0"))

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&About divcolor", self._about))
        self._fill_recent()
        c.state_changed.connect(self._update_actions)
        self._update_actions()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings["recent_files"]
        for path in recent:
            a = self.recent_menu.addAction(Path(path).name)
            a.setToolTip(path)
            a.setStatusTip(path)
            a.triggered.connect(lambda _=False, p=path: self._open_recent(p))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", lambda: self.settings.set("recent_files", []))

    def _open_recent(self, path: str) -> None:
        if not Path(path).exists():
            self.settings.remove_recent(path)
            QMessageBox.warning(
                self, "Cannot open the photo", f"{path}: no such file (removed from the list)"
            )
            return
        self.tabs.setCurrentWidget(self.colorize)
        self.colorize.open_path(path)

    def _update_actions(self) -> None:
        ready = self.colorize.can_export() and not self.colorize._exporting
        for a in (self.export_action, self.export_all_action, self.copy_action):
            a.setEnabled(ready)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About divcolor",
            "<b>divcolor</b>: several diverse colorizations of a black-and-white photo.<br>"
            "After Deshpande et al., <i>Learning Diverse Image Colorization</i>, CVPR 2017.",
        )

    # ------------------------------------------------------------------ status bar
    def _setup_status_bar(self) -> None:
        self.status_labels: dict[str, QLabel] = {}
        for key, text in (
            ("model", "model: —"),
            ("device", "device: —"),
            ("analysis", ""),
            ("decode", ""),
            ("hints", ""),
        ):
            label = QLabel(text, self)
            label.setContentsMargins(6, 0, 6, 0)
            self.statusBar().addPermanentWidget(label)
            self.status_labels[key] = label
        self.colorize.status_changed.connect(self._on_status)
        for key, text in self.colorize.current_status().items():
            self._on_status(key, text)

    def _on_status(self, key: str, text: str) -> None:
        if key in self.status_labels:
            self.status_labels[key].setText(text)
        else:
            self.statusBar().showMessage(text, 10_000)

    def _on_model_saved(self, path: str) -> None:
        self.colorize.refresh_models(path)
        self.statusBar().showMessage(f"Models changed: {Path(path).name}", 10_000)

    # ------------------------------------------------------------------ drops, geometry, close
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.colorize.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.tabs.setCurrentWidget(self.colorize)
        self.colorize.dropEvent(event)

    def _geometry_store(self) -> QSettings:
        # An INI file beside settings.json, so DIVCOLOR_HOME keeps tests away from the user's.
        return QSettings(str(user_config_dir() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        self.resize(*DEFAULT_SIZE)
        if not self._remember_geometry:
            return
        store = self._geometry_store()
        geometry = store.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = store.value("splitter")
        if isinstance(state, QByteArray):
            self.colorize.splitter.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        # A running training asks first (and may keep the window open).
        confirm = getattr(self.trainer, "confirm_close", None)
        if callable(confirm) and not confirm():
            event.ignore()
            return
        if self._remember_geometry:
            store = self._geometry_store()
            store.setValue("geometry", self.saveGeometry())
            store.setValue("splitter", self.colorize.splitter.saveState())
            store.sync()
        self.colorize.shutdown()
        stop = getattr(self.trainer, "shutdown", None)
        if callable(stop):
            stop()
        super().closeEvent(event)
