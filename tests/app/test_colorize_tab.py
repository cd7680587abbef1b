"""The Colorize tab driven as a user would: real widgets, a real (tiny) model, real workers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QWheelEvent
from PySide6.QtWidgets import QAbstractSlider, QFileDialog, QMessageBox, QPushButton

from divcolor_gui.app.colorize import ColorizeTab
from divcolor_gui.app.images import from_qimage
from divcolor_gui.core.settings import Settings

WAIT = 60_000  # ms; generous because the tests share two cores with other work


@pytest.fixture
def tab(qtbot, home_with_model):
    t = ColorizeTab(Settings(), cuda=False)
    qtbot.addWidget(t)
    t.resize(1100, 760)
    t.show()
    qtbot.waitUntil(lambda: t.colorizer is not None, timeout=WAIT)
    return t


def open_photo(qtbot, tab, path) -> None:
    with qtbot.waitSignal(tab.analysis_ready, timeout=WAIT):
        tab.open_path(path)


def settle(qtbot, tab) -> None:
    qtbot.waitUntil(lambda: not tab.decoder.busy, timeout=WAIT)


def shown(tab) -> np.ndarray:
    return from_qimage(tab.preview.view.shown_pixmap().toImage())


def expect_change(qtbot, tab, action) -> tuple[np.ndarray, np.ndarray]:
    """Run a user action; wait for the large view to update; return (before, after) pixels."""
    before = shown(tab)
    with qtbot.waitSignal(tab.preview_updated, timeout=WAIT):
        action()
    settle(qtbot, tab)
    after = shown(tab)
    assert np.array_equal(after, tab.preview_rgb), "the view shows the latest decoded preview"
    assert after.shape == before.shape
    assert np.abs(after.astype(int) - before.astype(int)).max() > 0, "the preview did not change"
    return before, after


def expected_preview(tab, z) -> np.ndarray:
    c = tab.colorizer
    field = c.decode(torch.as_tensor(np.asarray(z, np.float32))[None])[0]
    return c.render(tab.result.analysis, field, max_side=tab.preview_side())


def test_open_shows_components_ranked_by_weight(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    a = tab.result.analysis
    k = tab.colorizer.mdn.cfg.n_components
    assert len(tab.strip.components) == k == len(a.weights)
    assert np.all(np.diff(a.weights) <= 0), "heaviest first"
    for i, (button, w) in enumerate(zip(tab.strip.components, a.weights)):
        assert button.text() == f"#{i + 1}  {100 * w:.1f}%"
    assert tab.strip.components[0].isChecked() and tab.strip.selected_component() == 0
    # The large view: the heaviest component over the photo's own L, at screen resolution.
    assert np.array_equal(shown(tab), expected_preview(tab, a.means[0].numpy()))
    assert shown(tab).shape[:2] == (240, 320)  # smaller than the screen: the photo's own size
    assert tab.settings["recent_files"][0] == str(grey_photo_path.resolve())


def test_clicking_a_thumbnail_shows_that_component(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    expect_change(qtbot, tab, lambda: qtbot.mouseClick(tab.strip.components[3], Qt.MouseButton.LeftButton))
    assert tab.strip.components[3].isChecked() and tab.component == 3
    np.testing.assert_allclose(tab.z, tab.space.mean(3), atol=1e-6)
    assert np.array_equal(tab.preview_rgb, expected_preview(tab, tab.space.mean(3)))


def test_ab_slider_moves_between_two_components(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    ab = tab.explorer.ab
    ab.b_combo.setCurrentIndex(4)
    expect_change(qtbot, tab, lambda: ab.slider.slider.setValue(ab.slider.slider.maximum()))
    np.testing.assert_allclose(tab.z, tab.space.mean(4), atol=1e-5)
    expect_change(qtbot, tab, lambda: ab.slider.slider.setValue(500))
    np.testing.assert_allclose(tab.z, 0.5 * (tab.space.mean(0) + tab.space.mean(4)), atol=1e-5)


def test_blend_sliders_mix_the_means_by_share(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    sliders = tab.explorer.blend.sliders
    assert [s.value() for s in sliders] == [1.0] + [0.0] * (len(sliders) - 1)
    expect_change(qtbot, tab, lambda: sliders[2].slider.setValue(1000))
    np.testing.assert_allclose(tab.z, 0.5 * (tab.space.mean(0) + tab.space.mean(2)), atol=1e-5)
    assert np.array_equal(tab.preview_rgb, expected_preview(tab, tab.z))


def test_latent_coordinate_sliders_follow_principal_directions(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    panel = tab.explorer.coords_panel
    assert not panel.is_expanded()
    qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton)
    assert panel.is_expanded()
    sliders = tab.explorer.coords.sliders
    space = tab.space
    assert len(sliders) == space.dim == tab.colorizer.z_dim
    assert sliders[0].name_label.text() == "PC1"
    # The sliders show the current latent's coordinates.
    np.testing.assert_allclose(
        [s.value() for s in sliders], space.coords(space.mean(0)), atol=(space.hi - space.lo).max() / 900
    )
    z0 = tab.z.copy()
    expect_change(
        qtbot, tab, lambda: sliders[0].slider.triggerAction(QAbstractSlider.SliderAction.SliderPageStepAdd)
    )
    moved = space.coords(tab.z) - space.coords(z0)
    assert abs(moved[0]) > 0 and np.allclose(moved[1:], 0, atol=1e-4), "only PC1 moved"
    # Another control's latent is mirrored into the coordinate sliders.
    expect_change(qtbot, tab, lambda: tab.explorer.blend.sliders[1].slider.setValue(1000))
    np.testing.assert_allclose(
        [s.value() for s in sliders], space.coords(tab.z), atol=(space.hi - space.lo).max() / 900
    )
    # Folded away, the sliders are not moved on every step; opening the panel catches up.
    qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton)
    assert not panel.is_expanded()
    shown = [s.value() for s in sliders]
    expect_change(qtbot, tab, lambda: tab.explorer.ab.slider.slider.setValue(700))
    assert [s.value() for s in sliders] == shown
    qtbot.mouseClick(panel.toggle, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(
        [s.value() for s in sliders], space.coords(tab.z), atol=(space.hi - space.lo).max() / 900
    )


def test_more_like_this_then_reset(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    qtbot.mouseClick(tab.strip.components[1], Qt.MouseButton.LeftButton)
    settle(qtbot, tab)
    qtbot.mouseClick(tab.explorer.more_button, Qt.MouseButton.LeftButton)
    n = tab.settings["samples"]
    qtbot.waitUntil(lambda: len(tab.strip.samples) == n, timeout=WAIT)
    assert tab.sample_latents.shape == (n, tab.space.dim)
    # Samples come from component 2's Gaussian: nearer its mean than any other's, on average.
    d = np.linalg.norm(tab.sample_latents[:, None] - tab.space.means[None], axis=2).mean(0)
    assert d.argmin() == 1
    expect_change(qtbot, tab, lambda: qtbot.mouseClick(tab.strip.samples[2], Qt.MouseButton.LeftButton))
    np.testing.assert_allclose(tab.z, tab.sample_latents[2], atol=1e-6)
    expect_change(qtbot, tab, lambda: qtbot.mouseClick(tab.explorer.reset_button, Qt.MouseButton.LeftButton))
    assert tab.strip.samples == [] and tab.strip.components[1].isChecked()
    np.testing.assert_allclose(tab.z, tab.space.mean(1), atol=1e-6)
    assert [s.value() for s in tab.explorer.blend.sliders][1] == 1.0


def test_decoding_keeps_only_the_latest_request(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    space = tab.space
    shown_latents = []
    tab.decoder.ready.connect(lambda r: shown_latents.append(r.z))
    ts = np.linspace(0, 1, 40)
    for t in ts:  # a drag far faster than decoding: the GUI thread never waits
        tab.explorer.ab.slider.slider.setValue(round(t * 1000))
    settle(qtbot, tab)
    assert len(shown_latents) < len(ts) and tab.decoder.dropped > 0
    np.testing.assert_allclose(tab.z, space.lerp(0, 1, 1.0), atol=1e-5)  # the last position won
    assert np.array_equal(shown(tab), expected_preview(tab, tab.z))


def test_a_photo_opened_during_a_drag_shows_its_own_preview(
    qtbot, tab, grey_photo_path, colour_photo_path, monkeypatch
):  # fmt: skip
    """Frames of the first photo still decoding on both live workers when the second opens
    never reach the view: the last thing shown is the second photo's."""
    import time

    import divcolor_gui.app.colorize.decode_queue as decode_queue

    open_photo(qtbot, tab, grey_photo_path)
    real = decode_queue.preview_job
    monkeypatch.setattr(decode_queue, "preview_job", lambda *a: time.sleep(0.5) or real(*a))  # slow frames
    for t in np.linspace(0, 1, 20):
        tab.explorer.ab.slider.slider.setValue(round(t * 1000))
    qtbot.waitUntil(lambda: not tab.decoder._mailbox.waiting, timeout=WAIT)  # both workers busy
    assert tab.decoder.busy
    open_photo(qtbot, tab, colour_photo_path)
    settle(qtbot, tab)
    assert tab.result.analysis.photo.path == colour_photo_path
    assert np.array_equal(shown(tab), expected_preview(tab, tab.z))


