"""The main window: menus, tabs, status bar, recent files, and life without any model."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox

from divcolor_gui.app.main_window import MainWindow
from divcolor_gui.core.settings import Settings

WAIT = 60_000


@pytest.fixture
def window(qtbot, home_with_model):
    w = MainWindow(Settings(), cuda=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.colorize.colorizer is not None, timeout=WAIT)
    return w


def test_tabs_menus_and_status_bar(qtbot, window, grey_photo_path, monkeypatch):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Colorize", "Trainer"]
    assert window.open_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert not window.export_action.isEnabled()  # nothing to export yet
    assert window.status_labels["model"].text() == "model: tiny"
    assert window.status_labels["device"].text() == "device: cpu"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(grey_photo_path), ""))
    with qtbot.waitSignal(window.colorize.analysis_ready, timeout=WAIT):
        window.open_action.trigger()  # File > Open (Ctrl+O)
    assert window.windowTitle() == "old photo.png — divcolor"
    assert window.export_action.isEnabled() and window.export_all_action.isEnabled()
    assert window.status_labels["analysis"].text().startswith("analysis ")
    with qtbot.waitSignal(window.colorize.preview_updated, timeout=WAIT):
        window.colorize.select_component(1)
    assert window.status_labels["decode"].text().startswith("decode ")


def test_recent_files_menu_reopens_and_drops_missing_files(
    qtbot, window, grey_photo_path, tmp_path, monkeypatch
):
    gone = tmp_path / "gone.png"
    shutil.copy(grey_photo_path, gone)
    for p in (gone, grey_photo_path):
        with qtbot.waitSignal(window.colorize.analysis_ready, timeout=WAIT):
            window.colorize.open_path(p)
    gone.unlink()
    window._fill_recent()
    names = [a.text() for a in window.recent_menu.actions() if a.text()]
    assert names[:2] == ["old photo.png", "gone.png"]
    boxes = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: boxes.append(text))
    window.recent_menu.actions()[1].trigger()
    assert "gone.png" in boxes[0] and str(gone.resolve()) not in window.settings["recent_files"]
    window._fill_recent()
    with qtbot.waitSignal(window.colorize.photo_opened, timeout=WAIT):
        window.recent_menu.actions()[0].trigger()


def test_window_geometry_and_splitter_are_remembered(qtbot, home_with_model):
    w = MainWindow(Settings(), cuda=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.colorize.colorizer is not None, timeout=WAIT)
    w.colorize.splitter.setSizes([500, 420])
    sizes = w.colorize.splitter.sizes()
    w.close()
    store = (home_with_model / "config" / "window.ini").read_text()
    assert "geometry=" in store and "splitter=" in store
    again = MainWindow(Settings(), cuda=False)
    qtbot.addWidget(again)
    again.show()
    # The offscreen screen (800x600) is smaller than the window's minimum, so Qt clamps the
    # restored position and size to it; the side panel keeps the width the user gave it.
    assert again.colorize.splitter.sizes()[1] == sizes[1] == 420
    qtbot.waitUntil(lambda: again.colorize.colorizer is not None, timeout=WAIT)
    again.close()


def test_without_any_model_the_app_says_so_and_still_opens_photos(
    qtbot, home, grey_photo_path, tiny_model_file
):
    w = MainWindow(Settings(), cuda=False)
    qtbot.addWidget(w)
    w.show()
    tab = w.colorize
    assert tab.notice.isVisible() and "No colorization model is installed" in tab.notice.text()
    assert str(home / "models") in tab.notice.text()
    assert not tab.model_picker.isEnabled() and tab.model_picker.currentText() == "no model installed"
    assert w.status_labels["model"].text() == "model: none"
    with qtbot.waitSignal(tab.photo_opened, timeout=WAIT):
        tab.open_path(grey_photo_path)
    assert tab.preview.view.has_image() and tab.strip.components == []
    assert not w.export_action.isEnabled() and not tab.hint_tool.toggle_action.isEnabled()
    # A model appears (the Trainer tab saved one): the picker refreshes and it colorizes.
    target = home / "models" / "tiny.pt"
    shutil.copy(tiny_model_file, target)
    with qtbot.waitSignal(tab.analysis_ready, timeout=WAIT):
        w.trainer.model_saved.emit(str(target)) if hasattr(w.trainer, "model_saved") else tab.refresh_models()
    assert not tab.notice.isVisible() and tab.model_picker.currentText() == "tiny (yours)"
    assert len(tab.strip.components) == tab.colorizer.mdn.cfg.n_components
    assert tab.hint_tool.toggle_action.isEnabled()  # the photo, shown before, can now be hinted


def test_placeholder_when_the_trainer_tab_is_missing(qtbot, home_with_model, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_trainer(name, globals=None, locals=None, fromlist=(), level=0):
        if name.endswith("app.trainer") or (level and fromlist and "TrainerTab" in fromlist):
            raise ImportError("no trainer here")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_trainer)
    w = MainWindow(Settings(), cuda=False)
    qtbot.addWidget(w)
    assert isinstance(w.trainer, QLabel) and "not available" in w.trainer.text()
    monkeypatch.undo()
    qtbot.waitUntil(lambda: w.colorize.colorizer is not None, timeout=WAIT)


def test_a_broken_settings_file_is_reported_and_left_alone(qtbot, home_with_model):
    path = home_with_model / "config" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"devcie": "cpu"}')
    w = MainWindow(Settings(), cuda=False)
    qtbot.addWidget(w)
    w.show()
    assert "devcie" in w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: w.colorize.colorizer is not None, timeout=WAIT)
    with qtbot.waitSignal(w.colorize.model_ready, timeout=WAIT):
        w.colorize.device_picker.activated.emit(1)
    assert w.settings["device"] == "cpu"
    assert path.read_text() == '{"devcie": "cpu"}'  # never clobbered


def test_keyboard_zoom_shortcuts_exist(window):
    view_menu = [m for m in window.menuBar().actions() if m.text() == "&View"][0].menu()
    keys = [a.shortcut() for a in view_menu.actions()]
    assert QKeySequence("Ctrl+0") in keys and all(not k.isEmpty() for k in keys)


def test_gui_command_opens_the_image_given_on_the_command_line(
    qtbot, home_with_model, grey_photo_path, monkeypatch
):
    import signal
    from argparse import Namespace

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from divcolor_gui.app.main import run_app

    monkeypatch.setattr(signal, "signal", lambda *a: None)  # leave pytest's own Ctrl+C alone
    seen = {}

    def watch():
        w = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())

        def done():
            seen.update(path=w.colorize.photo.path, k=len(w.colorize.strip.components), title=w.windowTitle())
            w.close()  # the last window: run_app's event loop ends

        w.colorize.analysis_ready.connect(done)

    QTimer.singleShot(0, watch)
    QTimer.singleShot(WAIT, lambda: QApplication.instance().exit(3))  # never hang the suite
    args = Namespace(
        image=str(grey_photo_path), screenshot=None, self_test=False, model="tiny", device="auto"
    )
    assert run_app(args) == 0
    assert seen == {"path": grey_photo_path, "k": 8, "title": "old photo.png — divcolor"}


def test_closing_asks_the_trainer_first(qtbot, window, monkeypatch):
    if not hasattr(window.trainer, "confirm_close"):
        pytest.skip("this build has no Trainer tab")
    monkeypatch.setattr(window.trainer, "confirm_close", lambda: False)
    window.close()
    assert window.isVisible(), "a training the user keeps running keeps the window open"
    monkeypatch.setattr(window.trainer, "confirm_close", lambda: True)
    window.close()
    assert not window.isVisible()
