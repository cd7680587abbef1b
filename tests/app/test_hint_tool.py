"""The hint tool on the large view, driven as a user would: clicks, drags, right-clicks and
keys on the real view, a real (tiny) model, the solves in their worker."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from divcolor_gui.app.colorize import ColorizeTab
from divcolor_gui.app.colorize.hint_color_dialog import HintColorDialog
from divcolor_gui.app.images import from_qimage
from divcolor_gui.app.main_window import MainWindow
from divcolor_gui.core.hints import Hint, load_hints, save_hints, sidecar_path
from divcolor_gui.core.settings import Settings

WAIT = 60_000


@pytest.fixture
def tab(qtbot, home_with_model):
    t = ColorizeTab(Settings(), cuda=False)
    t.show_errors = False
    qtbot.addWidget(t)
    t.resize(1100, 760)
    t.show()
    qtbot.waitUntil(lambda: t.colorizer is not None, timeout=WAIT)
    return t


@pytest.fixture
def photo(tmp_path, grey_photo_path):
    """The grey photo in a folder of its own (the sidecars are written beside it)."""
    d = tmp_path / "photos"
    d.mkdir()
    return shutil.copy(grey_photo_path, d / "old photo.png")


def open_photo(qtbot, tab, path) -> None:
    with qtbot.waitSignal(tab.analysis_ready, timeout=WAIT):
        tab.open_path(path)


def settle(qtbot, tab) -> None:
    """Every solve and decode asked for has landed, and the last solve is for the hints."""

    def done() -> bool:
        solved = tab.solved.hints if tab.solved is not None else []
        return not tab.solver.busy and not tab.decoder.busy and solved == tab.hint_tool.hints

    qtbot.waitUntil(done, timeout=WAIT)


def thumbs(tab) -> list[np.ndarray]:
    return [b.rgb.copy() for b in tab.strip.components]


def shown(tab) -> np.ndarray:
    return from_qimage(tab.preview.view.shown_pixmap().toImage())


def at(tab, x: float, y: float) -> QPoint:
    """The viewport point over photo pixel (x, y)."""
    return tab.preview.view.from_photo(QPointF(x + 0.5, y + 0.5)).toPoint()


def hint_mode(qtbot, tab, colors: list[str]) -> list[tuple]:
    """Switch the tool on (its shortcut) and answer the colour chooser with `colors` in turn;
    returns the chooser's calls (x, y, current colour, swatches offered)."""
    tool = tab.hint_tool
    tab.preview.view.setFocus()
    qtbot.keyClick(tab.preview.view, Qt.Key.Key_H)
    assert tool.is_active()
    calls = []

    def choose(x, y, current):
        # While the chooser is open a marker shows where the new hint goes.
        assert len(tool.view.overlay().childItems()) == len(tool.hints) + (current is None)
        calls.append((x, y, current, tool.swatches(x, y)))
        return colors.pop(0) if colors else None

    tool.choose_color = choose
    return calls


def click(qtbot, tab, x, y, button=Qt.MouseButton.LeftButton) -> None:
    qtbot.mouseClick(tab.preview.view.viewport(), button, pos=at(tab, x, y))