def test_a_failed_decode_is_reported_and_live_decoding_goes_on(qtbot, tab, grey_photo_path, monkeypatch):
    import divcolor_gui.app.colorize.decode_queue as decode_queue

    open_photo(qtbot, tab, grey_photo_path)
    tab.show_errors = False  # no modal box in a test; the signal is what a box would show
    real = decode_queue.preview_job
    calls = {"n": 0}

    def fails_once(*args):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("out of memory while decoding")
        return real(*args)

    monkeypatch.setattr(decode_queue, "preview_job", fails_once)
    with qtbot.waitSignal(tab.failed, timeout=WAIT) as failed:
        tab.explorer.ab.slider.slider.setValue(300)
    assert failed.args == ["Cannot decode", "out of memory while decoding"]
    settle(qtbot, tab)
    expect_change(qtbot, tab, lambda: tab.explorer.ab.slider.slider.setValue(900))
    assert calls["n"] == 2


def test_compare_button_shows_the_grey_input_while_held(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    button = tab.preview.compare_button
    assert "grey input" in button.text()
    result = shown(tab)
    qtbot.mousePress(button, Qt.MouseButton.LeftButton)
    grey = shown(tab)
    assert grey.shape == result.shape
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2]).max() <= 2, "the input has no colour"
    original = np.asarray(Image.open(grey_photo_path).convert("L"), dtype=int)
    assert np.abs(grey[..., 1] - original).mean() < 2
    qtbot.mouseRelease(button, Qt.MouseButton.LeftButton)
    assert np.array_equal(shown(tab), result)


