"""The folder of photos to train on, and what it holds: how many usable colour
photos, how many skipped and why, and a few thumbnails. The scan runs in a Worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEventLoop, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..images import to_pixmap
from ..tasks import TaskRunner
from ..worker import Worker

if TYPE_CHECKING:
    from trainer.app_jobs import FolderSurvey

THUMB_SIDE = 46
REASON_WORDS = {
    "greyscale": "already black-and-white",
    "unreadable": "unreadable",
    "too small": "too small",
    "not a photo": "not a photo",
}


class FolderSummary(QWidget):
    folder_changed = Signal(str)
    surveyed = Signal(object)  # FolderSurvey
    log = Signal(str)  # lines for the tab's log

    def __init__(
        self, training_shape: Callable[[], tuple[str, Path | None]], parent: QWidget | None = None
    ) -> None:
        """`training_shape()` -> (preset, base model): a full scan caches photos at the
        size the training will read them, so Start does not read them again."""
        super().__init__(parent)
        self._training_shape = training_shape
        self._worker: Worker | None = None
        self._thread: QThread | None = None
        self.runner = TaskRunner(self)  # the thread has no Qt parent (tasks.py says why)
        self._full = False
        self._controls_on = True
        self.last_survey: FolderSurvey | None = None

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("A folder of colour photos (subfolders included)")
        self.path_edit.editingFinished.connect(self._on_path_edited)
        self.browse_button = QPushButton("Choose…")
        self.browse_button.clicked.connect(self._browse)
        self.quick_button = QPushButton("Quick look")
        self.quick_button.clicked.connect(lambda: self.scan(full=False))
        self.full_button = QPushButton("Full scan")
        self.full_button.setToolTip(
            "Check every photo and prepare them for training (Start would otherwise do it)"
        )
        self.full_button.clicked.connect(lambda: self.scan(full=True))
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.cancel)
        self.stop_button.hide()
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.summary = QLabel("Choose a folder to see what it holds.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.thumbs = QWidget()
        self.thumbs.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._thumb_row = QHBoxLayout(self.thumbs)
        self._thumb_row.setContentsMargins(0, 0, 0, 0)
        self._thumb_row.setSpacing(3)
        self._thumb_row.addStretch(1)

        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.quick_button)
        buttons.addWidget(self.full_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.progress, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addLayout(buttons)
        lay.addWidget(self.summary)
        lay.addWidget(self.thumbs)
        self._update_buttons()

    # ------------------------------------------------------------------ folder

    def folder(self) -> Path | None:
        text = self.path_edit.text().strip()
        return Path(text).expanduser() if text else None

    def set_folder(self, path: str | Path, scan: bool = True) -> None:
        self.path_edit.setText(str(path))
        self._folder_set(scan)

    def _browse(self) -> None:
        start = str(self.folder() or Path.home())
        path = QFileDialog.getExistingDirectory(self, "Folder of colour photos", start)
        if path:
            self.set_folder(path)

    def _on_path_edited(self) -> None:
        if self.last_survey is None or self.folder() != self.last_survey.root:
            self._folder_set(scan=True)

    def _folder_set(self, scan: bool) -> None:
        self.last_survey = None
        self._clear_thumbs()
        folder = self.folder()
        self.folder_changed.emit(str(folder) if folder else "")
        if folder is None:
            self.summary.setText("Choose a folder to see what it holds.")
        elif not folder.is_dir():
            self.summary.setText(f"<span style='color:#b00020'>{folder} is not a folder.</span>")
        elif scan:
            self.scan(full=False)
        self._update_buttons()

    def finish_setup(self) -> None:
        """What needs the trainer's modules, which import torch: loaded after the window
        shows (the Trainer tab calls this then)."""
        from trainer.app_jobs import QUICK_LOOK

        self.quick_button.setToolTip(f"Check the first {QUICK_LOOK} photos: a few seconds")

    # ------------------------------------------------------------------ scanning

    def is_busy(self) -> bool:
        return self._thread is not None

    def scan(self, full: bool) -> None:
        folder = self.folder()
        if folder is None or not folder.is_dir() or self.is_busy():
            return
        from trainer.app_jobs import QUICK_LOOK, survey_folder

        preset, base = self._training_shape()
        self._full = full
        worker = Worker(survey_folder, folder, None if full else QUICK_LOOK, preset, base)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self._worker = worker
        self.progress.setRange(0, 0)  # busy until the first count arrives
        self.progress.setFormat("looking…")
        self.progress.show()
        self.summary.setText("Looking at the photos…")
        self._thread = self.runner.start(worker)
        self._thread.finished.connect(self._on_thread_finished)
        self._update_buttons()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def stop(self) -> None:
        """Cancel a scan and wait for its thread to end (keeps the GUI responsive)."""
        thread = self._thread
        if thread is None:
            return
        self.cancel()
        loop = QEventLoop()
        thread.finished.connect(loop.quit)
        if thread.isRunning():
            loop.exec()
        self._on_thread_finished()

    def _on_progress(self, rec: object) -> None:
        from trainer.data import ScanProgress

        if isinstance(rec, ScanProgress):
            self.progress.setRange(0, max(rec.total, 1))
            self.progress.setValue(rec.done)
            self.progress.setFormat(f"%v/%m photos · {rec.usable} usable")

    def _on_finished(self, survey: FolderSurvey) -> None:
        self.last_survey = survey
        self.summary.setText(self.describe(survey))
        self._show_thumbs(survey.thumbnails)
        kind = "Full scan" if self._full else "Quick look"
        self.log.emit(f"{kind} of {survey.root}: {survey.usable} usable, {survey.n_skipped} skipped")
        self.surveyed.emit(survey)

    def _on_failed(self, message: str, details: str) -> None:
        self.summary.setText(f"<span style='color:#b00020'>Could not read the folder: {message}</span>")
        self.log.emit(f"Scan failed: {message}\n{details}")

    def _on_cancelled(self) -> None:
        self.summary.setText("Scan stopped.")

    def _on_thread_finished(self) -> None:
        self._thread = None
        self._worker = None
        self.progress.hide()
        self._update_buttons()

    @staticmethod
    def describe(s: FolderSurvey) -> str:
        if s.sampled:
            head = (
                f"Looked at the first <b>{s.looked_at}</b> of {s.candidates} photo files: "
                f"<b>{s.usable}</b> are usable colour photos (about <b>{s.estimated_usable}</b> in the folder). "
                "A full scan gives exact counts."
            )
        else:
            head = f"<b>{s.usable}</b> usable colour photos among {s.candidates} photo files."
        if s.skipped:
            why = ", ".join(
                f"{len(v)} {REASON_WORDS.get(k, k)}"
                for k, v in sorted(s.skipped.items(), key=lambda kv: -len(kv[1]))
            )
            head += f"<br>Skipped {s.n_skipped}: {why}."
            examples = [p for v in s.skipped.values() for p in v[:2]][:4]
            if examples:
                head += f" <span style='color:gray'>(e.g. {', '.join(examples)})</span>"
        if s.usable < 2:
            head += "<br><span style='color:#b00020'>Too few colour photos to train on.</span>"
        elif s.estimated_usable < 500:
            head += (
                "<br><span style='color:#8a5a00'>Few photos: expect the model to learn their "
                "colours by heart; a few thousand work much better.</span>"
            )
        return head

    # ------------------------------------------------------------------ view

    def _clear_thumbs(self) -> None:
        while self._thumb_row.count() > 1:
            item = self._thumb_row.takeAt(0)
            if item.widget():
                item.widget().deleteLater()

    def _show_thumbs(self, thumbs: list[np.ndarray]) -> None:
        self._clear_thumbs()
        for i, rgb in enumerate(thumbs):
            label = QLabel()
            label.setPixmap(to_pixmap(rgb).scaled(THUMB_SIDE, THUMB_SIDE))
            label.setFixedSize(THUMB_SIDE, THUMB_SIDE)
            self._thumb_row.insertWidget(i, label)

    def thumbnail_count(self) -> int:
        return self._thumb_row.count() - 1

    def set_controls_enabled(self, on: bool) -> None:
        """Off while a training run reads the folder."""
        self._controls_on = on
        self._update_buttons()

    def _update_buttons(self) -> None:
        on = self._controls_on
        busy = self.is_busy()
        folder = self.folder()
        ok = folder is not None and folder.is_dir()
        self.path_edit.setEnabled(on and not busy)
        self.browse_button.setEnabled(on and not busy)
        self.quick_button.setEnabled(on and ok and not busy)
        self.full_button.setEnabled(on and ok and not busy)
        self.stop_button.setVisible(busy)
