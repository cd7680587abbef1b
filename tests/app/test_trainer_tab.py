"""The Trainer tab, driven through its own controls: look at a folder, train a tiny
model, cancel mid-run, resume, reuse a model's feature network, rename and delete,
errors shown, closing while training."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QInputDialog, QMessageBox  # noqa: E402

from divcolor_gui.app.trainer import TrainerTab  # noqa: E402
from divcolor_gui.core.checkpoint import read_model_dict  # noqa: E402
from divcolor_gui.core.model_card import model_card_text  # noqa: E402
from divcolor_gui.core.model_files import family  # noqa: E402
from divcolor_gui.core.resources import user_models_dir  # noqa: E402
from trainer.app_jobs import scan_size  # noqa: E402
from trainer.run import TrainConfig, run_training  # noqa: E402

RUN_TIMEOUT_MS = 120_000  # generous: the machine may be busy; the runs take seconds


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """User data (models, the photo cache) in a throwaway folder."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write_folder(root: Path, photo_factory, n_colour: int) -> Path:
    """`n_colour` colour JPEGs (a third in a subfolder: the search is recursive), one
    black-and-white JPEG and one file that is not a photo."""
    (root / "sub").mkdir(parents=True)
    for i in range(n_colour):
        where = root / "sub" if i % 3 == 0 else root
        Image.fromarray(photo_factory(64, 64, seed=i)).save(where / f"photo_{i:02d}.jpg", quality=90)
    Image.fromarray(photo_factory(64, 64, seed=99, grey=True)).save(root / "grey.jpg", quality=90)
    (root / "notes.txt").write_text("not a photo\n")
    return root


@pytest.fixture
def photos(tmp_path, photo_factory) -> Path:
    return write_folder(tmp_path / "photos", photo_factory, 24)


@pytest.fixture
def tab(qtbot, home):
    t = TrainerTab()
    qtbot.addWidget(t)
    t.resize(1300, 850)
    t.show()
    yield t
    # Never leave a run behind, even when an assertion failed in the middle of one
    # (what the main window does on close).
    t.shutdown()


def answer(monkeypatch, button: QMessageBox.StandardButton) -> list[str]:
    """Make QMessageBox.question answer `button`; returns the questions asked."""
    asked: list[str] = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return button

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked


# ----------------------------------------------------------------------------- helpers


def choose_folder(qtbot, tab: TrainerTab, folder: Path) -> None:
    """Type the folder and press Enter, as a user would; wait for the quick look."""
    edit = tab.folder_summary.path_edit
    edit.clear()
    with qtbot.waitSignal(tab.folder_summary.surveyed, timeout=RUN_TIMEOUT_MS):
        qtbot.keyClicks(edit, str(folder))
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not tab.folder_summary.is_busy(), timeout=RUN_TIMEOUT_MS)


def set_settings(
    qtbot, tab: TrainerTab, name: str, epochs: dict[str, int], train_features: bool = True
) -> None:
    s = tab.settings
    s.name_edit.clear()
    qtbot.keyClicks(s.name_edit, name)
    if s.train_features_check.isChecked() != train_features:
        qtbot.mouseClick(s.train_features_check, Qt.MouseButton.LeftButton)
    assert s.train_features_check.isChecked() == train_features
    if s.preset_combo.isEnabled():
        s.preset_combo.setCurrentIndex(s.preset_combo.findData("tiny"))
    for stage, n in epochs.items():
        s.epoch_spins[stage].setValue(n)
    s.batch_spin.setValue(8)
    s.device_combo.setCurrentIndex(s.device_combo.findData("cpu"))


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def wait_idle(qtbot, tab: TrainerTab) -> None:
    qtbot.waitUntil(lambda: not tab.is_running(), timeout=RUN_TIMEOUT_MS)


def progress_of(path: Path) -> dict[str, int]:
    return read_model_dict(path)["meta"]["progress"]


def train_base_model(path: Path, data: Path) -> None:
    """A tiny model trained without the tab, to serve as a base model."""
    cfg = TrainConfig(
        data=data,
        out=path,
        preset="tiny",
        epochs={"features": 1, "vae": 1, "mdn": 1},
        batch_size=8,
        device="cpu",
    )
    gen = run_training(cfg)
    for _ in gen:
        pass