def test_compare_shows_the_colour_original_of_a_colour_photo(qtbot, tab, colour_photo_path):
    open_photo(qtbot, tab, colour_photo_path)
    assert "original" in tab.preview.compare_button.text()
    tab.preview.view.set_comparing(True)
    original = np.asarray(Image.open(colour_photo_path).convert("RGB"), dtype=int)
    assert np.abs(shown(tab).astype(int) - original).mean() < 3
    tab.preview.view.set_comparing(False)


def test_zoom_with_wheel_and_buttons_then_fit(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    view = tab.preview.view
    fitted = view.zoom()
    qtbot.mouseClick(tab.preview.zoom_in_button, Qt.MouseButton.LeftButton)
    assert view.zoom() == pytest.approx(fitted * 1.25)
    centre = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(
        centre, view.viewport().mapToGlobal(centre), QPoint(), QPoint(0, 240),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QGuiApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom() == pytest.approx(fitted * 1.25**3)
    assert tab.preview.zoom_label.text() == f"{view.zoom() * 100:.0f}%"
    # Zoomed in past the view: panning by the scroll bars works.
    bar = view.horizontalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(bar.maximum())
    qtbot.mouseClick(tab.preview.fit_button, Qt.MouseButton.LeftButton)
    assert view.zoom() == pytest.approx(fitted, rel=1e-3)
    # A new preview keeps the user's zoom.
    view.zoom_in()
    z = view.zoom()
    expect_change(qtbot, tab, lambda: tab.select_component(2))
    assert view.zoom() == pytest.approx(z)


def test_export_writes_full_resolution_in_each_format(qtbot, tab, tmp_path, monkeypatch):
    big = tmp_path / "big photo.jpg"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (900, 1500), dtype=np.uint8), mode="L").save(big)
    open_photo(qtbot, tab, big)
    assert tab.preview_rgb.shape[:2] == (480, 800)  # preview: offscreen screen is 800 px wide
    asked = []

    def save_dialog(parent, caption, suggested, filters):
        asked.append(suggested)
        return str(target), "PNG image (*.png)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    full = tab.colorizer.render(tab.photo, tab.field)
    for name in ("out.png", "out.jpg", "out.tif"):
        target = tmp_path / name
        with qtbot.waitSignal(tab.exported, timeout=WAIT) as sig:
            tab.exporter.export_current()
        assert sig.args[0] == [str(target)]
        back = np.asarray(Image.open(target).convert("RGB"))
        assert back.shape == (900, 1500, 3)
        tol = 4 if name.endswith(".jpg") else 0
        assert np.abs(back.astype(int) - full).mean() <= tol
    assert asked[0].endswith("big photo_colorized.png")


