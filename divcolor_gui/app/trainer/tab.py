"""The Trainer tab: train a model on the user's own photos.

Choose a folder (and see what it holds), adjust the settings, Start: the stages run
through `trainer.run.run_training` in a Worker, with a progress bar per stage, live
loss curves, the validation colorizations of each epoch and a log. Cancel stops at
the next step and keeps the last finished epoch; Resume continues from there. The
model lands in the user's models folder with a model card, and `model_saved` tells
the Colorize tab to list it.

The trainer's modules import torch, which the main window loads after it shows: built with
`defer_setup`, the tab finishes setting up what needs them in `finish_setup`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEventLoop, Qt, QThread, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from divcolor_gui.core.model_files import delete_model, family, model_path
from divcolor_gui.core.vocabulary import STAGE_TITLES, format_clock, stage_title

from ..tasks import TaskRunner
from ..widgets import confirm
from ..worker import Worker
from .folder_summary import FolderSummary
from .model_list import ModelList
from .plots import LossPlots
from .preview import PreviewGrid
from .settings_panel import TrainerSettingsPanel
from .stage_progress import StageProgress

if TYPE_CHECKING:
    from trainer.app_jobs import FolderSurvey
    from trainer.loop import Progress
    from trainer.run import TrainConfig

LOG_LINES = 5000


def _group(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    lay = QVBoxLayout(box)
    lay.setContentsMargins(8, 6, 8, 8)
    lay.addWidget(widget)
    return box


class TrainerTab(QWidget):
    # A model file appeared, changed, was renamed (new path) or deleted (old path):
    # the Colorize tab refreshes its model picker.
    model_saved = Signal(str)

    def __init__(self, parent: QWidget | None = None, defer_setup: bool = False) -> None:
        """`defer_setup`: what needs torch (the settings' defaults, whether CUDA works) waits
        for `finish_setup`, which the main window calls once torch has loaded; until then the
        settings are disabled and nothing can start."""
        super().__init__(parent)
        self._worker: Worker | None = None
        self._thread: QThread | None = None
        self.runner = TaskRunner(self)  # the thread has no Qt parent (tasks.py says why)
        self._cfg: TrainConfig | None = None
        self._t0 = 0.0
        self._announced = False  # model_saved sent for this run's file

        # Left: what to train on and how.
        self.settings = TrainerSettingsPanel()
        self.folder_summary = FolderSummary(self._training_shape)
        if not defer_setup:  # now, before the layout below is measured
            # Imported here, not at the top: it needs torch, which loads after the window shows.
            from divcolor_gui.core.device import cuda_works

            self._finish_panels(cuda_works())
        self.folder_summary.folder_changed.connect(self._on_folder_changed)
        self.folder_summary.surveyed.connect(self._on_surveyed)
        self.folder_summary.log.connect(self.log)
        self.settings.changed.connect(self._update_buttons)

        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop at the next step; the last finished epoch is kept")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self.resume)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.resume_button)
        self.button_hint = QLabel()
        self.button_hint.setWordWrap(True)
        self.button_hint.setStyleSheet("color: gray;")

        self.model_list = ModelList()
        self.model_list.changed.connect(self._on_models_changed)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.addWidget(_group("Photos", self.folder_summary))
        ll.addWidget(_group("Settings", self.settings))
        ll.addLayout(buttons)
        ll.addWidget(self.button_hint)
        ll.addWidget(_group("Your models", self.model_list), 1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # The panels wrap their text to the column's width; a sideways scrollbar would
        # only hide the buttons at the right edge.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._left, self._scroll = left, scroll
        self._fit_left_column()

        # Right: how it goes.
        self.error_banner = QLabel()
        self.error_banner.setWordWrap(True)
        self.error_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_banner.setStyleSheet(
            "background: #fde8e8; color: #8b0000; border: 1px solid #e0a0a0; border-radius: 3px; padding: 6px;"
        )
        self.error_banner.hide()
        self.stage_progress = StageProgress()
        self.plots = LossPlots()
        self.preview = PreviewGrid()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)

        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(_group("Validation colorizations", self.preview))
        bottom.addWidget(_group("Log", self.log_view))
        bottom.setStretchFactor(0, 1)
        bottom.setStretchFactor(1, 1)
        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(
            _group("Losses  (lines: training, running mean · dots: validation)", self.plots)
        )
        right_split.addWidget(bottom)
        right_split.setStretchFactor(0, 1)
        right_split.setStretchFactor(1, 1)
        right_split.setChildrenCollapsible(False)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.error_banner)
        rl.addWidget(_group("Progress", self.stage_progress))
        rl.addWidget(right_split, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([scroll.minimumWidth(), 1000])
        lay = QVBoxLayout(self)
        lay.addWidget(split)

        # (stages, reused base model) as the panels show them; () not drawn yet; None once a
        # run has started, whose record they keep until the next.
        self._plan: tuple | None = ()
        self._show_plan()
        self.settings.changed.connect(self._show_plan)
        self._update_buttons()

    def _finish_panels(self, cuda: bool) -> None:
        self.settings.finish_setup(cuda)
        self.folder_summary.finish_setup()

    def finish_setup(self, cuda: bool) -> None:
        """What needs the trainer's modules (torch), once they have loaded: the settings'
        defaults and loss weights, CUDA in the device list (`cuda`: whether it works)."""
        if self.settings.is_ready():
            return
        self._finish_panels(cuda)
        self._fit_left_column()  # the loss weights' rows are new
        self._update_buttons()

    def _fit_left_column(self) -> None:
        """The settings column as wide as its widest row, so nothing is cut off."""
        left, scroll = self._left, self._scroll
        expanded = self.settings.advanced.is_expanded()
        self.settings.advanced.set_expanded(True)  # measured at its widest
        widest = left.minimumSizeHint().width()
        self.settings.advanced.set_expanded(expanded)
        scroll.setMinimumWidth(widest + scroll.verticalScrollBar().sizeHint().width() + 4)

    # ------------------------------------------------------------------ state

    def is_running(self) -> bool:
        return self._thread is not None

    def _training_shape(self) -> tuple[str, Path | None]:
        cfg = self.settings.build_config(Path(), Path())
        return cfg.preset, cfg.features_from

    def _reused_name(self) -> str | None:
        base = None if self.settings.train_features_check.isChecked() else self.settings.base_model()
        return base.stem if base else None

    def _show_plan(self, *_: object) -> None:
        """Until a run starts, the Progress panel and the plots show the stages the settings
        would train (and which base model's feature network they would reuse); once one has
        started, they keep its record until the next."""
        plan = (self.settings.stages(), self._reused_name())
        if self._plan is not None and plan != self._plan:
            self._plan = plan
            self.stage_progress.reset(*plan)
            self.plots.reset(plan[0])

    def _update_buttons(self, *_: object) -> None:
        running = self.is_running()
        folder = self.folder_summary.folder()
        problem = self.settings.name_problem()
        out = None if problem else model_path(self.settings.model_name())
        can_resume = out is not None and out.is_file() and family(out)[2].is_file()
        ready = self.settings.is_ready()  # the settings hold their defaults (finish_setup)
        self.start_button.setEnabled(
            ready and not running and folder is not None and folder.is_dir() and problem is None
        )
        self.resume_button.setEnabled(ready and not running and can_resume)
        if not self.cancel_button.text().startswith("Stopping"):
            self.cancel_button.setEnabled(running)
        if running:
            hint = ""
        elif folder is None or not folder.is_dir():
            hint = "Choose a folder of colour photos to start."
        elif problem:
            hint = f"Model name: {problem}."
        elif can_resume:
            hint = (
                f"{out.name} exists: Resume continues it from its last finished epoch (up to the epochs "
                "set above); Start replaces it."
            )
        elif out is not None and out.exists():
            hint = f"{out.name} exists: Start replaces it."
        else:
            hint = f"Saves to {out}" if out else ""
        self.resume_button.setToolTip(hint if can_resume else "No stopped model of this name to resume")
        self.button_hint.setText(hint)

    def log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        for i, line in enumerate(text.splitlines() or [""]):
            self.log_view.appendPlainText(f"{stamp}  {line}" if i == 0 else f"          {line}")

    def _show_error(self, text: str) -> None:
        self.error_banner.setText(text)
        self.error_banner.show()

    def error_text(self) -> str:
        """The error shown in the banner, or "" when none is shown."""
        return "" if self.error_banner.isHidden() else self.error_banner.text()

    # ------------------------------------------------------------------ folder

    def _on_folder_changed(self, folder: str) -> None:
        if folder:
            self.settings.suggest_name(Path(folder).name, set(self.model_list.names()))
        self._update_buttons()

    def _on_surveyed(self, survey: FolderSurvey) -> None:
        self._update_buttons()

    def _on_models_changed(self, path: str) -> None:
        self.settings.refresh_models()
        self._update_buttons()
        self.model_saved.emit(path)

    # ------------------------------------------------------------------ actions

    def start(self) -> None:
        if self.is_running():
            return
        folder = self.folder_summary.folder()
        if folder is None or not folder.is_dir():
            self._show_error("Choose a folder of colour photos first.")
            return
        problem = self.settings.name_problem()
        if problem:
            self._show_error(f"Model name: {problem}.")
            return
        out = model_path(self.settings.model_name())
        if out.exists():
            if not confirm(
                self,
                "Replace model",
                f"A model named {out.stem!r} exists. Replace it with a new one?\n\n"
                "(Resume continues it instead.)",
            ):
                return
            delete_model(out)
            self.log(f"Deleted the old {out.name} to replace it")
            self.model_list.refresh()
            self.model_saved.emit(str(out))
        self._run(self.settings.build_config(folder, out))

    def resume(self) -> None:
        if self.is_running():
            return
        out = model_path(self.settings.model_name())
        if not out.is_file():
            self._show_error(f"There is no model {out.stem!r} to resume: press Start.")
            return
        # The photos folder and the other settings come from the model file
        # (trainer.policy.settings_for_resume, in train_job).
        folder = self.folder_summary.folder() or out.parent
        self._run(self.settings.build_config(folder, out, resume=True))

    def cancel(self) -> None:
        if self._worker is None:
            return
        self._worker.cancel()
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Stopping…")
        self.log("Stopping at the next step…")

    def _run(self, cfg: TrainConfig) -> None:
        self.error_banner.hide()
        self.folder_summary.stop()  # the run reads the folder itself
        self._cfg = cfg
        self._t0 = time.monotonic()
        self._announced = False
        self._reset_views(cfg)
        stages = " → ".join(STAGE_TITLES[s] for s in cfg.stages if s in STAGE_TITLES)
        epochs = ", ".join(
            f"{STAGE_TITLES[s]} {cfg.epochs.get(s, 0)}" for s in cfg.stages if s in STAGE_TITLES
        )
        base = f"; feature network reused from {cfg.features_from.name}" if cfg.features_from else ""
        self.log(
            f"{'Resuming' if cfg.resume else 'Training'} {cfg.out.stem!r} on {cfg.data}: {stages} "
            f"({cfg.preset} preset; epochs {epochs}; batch {cfg.batch_size}; device {cfg.device}{base}); "
            f"saved to {cfg.out} after every epoch"
        )

        from trainer.app_jobs import train_job

        worker = Worker(train_job, cfg)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self._worker = worker
        self._thread = self.runner.start(worker)
        self._thread.finished.connect(self._on_thread_finished)
        self.settings.set_running(True)
        self.folder_summary.set_controls_enabled(False)
        self.model_list.set_busy(cfg.out.stem)
        self._update_buttons()

    def _reset_views(self, cfg: TrainConfig) -> None:
        self._plan = None  # from now on the panels show runs, not the settings
        reused = cfg.features_from.stem if cfg.features_from else None
        self.stage_progress.reset(cfg.stages, reused=reused)
        self.plots.reset(tuple(s for s in cfg.stages if not (s == "features" and cfg.features_from)))
        self.preview.clear()

    # ------------------------------------------------------------------ worker signals

    def _on_progress(self, rec: object) -> None:
        from trainer.app_jobs import JobNote
        from trainer.data import ScanProgress
        from trainer.loop import Progress

        if isinstance(rec, ScanProgress):
            self.stage_progress.on_scan(rec)
        elif isinstance(rec, Progress):
            self.stage_progress.on_progress(rec)
            self.plots.add(rec)
            if rec.kind == "epoch":
                self._on_epoch(rec)
        elif isinstance(rec, JobNote):
            if rec.config is not None:  # a resume: the settings stored in the model rule
                self._cfg = rec.config
                self._reset_views(rec.config)
            if rec.history:
                self.plots.load_history(rec.history)
            self.log(rec.text)

    def _on_epoch(self, rec: Progress) -> None:
        if rec.preview is not None:
            self.preview.set_preview(rec.stage, rec.epoch, rec.preview)
        train = rec.losses.get("loss")
        train = f": loss {train:.4g}" if train is not None else ""
        val = (rec.val or {}).get("loss")
        val = f", validation {val:.4g}" if val is not None else ""
        self.log(
            f"{stage_title(rec.stage)} epoch {rec.epoch}/{rec.epochs}{train}{val}"
            f" · {format_clock(rec.elapsed_s)}"
        )
        out = self._cfg.out if self._cfg else None
        if out is not None and not self._announced and out.is_file():
            # The file exists from the first finished epoch on: usable (and listed) at once.
            self._announced = True
            self.model_list.refresh()
            self.model_saved.emit(str(out))

    def _on_finished(self, result: object) -> None:
        took = format_clock(time.monotonic() - self._t0)
        self.log(f"Finished in {took}: saved {result}")
        self._after_run(str(result) if result else None)

    def _on_cancelled(self) -> None:
        self.stage_progress.mark_stopped("stopped")
        out = self._cfg.out if self._cfg else None
        if out is not None and out.is_file():
            self.log(f"Stopped. {out.name} keeps the last finished epoch; Resume continues from there.")
        else:
            self.log("Stopped before the first epoch finished: nothing was saved.")
        self._after_run(str(out) if out is not None and out.is_file() else None)

    def _on_failed(self, message: str, details: str) -> None:
        self.stage_progress.mark_stopped("failed")
        self._show_error(f"Training failed: {message}")
        self.log(f"Training failed: {message}\n{details.rstrip()}")
        out = self._cfg.out if self._cfg else None
        if out is not None and out.is_file():
            self.log(f"{out.name} keeps the last finished epoch; Resume continues from there.")
        self._after_run(str(out) if out is not None and out.is_file() else None)

    def _after_run(self, saved: str | None) -> None:
        self.model_list.set_busy(None)
        self.model_list.refresh(select=Path(saved) if saved else None)
        self.settings.refresh_models()  # a new model can be a base model now
        if saved:
            self.model_saved.emit(saved)

    def _on_thread_finished(self) -> None:
        self._thread = None
        self._worker = None
        self.cancel_button.setText("Cancel")
        self.settings.set_running(False)
        self.folder_summary.set_controls_enabled(True)
        self._update_buttons()

    # ------------------------------------------------------------------ closing

    def wait_for_worker(self) -> None:
        """Block (with the event loop running) until the training thread has ended."""
        thread = self._thread
        if thread is None:
            return
        loop = QEventLoop()
        thread.finished.connect(loop.quit)
        if thread.isRunning():
            loop.exec()
        if self._thread is thread:
            self._on_thread_finished()

    def confirm_close(self) -> bool:
        """Called by the main window before closing: True lets it close. A running
        training is stopped (after asking) at its next step, keeping its last epoch."""
        if self.is_running():
            if not confirm(
                self,
                "Training is running",
                "Stop the training and close?\n\nThe last finished epoch is kept in the model; "
                "Resume in the Trainer tab continues from there.",
            ):
                return False
            self.cancel()
            self.wait_for_worker()
        self.folder_summary.stop()
        return True

    def shutdown(self) -> None:
        """Closing without asking (the window already decided): stop at the next step,
        keep the last finished epoch, and wait for the threads to end."""
        if self.is_running():
            self.cancel()
            self.wait_for_worker()
        self.folder_summary.stop()
