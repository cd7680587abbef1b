"""Export and copy: the shown colorization, or the top k, rendered at full resolution off the
GUI thread (core/jobs.py through a Worker), with a progress dialog for the slow ones, the
colour hints written beside what was exported, and one status line for the outcome.

It reads what to export from the Colorize tab it belongs to (the photo, the shown field,
the modes, the hints, the settings) and runs one export at a time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from ..images import to_qimage
from ..widgets import confirm
from ..worker import Worker

if TYPE_CHECKING:
    from divcolor_gui.core.hints import Hint

    from .tab import ColorizeTab

# Above this many pixels a full-resolution render takes long enough to deserve a dialog.
PROGRESS_PIXELS = 4_000_000
EXPORT_FILTERS = "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;TIFF image (*.tif *.tiff)"
_FILTER_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif"}


class Exporter(QObject):
    message = Signal(str)  # one status line: what is being done, what was written
    exported = Signal(list)  # paths written
    failed = Signal(str, str)  # title, one-line message
    busy_changed = Signal()  # an export started or ended

    def __init__(self, tab: ColorizeTab):
        super().__init__(tab)
        self.tab = tab
        self.busy = False
        self.dialog: QProgressDialog | None = None
        self._clipboard = False
        self._hints: list[Hint] = []  # the hints of the export under way

    def ready(self) -> bool:
        """Whether the shown colorization can be exported or copied now."""
        return self.tab.can_export() and not self.busy

    def export_current(self) -> None:
        """Save the shown result at full resolution; the save dialog asks before overwriting."""
        t = self.tab
        if not self.ready():
            return
        from divcolor_gui.core import jobs

        suggested = self._folder() / jobs.suggest_name(t.photo.path, ".png")
        path, chosen = QFileDialog.getSaveFileName(t, "Export colorization", str(suggested), EXPORT_FILTERS)
        if not path:
            return
        path = Path(path)
        if path.suffix.lower() not in jobs.SAVE_FORMATS:
            path = path.with_name(path.name + _FILTER_SUFFIX.get((chosen or "PNG").split()[0], ".png"))
        t.settings.set("last_export_dir", str(path.parent))
        worker = Worker(
            jobs.render_and_save_job, t.colorizer, t.photo, t.field, path, int(t.settings["jpeg_quality"])
        )
        self._run(worker, f"Rendering {path.name} at full resolution…", 0, cancellable=False)

    def export_all(self) -> None:
        """The top-k components at full resolution into a folder; asks before overwriting."""
        t = self.tab
        if t.result is None or t.result.analysis is None or self.busy:
            return
        from divcolor_gui.core import jobs

        folder = QFileDialog.getExistingDirectory(t, "Export the top colorizations to", str(self._folder()))
        if not folder:
            return
        folder = Path(folder)
        k = max(1, min(int(t.settings["export_top_k"]), t.space.k))
        suffix = "." + t.settings["export_format"]
        paths = [folder / jobs.suggest_name(t.photo.path, suffix, i + 1) for i in range(k)]
        existing = [p for p in paths if p.exists()]
        if existing:
            names = "\n".join(p.name for p in existing[:8]) + ("\n…" if len(existing) > 8 else "")
            if not confirm(
                t,
                "Replace files?",
                f"{len(existing)} of the {k} files already exist in {folder}:\n{names}\n\nReplace them?",
            ):
                return
        t.settings.set("last_export_dir", str(folder))
        worker = Worker(
            jobs.export_all_job, t.latent_colorizer, t.latents, paths, int(t.settings["jpeg_quality"])
        )
        self._run(worker, f"Exporting the top {k} colorizations…", k, cancellable=True)

    def copy_to_clipboard(self) -> None:
        t = self.tab
        if not self.ready():
            return
        from divcolor_gui.core import jobs

        worker = Worker(jobs.render_full_job, t.colorizer, t.photo, t.field)
        self._run(worker, "Rendering for the clipboard…", 0, cancellable=False, clipboard=True)

    # ------------------------------------------------------------------ running one export
    def _folder(self) -> Path:
        """Where the file dialogs open: the last export's folder, else the photo's."""
        d = self.tab.settings["last_export_dir"]
        if d and Path(d).is_dir():
            return Path(d)
        photo = self.tab.photo
        if photo is not None and photo.path is not None:
            return photo.path.parent
        return Path.home()

    def _progress_dialog(self, text: str, maximum: int, cancellable: bool) -> QProgressDialog:
        dlg = QProgressDialog(text, "Cancel" if cancellable else None, 0, maximum, self.tab)
        dlg.setWindowTitle("divcolor")
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setValue(0)
        return dlg

    def _run(self, worker: Worker, text: str, steps: int, cancellable: bool, clipboard: bool = False) -> None:
        self.busy = True
        self.busy_changed.emit()
        self._hints = [] if clipboard else list(self.tab.hint_tool.hints)
        w, h = self.tab.photo.size
        dlg = None
        if steps > 1 or w * h > PROGRESS_PIXELS:
            dlg = self._progress_dialog(text, steps, cancellable)
            if cancellable:
                # A lambda runs in the GUI thread at once; a bound method of the worker would be
                # queued to the worker's thread, which is busy rendering until the very end.
                dlg.canceled.connect(lambda: worker.cancel())
            dlg.show()
        self.dialog = dlg
        self._clipboard = clipboard
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self.message.emit(text)
        self.tab.runner.start(worker)

    def _end(self) -> None:
        self.busy = False
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None
        self.busy_changed.emit()

    @Slot(object)
    def _on_progress(self, rec: tuple[int, int]) -> None:
        if self.dialog is not None and isinstance(rec, tuple):
            self.dialog.setValue(rec[0])

    @Slot(object)
    def _on_done(self, result) -> None:
        self._end()
        if self._clipboard:
            QGuiApplication.clipboard().setImage(to_qimage(result))
            h, w = result.shape[:2]
            self.message.emit(f"Copied the colorization ({w}×{h}) to the clipboard")
            return
        paths = result if isinstance(result, list) else [result]
        where = paths[0].parent if len(paths) > 1 else paths[0]
        problem = self._save_sidecars(paths)
        hinted = f" (with {len(self._hints)} hints)" if self._hints else ""
        self.message.emit(
            problem or f"Exported {len(paths)} file{'s' if len(paths) > 1 else ''}{hinted}: {where}"
        )
        self.exported.emit([str(p) for p in paths])

    @Slot(str, str)
    def _on_failed(self, message: str, _trace: str) -> None:
        self._end()
        self.failed.emit("Export failed", message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._end()
        self.message.emit("Export cancelled (files already written are kept)")

    def _save_sidecars(self, exported: list[Path]) -> str:
        """The export's hints beside each exported file and beside the photo (so they reload
        with it); '' or one line saying what could not be written."""
        from divcolor_gui.core.hints import save_hints, sidecar_path

        targets = [sidecar_path(p) for p in exported]
        photo = self.tab.photo
        if photo is not None and photo.path is not None:
            targets.append(sidecar_path(photo.path))
        problems = []
        for t in dict.fromkeys(targets):
            if not self._hints and not t.exists():
                continue  # no hints: only an older file, which would bring back cleared hints, is rewritten
            try:
                save_hints(t, self._hints)
            except OSError as e:
                problems.append(f"{t}: {e.strerror or e}")
        return f"Hints not saved: {problems[0]}" if problems else ""