def test_export_adds_the_filter_suffix(qtbot, tab, grey_photo_path, tmp_path, monkeypatch):
    open_photo(qtbot, tab, grey_photo_path)
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a: (str(tmp_path / "mine"), "JPEG image (*.jpg *.jpeg)")
    )
    with qtbot.waitSignal(tab.exported, timeout=WAIT):
        tab.exporter.export_current()
    assert Image.open(tmp_path / "mine.jpg").format == "JPEG"


def test_export_all_asks_before_overwriting(qtbot, tab, grey_photo_path, tmp_path, monkeypatch):
    open_photo(qtbot, tab, grey_photo_path)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(out))
    k = tab.settings["export_top_k"]
    names = [f"old photo_colorized_{i + 1}.png" for i in range(k)]
    (out / names[1]).write_bytes(b"mine")
    questions = []

    def answer(reply):
        def ask(parent, title, text, *rest):
            questions.append(text)
            return reply

        return ask

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    tab.exporter.export_all()
    assert len(questions) == 1 and names[1] in questions[0]
    assert (out / names[1]).read_bytes() == b"mine" and sorted(p.name for p in out.iterdir()) == [names[1]]

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(tab.exported, timeout=WAIT) as sig:
        tab.exporter.export_all()
    assert [p.split("/")[-1] for p in sig.args[0]] == names
    fields = tab.colorizer.decode(tab.result.analysis.means[:k])
    for i, name in enumerate(names):
        back = np.asarray(Image.open(out / name).convert("RGB"))
        assert np.array_equal(back, tab.colorizer.render(tab.photo, fields[i])), name


def test_copy_puts_the_full_resolution_result_on_the_clipboard(qtbot, tab, grey_photo_path):
    open_photo(qtbot, tab, grey_photo_path)
    QGuiApplication.clipboard().clear()
    tab.exporter.copy_to_clipboard()
    qtbot.waitUntil(lambda: not QGuiApplication.clipboard().image().isNull(), timeout=WAIT)
    qtbot.waitUntil(lambda: not tab.exporter.busy, timeout=WAIT)
    img = from_qimage(QGuiApplication.clipboard().image())
    assert np.array_equal(img, tab.colorizer.render(tab.photo, tab.field))


def test_a_corrupt_file_is_reported_and_the_app_goes_on(
    qtbot, tab, grey_photo_path, corrupt_photo_path, monkeypatch
):
    open_photo(qtbot, tab, grey_photo_path)
    before = shown(tab)
    boxes = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: boxes.append((title, text)))
    with qtbot.waitSignal(tab.failed, timeout=WAIT):
        tab.open_path(corrupt_photo_path)
    assert len(boxes) == 1
    title, text = boxes[0]
    assert title == "Cannot open the photo" and "broken.jpg" in text and "\n" not in text
    assert tab._inflight is None  # its own failure: nothing is being opened any more
    assert tab.photo.path == grey_photo_path and np.array_equal(shown(tab), before)
    open_photo(qtbot, tab, grey_photo_path)  # still works