def test_a_click_adds_a_hint_and_the_modes_follow_it(qtbot, tab, photo):
    open_photo(qtbot, tab, photo)
    plain = thumbs(tab)
    a = tab.result.analysis
    assert not tab.hint_tool.clear_action.isEnabled()  # nothing to clear yet
    calls = hint_mode(qtbot, tab, ["#2050e0"])
    with qtbot.waitSignal(tab.hints_solved, timeout=WAIT):
        click(qtbot, tab, 100, 80)
    settle(qtbot, tab)
    tool = tab.hint_tool
    assert tool.hints == [Hint(100.0, 80.0, "#2050e0")]
    assert len(tool.markers) == 1 and tool.markers[0].color() == "#2050e0"
    assert tool.view.overlay().childItems() == tool.markers and tool.clear_action.isEnabled()
    # The chooser offered what the large view shows there, then each mode's colour there.
    x, y, current, swatches = calls[0]
    assert (x, y, current) == (100.0, 80.0, None)
    assert [label for label, _ in swatches] == ["shown"] + [f"#{i + 1}" for i in range(len(plain))]
    h, w = plain[2].shape[:2]
    r, g, b = plain[2][int(80.5 * h / 240), int(100.5 * w / 320)]
    assert swatches[3][1] == f"#{r:02x}{g:02x}{b:02x}"
    # The solve reached the thumbnails: the hinted modes, best first, in place of the means.
    modes = tab.solved.modes
    assert len(modes) == len(plain) and [m.objective for m in modes] == sorted(m.objective for m in modes)
    for button, mode in zip(tab.strip.components, modes):
        expected = tab.colorizer.render(a, mode.field, max_side=tab.settings["thumb_side"])
        assert np.array_equal(button.rgb, expected)
        assert "hinted" in button.text()
    assert any(not np.array_equal(new, old) for new, old in zip(thumbs(tab), plain))
    assert modes[0].error < 0.02  # the best mode meets the hint at its point (ab/128)
    # The large view shows the best hinted mode.
    assert np.array_equal(shown(tab), tab.preview_rgb)
    assert torch.equal(tab.field, modes[0].field)


def test_without_the_tool_a_click_adds_nothing(qtbot, tab, photo):
    open_photo(qtbot, tab, photo)
    tab.hint_tool.choose_color = lambda *a: pytest.fail("the chooser opened outside hint mode")
    click(qtbot, tab, 100, 80)
    assert tab.hint_tool.hints == [] and not tab.solver.busy


def test_drag_moves_a_hint_and_right_click_or_delete_removes_it(qtbot, tab, photo):
    open_photo(qtbot, tab, photo)
    hint_mode(qtbot, tab, ["#2050e0", "#d02020"])
    tool = tab.hint_tool
    click(qtbot, tab, 60, 60)
    click(qtbot, tab, 250, 180)
    settle(qtbot, tab)
    assert [h.color for h in tool.hints] == ["#2050e0", "#d02020"]
    before = thumbs(tab)

    vp = tab.preview.view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=at(tab, 60, 60))
    qtbot.mouseMove(vp, at(tab, 90, 75))
    qtbot.mouseMove(vp, at(tab, 120, 90))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=at(tab, 120, 90))
    settle(qtbot, tab)
    assert tool.hints[0] == Hint(120.0, 90.0, "#2050e0") and tool.hints[1].x == 250.0
    assert tool.stack.count() == 3 and tool.stack.undoText() == "Move hint"
    assert tab.solved.hints == tool.hints
    assert any(not np.array_equal(new, old) for new, old in zip(thumbs(tab), before))

    click(qtbot, tab, 250, 180, Qt.MouseButton.RightButton)
    settle(qtbot, tab)
    assert tool.hints == [Hint(120.0, 90.0, "#2050e0")] and len(tool.markers) == 1

    # A click selects (and would recolour; the same colour changes nothing), Delete removes.
    tool.choose_color = lambda x, y, current: current
    click(qtbot, tab, 120, 90)
    assert tool.selected == 0 and tool.markers[0].is_selected() and len(tool.hints) == 1
    with qtbot.waitSignal(tab.hints_solved, timeout=WAIT):
        qtbot.keyClick(tab.preview.view, Qt.Key.Key_Delete)
    settle(qtbot, tab)
    assert tool.hints == [] and tool.markers == [] and tab.solved is None
    # No hints: the plain components again, with their weights.
    a = tab.result.analysis
    assert all("hinted" not in b.text() for b in tab.strip.components)
    np.testing.assert_allclose(tab.space.means, a.means.numpy(), atol=1e-6)