# ----------------------------------------------------------------------------- tests


def test_folder_summary_counts_usable_and_skipped(qtbot, tab, photos, home):
    choose_folder(qtbot, tab, photos)
    survey = tab.folder_summary.last_survey
    assert survey.usable == 24
    assert {k: len(v) for k, v in survey.skipped.items()} == {"greyscale": 1, "not a photo": 1}
    text = tab.folder_summary.summary.text()
    assert "<b>24</b> usable colour photos" in text and "1 already black-and-white" in text
    assert tab.folder_summary.thumbnail_count() == 8
    # The name is offered from the folder; Start is possible now.
    assert tab.settings.model_name() == "photos"
    assert tab.start_button.isEnabled()

    # A full scan counts the same and leaves the training cache behind, at the side the
    # run will read: the default base model's feature network's input (128 px for the
    # bundled general's `lite128` trunk).
    with qtbot.waitSignal(tab.folder_summary.surveyed, timeout=RUN_TIMEOUT_MS) as blocker:
        click(qtbot, tab.folder_summary.full_button)
    assert blocker.args[0].usable == 24 and not blocker.args[0].sampled
    qtbot.waitUntil(lambda: not tab.folder_summary.is_busy(), timeout=RUN_TIMEOUT_MS)
    size = scan_size(*tab._training_shape())
    assert size >= 64 and list((home / "cache").glob(f"photos-{size}-*/images.npy"))


def test_advanced_settings_reach_the_training_config(tab, tmp_path):
    s = tab.settings
    s.weight_spins["mah"].setValue(0.5)
    s.weighting_combo.setCurrentIndex(s.weighting_combo.findData("raw"))
    s.mdn_loss_combo.setCurrentIndex(s.mdn_loss_combo.findData("decoded"))
    s.lr_spin.setValue(3e-4)
    cfg = s.build_config(tmp_path, tmp_path / "m.pt")
    assert (cfg.loss_weights.mah, cfg.weighting, cfg.mdn_loss, cfg.lr) == (0.5, "raw", "decoded", 3e-4)
    # No feature network trains: its epochs and shifts do not apply, from the first look on.
    assert cfg.shift is None and not s.shift_spin.isEnabled() and not s.epoch_spins["features"].isEnabled()
    s.train_features_check.setChecked(True)
    assert s.shift_spin.isEnabled() and s.epoch_spins["features"].isEnabled()
    s.shift_spin.setValue(3)
    assert s.build_config(tmp_path, tmp_path / "m.pt").shift == 3
    s.train_features_check.setChecked(False)
    assert not s.shift_spin.isEnabled() and s.build_config(tmp_path, tmp_path / "m.pt").shift is None
    s.reset_advanced()
    assert s.shift_spin.value() == 0 and s.shift_spin.text() == "none"
    defaults = TrainConfig(data=tmp_path, out=tmp_path / "m.pt")
    cfg = s.build_config(tmp_path, tmp_path / "m.pt")
    assert (cfg.loss_weights, cfg.weighting, cfg.mdn_loss, cfg.lr) == (
        defaults.loss_weights,
        defaults.weighting,
        defaults.mdn_loss or "latent",
        defaults.lr,
    )  # fmt: skip  (None: "latent" for a new model, the file's own when resuming)