def test_dropping_a_file_opens_it(qtbot, tab, grey_photo_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(grey_photo_path))])
    args = (
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(*args)
    QGuiApplication.sendEvent(tab, enter)
    assert enter.isAccepted()
    drop = QDropEvent(*args)
    with qtbot.waitSignal(tab.analysis_ready, timeout=WAIT):
        QGuiApplication.sendEvent(tab, drop)
    assert drop.isAccepted() and tab.photo.path == grey_photo_path


def test_device_and_model_choices_are_remembered(qtbot, tab, home_with_model):
    tab.device_picker.setCurrentIndex(tab.device_picker.findData("cpu"))
    with qtbot.waitSignal(tab.model_ready, timeout=WAIT):
        tab.device_picker.activated.emit(tab.device_picker.currentIndex())
    with qtbot.waitSignal(tab.model_ready, timeout=WAIT):
        tab.model_picker.activated.emit(0)
    saved = json.loads((home_with_model / "config" / "settings.json").read_text())
    assert saved["device"] == "cpu" and saved["model"] == "tiny"
    assert [tab.device_picker.itemData(i) for i in range(tab.device_picker.count())] == ["auto", "cpu"]


def test_switching_model_analyzes_the_open_photo_again(qtbot, tab, grey_photo_path, home_with_model):
    open_photo(qtbot, tab, grey_photo_path)
    first = tab.colorizer
    shutil.copy(home_with_model / "models" / "tiny.pt", home_with_model / "models" / "second.pt")
    tab.refresh_models()  # what the Trainer tab's model_saved triggers
    labels = [tab.model_picker.itemText(i) for i in range(tab.model_picker.count())]
    assert labels == ["second (yours)", "tiny (yours)"] and tab.model_picker.currentText() == "tiny (yours)"
    with qtbot.waitSignal(tab.analysis_ready, timeout=WAIT):
        tab.model_picker.setCurrentIndex(0)
        tab.model_picker.activated.emit(0)
    assert tab.colorizer is not first and tab.colorizer.source.name == "second.pt"
    assert tab.result.analysis is not None and tab.photo.path == grey_photo_path
    assert tab.settings["model"] == "second"


def test_until_the_new_analysis_the_modes_stay_with_the_model_that_made_them(
    qtbot, tab, grey_photo_path, home_with_model
):
    """A model switch analyses the open photo again; meanwhile anything that re-reads the modes
    (hints cleared, a solve landing) must decode them with the model whose latents they are."""
    from divcolor_gui.core.colorizer import Colorizer

    open_photo(qtbot, tab, grey_photo_path)
    first = tab.colorizer
    second = Colorizer.load(home_with_model / "models" / "tiny.pt", "cpu")
    with qtbot.waitSignal(tab.analysis_ready, timeout=WAIT):
        tab._model_token += 1
        tab._on_model_loaded((tab._model_token, second))  # as the loading worker reports it
        assert tab.colorizer is second and tab.result.colorizer is first
        tab._use_modes(None)  # before the new analysis can arrive
        assert tab.latent_colorizer is first and tab.decoder._colorizer is first
    assert tab.result.colorizer is second and tab.latent_colorizer is second


def test_a_model_that_fails_to_load_is_reported_and_loading_ends(qtbot, tab, home_with_model, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: None)
    (home_with_model / "models" / "broken.pt").write_bytes(b"not a model")
    tab.refresh_models()
    i = tab.model_picker.findText("broken (yours)")
    with qtbot.waitSignal(tab.failed, timeout=WAIT) as failed:
        tab.model_picker.setCurrentIndex(i)
        tab.model_picker.activated.emit(i)
    assert failed.args[0] == "Cannot load the model" and failed.args[1].startswith("broken (yours): ")
    assert not tab._model_loading and tab.colorizer is not None  # the previous model stays


def test_a_superseded_models_failure_leaves_the_loading_one_alone(qtbot, tab, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: None)
    tab._model_loading, tab._model_worker = True, object()  # a later model is loading
    with qtbot.waitSignal(tab.failed, timeout=WAIT) as failed:
        tab._on_model_failed("broken.pt: not a divcolor model file", "")  # not that worker's
    assert failed.args == ["Cannot load the model", "broken.pt: not a divcolor model file"]
    assert tab._model_loading


def test_large_exports_show_progress_and_export_all_can_be_cancelled(qtbot, tab, tmp_path, monkeypatch):
    import divcolor_gui.app.colorize.exporter as exporter

    big = tmp_path / "big.png"
    rng = np.random.default_rng(4)
    Image.fromarray(rng.integers(0, 255, (900, 1500), dtype=np.uint8), mode="L").save(big)
    open_photo(qtbot, tab, big)
    monkeypatch.setattr(exporter, "PROGRESS_PIXELS", 1000)  # this photo counts as large
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(tmp_path / "one.png"), ""))
    with qtbot.waitSignal(tab.exported, timeout=WAIT):
        tab.exporter.export_current()
        assert tab.exporter.dialog is not None and tab.exporter.dialog.isVisible()
    assert tab.exporter.dialog is None and not tab.exporter.busy

    out = tmp_path / "all"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(out))
    with qtbot.waitSignal(tab.status_changed, timeout=WAIT, check_params_cb=lambda k, t: "cancelled" in t):
        tab.exporter.export_all()
        cancel = tab.exporter.dialog.findChild(QPushButton)
        assert cancel.text() == "Cancel"
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)  # the worker stops between two photos
    assert len(list(out.iterdir())) < tab.settings["export_top_k"]
    assert not tab.exporter.busy