def test_recolouring_and_undo_redo_restore_the_hint_lists(qtbot, tab, photo):
    open_photo(qtbot, tab, photo)
    plain = thumbs(tab)
    hint_mode(qtbot, tab, ["#2050e0", "#d02020", "#20a040"])
    tool = tab.hint_tool
    history = [list(tool.hints)]
    click(qtbot, tab, 60, 60)
    history.append(list(tool.hints))
    click(qtbot, tab, 250, 180)
    history.append(list(tool.hints))
    click(qtbot, tab, 60, 60)  # on the first hint: recolour it
    history.append(list(tool.hints))
    assert tool.hints == [Hint(60.0, 60.0, "#20a040"), Hint(250.0, 180.0, "#d02020")]
    tool.clear_action.trigger()
    history.append(list(tool.hints))
    assert tool.hints == []
    settle(qtbot, tab)

    view = tab.preview.view
    for expected in reversed(history[:-1]):  # Ctrl+Z steps back through every edit
        qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert tool.hints == expected
        assert [m.color() for m in tool.markers] == [h.color for h in expected]
    assert not tool.stack.canUndo()
    settle(qtbot, tab)
    assert tab.solved is None and all(np.array_equal(a, b) for a, b in zip(thumbs(tab), plain))

    for expected in history[1:4]:  # Ctrl+Shift+Z forward again
        qtbot.keyClick(
            view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        )
        assert tool.hints == expected
    settle(qtbot, tab)
    assert tab.solved.hints == history[3]
    assert [b.text().split()[1] for b in tab.strip.components] == ["hinted"] * len(plain)


def test_the_latent_tools_work_from_the_hinted_modes(qtbot, tab, photo):
    open_photo(qtbot, tab, photo)
    hint_mode(qtbot, tab, ["#2050e0"])
    click(qtbot, tab, 100, 80)
    settle(qtbot, tab)
    modes = tab.solved.modes
    zs = torch.stack([m.z for m in modes]).numpy()
    np.testing.assert_allclose(tab.space.means, zs, atol=1e-6)
    assert not np.allclose(tab.space.means, tab.result.analysis.means.numpy(), atol=1e-3)

    # A thumbnail: its hinted mode, decoded live with the hints' correction (as the thumbnail).
    with qtbot.waitSignal(tab.preview_updated, timeout=WAIT):
        qtbot.mouseClick(tab.strip.components[2], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.decoder.busy, timeout=WAIT)
    np.testing.assert_allclose(tab.z, zs[2], atol=1e-6)
    torch.testing.assert_close(tab.field, modes[2].field, atol=1e-4, rtol=0)

    # A<->B runs between two hinted modes.
    ab = tab.explorer.ab
    ab.set_ends(2, 4)
    with qtbot.waitSignal(tab.preview_updated, timeout=WAIT):
        ab.slider.slider.setValue(ab.slider.slider.maximum())
    qtbot.waitUntil(lambda: not tab.decoder.busy, timeout=WAIT)
    np.testing.assert_allclose(tab.z, zs[4], atol=1e-5)
    torch.testing.assert_close(tab.field, modes[4].field, atol=1e-4, rtol=0)

    # "More like this": samples around the selected hinted mode.
    qtbot.mouseClick(tab.explorer.more_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(tab.strip.samples) == tab.settings["samples"], timeout=WAIT)
    d = np.linalg.norm(tab.sample_latents[:, None] - zs[None], axis=2).mean(0)
    assert d.argmin() == 2


def test_export_writes_the_sidecar_and_the_photo_reopens_with_its_hints(
    qtbot, tab, photo, colour_photo_path, tmp_path, monkeypatch
):
    open_photo(qtbot, tab, photo)
    hint_mode(qtbot, tab, ["#2050e0", "#d02020"])
    click(qtbot, tab, 60, 60)
    click(qtbot, tab, 250, 180)
    settle(qtbot, tab)
    hints = list(tab.hint_tool.hints)
    out = tmp_path / "out" / "mine.png"
    out.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(out), "PNG image (*.png)"))
    with qtbot.waitSignal(tab.exported, timeout=WAIT):
        tab.exporter.export_current()
    assert out.is_file()
    assert load_hints(out.parent / "mine.hints.json") == hints
    assert load_hints(sidecar_path(photo)) == hints  # beside the photo: it reopens with them

    open_photo(qtbot, tab, colour_photo_path)  # another photo: no hints of its own
    assert tab.hint_tool.hints == [] and tab.hint_tool.markers == [] and tab.solved is None
    assert not tab.hint_tool.stack.canUndo()

    with qtbot.waitSignal(tab.hints_solved, timeout=WAIT):
        open_photo(qtbot, tab, photo)
    settle(qtbot, tab)
    assert tab.hint_tool.hints == hints and len(tab.hint_tool.markers) == 2
    assert tab.solved.hints == hints and "hinted" in tab.strip.components[0].text()