def test_train_cancel_resume(qtbot, tab, photos, monkeypatch):
    saved: list[str] = []
    tab.model_saved.connect(saved.append)
    choose_folder(qtbot, tab, photos)
    # Many short VAE epochs, so the cancel surely lands in the middle of the stage.
    set_settings(qtbot, tab, "tiny-test", {"features": 1, "vae": 40, "mdn": 1}, train_features=True)
    out = user_models_dir() / "tiny-test.pt"

    click(qtbot, tab.start_button)
    assert tab.is_running() and tab.cancel_button.isEnabled() and not tab.start_button.isEnabled()
    qtbot.waitUntil(lambda: tab.stage_progress.epochs_done("vae") >= 2, timeout=RUN_TIMEOUT_MS)
    click(qtbot, tab.cancel_button)
    wait_idle(qtbot, tab)

    progress = progress_of(out)
    assert progress["features"] == 1
    assert 2 <= progress["vae"] < 40, progress  # stopped mid-stage, finished epochs kept
    assert "mdn" not in progress
    assert str(out) in saved  # listed in the Colorize tab's picker as soon as it existed
    card = out.with_suffix(".md").read_text()
    assert "stopped early" in card and "tiny" in card
    assert "Stopped." in tab.log_view.toPlainText()
    assert tab.error_text() == ""
    assert tab.model_list.names() == ["tiny-test"]
    # What the user watched: curves for each loss term, and a validation grid.
    vae_terms = tab.plots.series("vae")
    assert {"hist", "mah", "grad", "kl", "loss"} <= set(vae_terms)
    assert len(tab.plots.series("vae", "val")["loss"][0]) == progress["vae"]
    assert tab.preview.has_preview()

    # Resume continues from the last finished epoch to the end.
    assert tab.resume_button.isEnabled()
    saved.clear()
    click(qtbot, tab.resume_button)
    wait_idle(qtbot, tab)
    assert tab.error_text() == ""
    assert progress_of(out) == {"features": 1, "vae": 40, "mdn": 1}
    assert saved and saved[-1] == str(out)
    card = out.with_suffix(".md").read_text()
    assert "| Status | complete |" in card and "VAE 40/40" in card and "Final losses" in card
    # The plot shows the whole stage: epochs from before the cancel were reloaded.
    assert len(tab.plots.series("vae", "val")["loss"][0]) == 40
    assert tab.stage_progress.bars["mdn"].format() == "done: 1 epochs"

    # Start on the same name asks before replacing; "No" leaves everything as it was.
    asked = answer(monkeypatch, QMessageBox.StandardButton.No)
    click(qtbot, tab.start_button)
    assert asked and "exists" in asked[0]
    assert not tab.is_running() and progress_of(out)["vae"] == 40


def test_reuse_base_model_rename_delete(qtbot, home, photos, monkeypatch):
    base = user_models_dir() / "base.pt"
    train_base_model(base, photos)
    tab = TrainerTab()  # created after the base model exists, so its picker lists it
    qtbot.addWidget(tab)
    tab.show()
    saved: list[str] = []
    tab.model_saved.connect(saved.append)
    try:
        choose_folder(qtbot, tab, photos)
        set_settings(qtbot, tab, "reuser", {"vae": 1, "mdn": 1}, train_features=False)
        s = tab.settings
        s.base_combo.setCurrentIndex(s.base_combo.findData(str(base)))
        # The MDN reads the base model's features, so the preset follows the base model.
        assert s.preset_combo.currentData() == "tiny" and not s.preset_combo.isEnabled()
        assert s.base_hint.text().endswith("trains the VAE and MDN at its size (tiny preset).")
        assert tab.stage_progress.bars["features"].isVisible()
        # Before a run, the Progress panel follows the plan: training the feature network too
        # turns "reused from base" into a stage of its own, and unchecking brings it back.
        features = tab.stage_progress.bars["features"]
        assert features.format() == "reused from base"
        s.train_features_check.setChecked(True)
        assert features.format() == "waiting" and "features" in tab.plots.plots
        s.train_features_check.setChecked(False)
        assert features.format() == "reused from base" and "features" not in tab.plots.plots

        click(qtbot, tab.start_button)
        assert tab.stage_progress.bars["features"].format() == "reused from base"
        wait_idle(qtbot, tab)
        out = user_models_dir() / "reuser.pt"
        meta = read_model_dict(out)["meta"]
        assert tab.error_text() == ""
        assert meta["progress"] == {"vae": 1, "mdn": 1}  # the feature network was not trained
        assert meta["features_from"]["model"] == base.name  # the name only: files say nothing of the machine
        assert "reused, frozen, from `base.pt`" in out.with_suffix(".md").read_text()

        # Rename moves the model, its card and its resume state.
        tab.model_list.select("reuser")
        monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("renamed", True)))
        saved.clear()
        click(qtbot, tab.model_list.rename_button)
        new = user_models_dir() / "renamed.pt"
        assert all(p.exists() for p in family(new)) and not any(p.exists() for p in family(out))
        assert new.with_suffix(".md").read_text().startswith("# renamed\n")
        assert saved == [str(new)]
        assert tab.model_list.names() == ["base", "renamed"]
        assert tab.settings.base_combo.findData(str(new)) >= 0

        # Delete asks first; "No" keeps it, "Yes" removes every file of it.
        answer(monkeypatch, QMessageBox.StandardButton.No)
        click(qtbot, tab.model_list.delete_button)
        assert new.exists()
        asked = answer(monkeypatch, QMessageBox.StandardButton.Yes)
        saved.clear()
        click(qtbot, tab.model_list.delete_button)
        assert asked and "renamed" in asked[0]
        assert not any(p.exists() for p in family(new))
        assert saved == [str(new)] and tab.model_list.names() == ["base"]
    finally:
        tab.shutdown()


