"""The main window: menus, the Colorize and Trainer tabs, and the status bar. It only wires
the tabs together; each tab does its own work. Built by small `_setup_*` methods, one per
part, in the order __init__ lists them.

torch (a second or more to import) loads after the window has painted: the tabs are built
without it (`defer_setup`), and once the window is on the screen a worker imports torch and
the modules that use it and finds out whether CUDA works; then the tabs finish setting up
(the Colorize tab loads its model, in a worker of its own)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from divcolor_gui.core.resources import user_config_dir
from divcolor_gui.core.settings import Settings

from .colorize import ColorizeTab
from .tasks import TaskRunner
from .worker import Worker

DEFAULT_SIZE = (1280, 820)
# What the warm-up worker imports, so that the GUI thread finds them loaded: the modules of
# the core that need torch, and the trainer's (which import the rest of it).
TORCH_MODULES = ("divcolor_gui.core.colorizer", "divcolor_gui.core.jobs", "divcolor_gui.core.hints")
TRAINER_MODULES = ("trainer.app_jobs", "trainer.policy", "trainer.run")
PAINT_WAIT_MS = 2000  # a shown window that has not painted by then loads torch all the same


def load_torch(modules: tuple[str, ...], cuda: bool | None) -> bool:
    """The warm-up worker's job: import `modules` (torch with them) and say whether CUDA
    works here (`cuda`, when already known)."""
    for name in modules:
        importlib.import_module(name)
    if cuda is None:
        from divcolor_gui.core.device import cuda_works

        cuda = cuda_works()
    return cuda


def _trainer_tab(parent: QWidget) -> QWidget:
    """The Trainer tab when its module is installed, otherwise a label saying so."""
    try:
        from .trainer import TrainerTab

        # The trainer's own modules load with torch, after the window shows; whether they
        # are there at all is known now.
        if importlib.util.find_spec(TRAINER_MODULES[0]) is None:
            raise ModuleNotFoundError(f"No module named {TRAINER_MODULES[0]!r}")
    except ImportError as e:
        label = QLabel(
            f"The trainer is not available in this build ({e}).\nUse `divcolor train` instead.", parent
        )
        label.setWordWrap(True)
        label.setMargin(24)
        return label
    return TrainerTab(parent, defer_setup=True)


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
        self._setup_torch_loading(cuda)
        self._setup_tabs(model_override, cuda)
        self._setup_status_bar()
        self._setup_menus()
        self.setAcceptDrops(True)
        self._restore_geometry()
        if settings.problem:
            self.statusBar().showMessage(f"Settings ignored: {settings.problem}", 15_000)

    # ------------------------------------------------------------------ torch, after the first paint
    def _setup_torch_loading(self, cuda: bool | None) -> None:
        self._cuda = cuda
        self._painted = False
        self._waited_for_paint = False
        self._torch_started = False
        self._closed = False
        self.runner = TaskRunner(self)
        # Fires once the event loop runs (then a window not shown, like the self-test's,
        # loads torch at once), and again just after the first paint.
        self._torch_timer = QTimer(self)
        self._torch_timer.setSingleShot(True)
        self._torch_timer.timeout.connect(self._on_torch_timer)
        self._torch_timer.start(0)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self._torch_timer.start(0)  # once this paint is done

    def _on_torch_timer(self) -> None:
        if self.isVisible() and not self._painted and not self._waited_for_paint:
            self._waited_for_paint = True
            self._torch_timer.start(PAINT_WAIT_MS)  # paintEvent comes first, normally
            return
        self._load_torch()

    def _load_torch(self) -> None:
        if self._torch_started or self._closed:
            return
        self._torch_started = True
        self._torch_timer.stop()
        modules = TORCH_MODULES + (TRAINER_MODULES if hasattr(self.trainer, "finish_setup") else ())
        worker = Worker(load_torch, modules, self._cuda)
        worker.finished.connect(self._on_torch_loaded)
        worker.failed.connect(self._on_torch_failed)
        self.runner.start(worker)

    def _on_torch_loaded(self, cuda: bool) -> None:
        if self._closed:
            return
        self.colorize.finish_setup(cuda)
        finish = getattr(self.trainer, "finish_setup", None)
        if callable(finish):
            finish(cuda)

    def _on_torch_failed(self, message: str, _trace: str) -> None:
        if self._closed:
            return
        self.statusBar().showMessage(f"Cannot load torch: {message}", 15_000)
        # Without torch its model load fails in turn and says why, in a box; the trainer's
        # settings stay disabled.
        self.colorize.finish_setup(False)

    # ------------------------------------------------------------------ tabs
    def _setup_tabs(self, model_override: str | None, cuda: bool | None) -> None:
        self.tabs = QTabWidget(self)
        self.colorize = ColorizeTab(self.settings, model_override, self, cuda=cuda, defer_setup=True)
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
        c, e = self.colorize, self.colorize.exporter
        self.open_action = self._action(
            "&Open…", c.open_dialog, QKeySequence.StandardKey.Open, "Open a photo"
        )
        self.export_action = self._action(
            "&Export…", e.export_current, "Ctrl+E", "Save the shown colorization at full resolution"
        )
        self.export_all_action = self._action(
            "Export &all top-k…",
            e.export_all,
            "Ctrl+Shift+E",
            "Save the heaviest colorizations into a folder",
        )
        self.copy_action = self._action(
            "&Copy colorization",
            e.copy_to_clipboard,
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
        ready = self.colorize.exporter.ready()
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
        self._closed = True
        if self._remember_geometry:
            store = self._geometry_store()
            store.setValue("geometry", self.saveGeometry())
            store.setValue("splitter", self.colorize.splitter.saveState())
            store.sync()
        self.colorize.shutdown()
        stop = getattr(self.trainer, "shutdown", None)
        if callable(stop):
            stop()
        self.runner.shutdown()  # a torch import under way is waited for
        super().closeEvent(event)