def test_a_bad_sidecar_is_one_status_line_and_no_hints(qtbot, tab, photo, monkeypatch):
    boxes = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: boxes.append(a))
    sidecar_path(photo).write_text('{"hints": [{"x": 5, "y": 5, "color": "blue"}]}')
    lines = []
    tab.status_changed.connect(lambda key, text: lines.append(text) if key == "message" else None)
    open_photo(qtbot, tab, photo)
    bad = [t for t in lines if "hints not loaded" in t]
    assert len(bad) == 1 and "\n" not in bad[0] and "hint 1" in bad[0] and "blue" in bad[0]
    assert tab.hint_tool.hints == [] and boxes == []
    # A sidecar with a hint outside the photo is refused the same way.
    save_hints(sidecar_path(photo), [Hint(5000, 5, "#2050e0")])
    lines.clear()
    open_photo(qtbot, tab, photo)
    bad = [t for t in lines if "hints not loaded" in t]
    assert len(bad) == 1 and "outside the 320x240 photo" in bad[0]
    assert tab.hint_tool.hints == [] and boxes == []


def test_the_colour_chooser_offers_the_modes_colours_and_a_full_picker(qtbot, tab, photo):
    open_photo(qtbot, tab, photo)
    tab.preview.view.setFocus()
    qtbot.keyClick(tab.preview.view, Qt.Key.Key_H)
    offered = tab.mode_colours_at(100, 80)
    seen = {}

    def pick_swatch():
        dlg = QApplication.activeModalWidget()
        if not isinstance(dlg, HintColorDialog):  # not open yet: the click may take a while
            seen["polls"] = seen.get("polls", 0) + 1
            if seen["polls"] < 600:  # 30 s, then the waitSignal below fails the test
                QTimer.singleShot(50, pick_swatch)
            return
        seen["tips"] = [b.toolTip() for b in dlg.swatch_buttons]
        seen["picker"] = dlg.picker_button.text()
        dlg.swatch_buttons[3].click()

    QTimer.singleShot(0, pick_swatch)
    with qtbot.waitSignal(tab.hints_solved, timeout=WAIT):
        click(qtbot, tab, 100, 80)
    assert seen["tips"] == [f"{label}: {color}" for label, color in offered]
    assert seen["picker"] == "Other colour…"
    assert tab.hint_tool.hints == [Hint(100.0, 80.0, offered[3][1])]
    settle(qtbot, tab)


@pytest.fixture
def window(qtbot, home_with_model):
    # A fixture, so the window lives until pytest-qt closes it (which stops its workers).
    w = MainWindow(Settings(), cuda=False, remember_geometry=False)
    w.colorize.show_errors = False
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.colorize.colorizer is not None, timeout=WAIT)
    return w


def test_the_window_has_the_hint_actions_and_their_keys(qtbot, window, photo):
    w, tab = window, window.colorize
    open_photo(qtbot, tab, photo)
    edit = next(m for m in w.menuBar().actions() if m.text() == "&Edit").menu()
    tool = tab.hint_tool
    assert [a for a in edit.actions() if not a.isSeparator()] == [
        tool.undo_action,
        tool.redo_action,
        tool.toggle_action,
        tool.clear_action,
    ]
    hint_mode(qtbot, tab, ["#2050e0"])
    with qtbot.waitSignal(tab.hints_solved, timeout=WAIT):
        click(qtbot, tab, 100, 80)
    settle(qtbot, tab)
    assert w.status_labels["hints"].text().startswith("hints: 1, solved in ")
    qtbot.keyClick(tab.preview.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert tool.hints == []
    qtbot.keyClick(
        tab.preview.view,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert tool.hints == [Hint(100.0, 80.0, "#2050e0")]
    settle(qtbot, tab)
    qtbot.keyClick(tab.preview.view, Qt.Key.Key_H)  # the tool off: dragging pans again
    assert not tool.is_active() and tab.preview.view.dragMode() == tab.preview.view.DragMode.ScrollHandDrag