def test_training_error_is_shown_and_tab_stays_usable(qtbot, tab, tmp_path, photo_factory):
    few = write_folder(tmp_path / "few", photo_factory, 1)
    choose_folder(qtbot, tab, few)
    set_settings(qtbot, tab, "too-few", {"features": 1, "vae": 1, "mdn": 1})
    click(qtbot, tab.start_button)
    wait_idle(qtbot, tab)
    assert "Training failed:" in tab.error_text() and "usable colour photos" in tab.error_text()
    assert "Traceback" in tab.log_view.toPlainText()  # the details are in the log
    assert tab.start_button.isEnabled() and not tab.cancel_button.isEnabled()
    assert tab.settings.name_edit.isEnabled()
    assert not (user_models_dir() / "too-few.pt").exists()


def test_confirm_close_stops_a_running_training(qtbot, tab, photos, monkeypatch):
    choose_folder(qtbot, tab, photos)
    set_settings(qtbot, tab, "closing", {"features": 1, "vae": 500, "mdn": 1})
    click(qtbot, tab.start_button)
    qtbot.waitUntil(lambda: tab.stage_progress.epochs_done("vae") >= 1, timeout=RUN_TIMEOUT_MS)

    asked = answer(monkeypatch, QMessageBox.StandardButton.No)
    assert tab.confirm_close() is False
    assert asked and tab.is_running()

    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    assert tab.confirm_close() is True
    assert not tab.is_running()  # stopped cleanly before returning
    assert 1 <= progress_of(user_models_dir() / "closing.pt")["vae"] < 500


def test_confirm_close_when_idle_does_not_ask(tab, monkeypatch):
    asked = answer(monkeypatch, QMessageBox.StandardButton.No)
    assert tab.confirm_close() is True and not asked


# ----------------------------------------------------------------------------- Qt-free parts


def test_model_card_says_how_far_training_got():
    meta = {
        "trained_on": "/photos",
        "preset": "tiny",
        "split": {"n_train": 20, "n_val": 2},
        "skipped": {"greyscale": 3},
        "progress": {"features": 2, "vae": 3},
        "wall_s": {"features": 12.0, "vae": 70.0},
        "history": {"vae": [{"epoch": 3, "train": {"loss": 1.5}, "val": {"loss": 2.5}}]},
        "device": "cpu",
        "lr": {"features": 1e-3, "vae": 3e-4, "mdn": 2e-3},
    }
    card = model_card_text(meta, "m", {"features": 2, "vae": 10, "mdn": 10})
    assert "| Learning rate (last run) | Feature network 0.001, VAE 0.0003, MDN 0.002 |" in card
    assert "| MDN loss | latent (the paper's" in card  # a file from before the choice existed
    assert "| MDN loss | decoded (the paper's, plus" in model_card_text({**meta, "mdn_loss": "decoded"}, "m")
    assert card.startswith("# m\n")
    assert "22 (20 training, 2 validation)" in card and "3 (greyscale 3)" in card
    assert "Feature network 2/2, VAE 3/10, MDN 0/10" in card and "stopped early" in card
    assert "1 min 22 s" in card and "| VAE | 3 | loss 1.5 | loss 2.5 |" in card
