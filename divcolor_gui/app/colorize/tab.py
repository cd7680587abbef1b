"""The Colorize tab: open a photo, see its ranked colorizations, give colour hints, explore
the latent space live, export. It wires the panels together; the slow steps are functions in
divcolor_gui/core/jobs.py run by workers (app/worker.py), so the window never waits on torch.

torch itself loads after the window shows: the core modules that need it are imported where
they are used, and built with `defer_setup` the tab lists CUDA and loads the model only in
`finish_setup`, which the main window calls once torch has loaded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from divcolor_gui.core.latent_space import LatentSpace
from divcolor_gui.core.resources import available_models, user_models_dir
from divcolor_gui.core.settings import Settings

from ..tasks import TaskRunner
from ..widgets import DevicePicker, ModelPicker
from ..worker import Worker
from .decode_queue import DecodeQueue
from .exporter import Exporter
from .hint_queue import HintedColorizer, SolveQueue, SolveResult, SolverReady, hinted_analysis
from .hint_tool import HintTool
from .latent_explorer import LatentExplorer
from .preview_panel import PreviewPanel
from .thumbnail_strip import ThumbnailStrip

if TYPE_CHECKING:
    from divcolor_gui.core import jobs
    from divcolor_gui.core.colorizer import Analysis, Colorizer
    from divcolor_gui.core.hints import Hint
    from divcolor_gui.core.photo import Photo


class ColorizeTab(QWidget):
    status_changed = Signal(str, str)  # key (model | device | analysis | decode | message), text
    photo_opened = Signal(str)  # path
    analysis_ready = Signal()  # thumbnails (and the first preview) are shown
    preview_updated = Signal()  # the large view shows a newly decoded latent
    hints_solved = Signal()  # the thumbnails (and the large view) show the modes under the hints
    model_ready = Signal(str)  # a model finished loading (its name)
    exported = Signal(list)  # paths written
    failed = Signal(str, str)  # title, one-line message (also shown in a box when interactive)
    state_changed = Signal()  # what can be exported / copied changed

    def __init__(
        self,
        settings: Settings,
        model_override: str | None = None,
        parent: QWidget | None = None,
        cuda: bool | None = None,
        defer_setup: bool = False,
    ):
        """`cuda`: whether CUDA works here (None: find out). `defer_setup`: finding that out
        and loading the model wait for `finish_setup` (the main window calls it once torch
        has loaded); until then the model counts as loading, and a photo asked for waits."""
        super().__init__(parent)
        self.settings = settings
        self.show_errors = True  # False in --screenshot / --self-test runs: nobody to click OK
        self.runner = TaskRunner(self)
        self.decoder = DecodeQueue(self.runner, self)
        self.solver = SolveQueue(self.runner, self)
        self.exporter = Exporter(self)

        self.colorizer: Colorizer | None = None
        self.photo: Photo | None = None
        self.result: jobs.PhotoResult | None = None
        self.space: LatentSpace | None = None
        self.z: np.ndarray | None = None  # (d,) latent shown in the large view
        self.field = None  # (2, 64, 64) its decoded field, what Export renders
        self.preview_rgb: np.ndarray | None = None
        self.component = 0  # the selected component (rank)
        self.sample_latents: np.ndarray | None = None  # (n, d)
        # What the latent tools work from (_use_modes): the analysis and the colorizer, or
        # while hints exist the hinted modes and a colorizer adding the hints' correction.
        self.latents: Analysis | None = None
        self.latent_colorizer: Colorizer | HintedColorizer | None = None
        self.solved: SolveResult | None = None  # the latest solve shown, None without hints
        self._photo_token = 0
        self._model_token = 0
        self._samples_token = 0
        self._model_loading = False
        # The photo being opened or analyzed now: a model that finishes loading meanwhile
        # must analyze it again, or its answer would come from the previous model.
        self._inflight: Photo | str | Path | None = None
        # The latest photo and model jobs: a failure of an earlier one, superseded, is still
        # reported but leaves the state of the latest alone.
        self._photo_worker: Worker | None = None
        self._model_worker: Worker | None = None
        self.last_decode_s = 0.0
        self._setup_done = False
        self._pending_open: Photo | str | Path | None = None  # asked for before finish_setup

        if cuda is None and not defer_setup:
            # Imported here, not at the top: it needs torch, which loads after the window shows.
            from divcolor_gui.core.device import cuda_works

            cuda = cuda_works()
        self._cuda = cuda
        self._build()
        self.setAcceptDrops(True)

        self.model_picker.model_chosen.connect(self._on_model_chosen)
        self.device_picker.device_chosen.connect(self._on_device_chosen)
        self.refresh_button.clicked.connect(lambda: self.refresh_models())
        self.strip.component_clicked.connect(self.select_component)
        self.strip.sample_clicked.connect(self.select_sample)
        self.explorer.latent_changed.connect(self._request_latent)
        self.explorer.more_like_this.connect(self.more_like_this)
        self.explorer.reset_requested.connect(self.reset_exploration)
        self.exporter.message.connect(lambda text: self.status_changed.emit("message", text))
        self.exporter.failed.connect(self._fail)
        self.exporter.exported.connect(self.exported)
        self.exporter.busy_changed.connect(self.state_changed)
        self.decoder.ready.connect(self._on_preview)
        self.decoder.failed.connect(lambda msg: self._fail("Cannot decode", msg))
        self.hint_tool.hints_changed.connect(self._on_hints_changed)
        self.hint_tool.active_changed.connect(lambda on: self.solver.warm_up() if on else None)
        self.hint_tool.message.connect(lambda text: self.status_changed.emit("message", text))
        self.hint_tool.swatches = self.mode_colours_at
        self.solver.ready.connect(self._on_solved)
        self.solver.failed.connect(lambda msg: self._fail("Cannot solve the hints", msg))
        self.solver.preparing.connect(
            lambda: self.status_changed.emit("hints", "hints: preparing (once per photo)…")
        )

        self.device_picker.select(settings["device"]) or self.device_picker.select("auto")
        if model_override:
            if Path(model_override).suffix == ".pt" or Path(model_override).is_file():
                self.model_picker.add_file(Path(model_override))
            chosen = self.model_picker.select(model_override)
            if not chosen:
                self._fail_later("Model not found", f"{model_override}: no such model or model file")
        else:
            chosen = self.model_picker.select(settings["model"])
        if not chosen and self.model_picker.has_models():
            self.model_picker.setCurrentIndex(0)
        self._update_no_model_notice()
        if self.model_picker.has_models():
            self._load_model()  # waits for finish_setup when deferred
        if not defer_setup:
            self.finish_setup(bool(cuda))

    def finish_setup(self, cuda: bool) -> None:
        """What needs torch, once it has loaded: list CUDA where it works (`cuda`), load the
        model, open the photo asked for meanwhile."""
        if self._setup_done:
            return
        self._setup_done = True
        if self.device_picker.set_cuda(cuda):
            self.device_picker.select(self.settings["device"])  # which may be CUDA
        if self._model_loading:  # the model to load, as the picker has it now
            self._model_loading = False
            self._load_model()
        if self._pending_open is not None:
            source, self._pending_open = self._pending_open, None
            self._start_open(source)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.model_picker = ModelPicker(self)
        self.device_picker = DevicePicker(self, cuda=self._cuda)
        self.refresh_button = QToolButton(self, text="↻")
        self.refresh_button.setToolTip("Look for new models")
        self.notice = QLabel(self)
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.setStyleSheet(
            "QLabel { background: #fff3cd; color: #5c4400; border: 1px solid #e0c068;"
            " border-radius: 4px; padding: 6px; }"
        )
        self.notice.hide()

        top = QHBoxLayout()
        top.addWidget(QLabel("Model:", self))
        top.addWidget(self.model_picker)
        top.addWidget(self.refresh_button)
        top.addSpacing(12)
        top.addWidget(QLabel("Device:", self))
        top.addWidget(self.device_picker)
        top.addStretch(1)

        self.preview = PreviewPanel(self)
        self.hint_tool = HintTool(self.preview.view, self)
        self.preview.add_tool_button(self.hint_tool.toggle_action)
        self.preview.add_tool_button(self.hint_tool.clear_action)
        self.explorer = LatentExplorer()
        side = QScrollArea(self)
        side.setWidgetResizable(True)
        side.setWidget(self.explorer)
        side.setMinimumWidth(300)
        side.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.preview)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setSizes([900, 340])
        self.splitter.setCollapsible(0, False)

        self.strip = ThumbnailStrip(self.settings["thumb_side"], self)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.strip)

    def current_status(self) -> dict[str, str]:
        """The status bar's fields as they stand (for a window connecting late)."""
        c = self.colorizer
        if c is not None:
            return {"model": f"model: {c.name}", "device": f"device: {c.device}"}
        if self._model_loading:
            return {
                "model": f"model: loading {self.model_picker.current_path().stem}…",
                "device": "device: —",
            }
        return {"model": "model: none", "device": "device: —"}

    def _update_no_model_notice(self) -> None:
        if self.model_picker.has_models():
            self.notice.hide()
            self.strip.set_placeholder(
                "Open a photo (File › Open, or drop it here) to see its colorizations."
            )
            return
        self.notice.setText(
            "<b>No colorization model is installed.</b> Photos open, but cannot be colorized yet. "
            "Train a model in the <i>Trainer</i> tab (it appears here when saved), or copy a model file "
            f"(.pt) into <code>{user_models_dir()}</code> and press ↻."
        )
        self.notice.show()
        self.strip.set_placeholder("No model: colorizations will appear here once a model is installed.")
        self.status_changed.emit("model", "model: none")

    # ------------------------------------------------------------------ errors
    def _fail(self, title: str, message: str) -> None:
        self.failed.emit(title, message)
        self.status_changed.emit("message", f"{title}: {message}")
        if self.show_errors:
            QMessageBox.warning(self, title, message)

    def _fail_later(self, title: str, message: str) -> None:
        # During construction nobody is connected yet, and a box before the window is odd.
        QTimer.singleShot(0, lambda: self._fail(title, message))

    # ------------------------------------------------------------------ models
    def refresh_models(self, changed: str | None = None) -> None:
        """Re-read the model folders: the Trainer tab saved, renamed or deleted a model
        (`changed` is its path), or a file was copied in. Loads another model only when
        the one in use is gone, or was itself rewritten."""
        before = self.model_picker.current_path()
        self.model_picker.refresh_models()
        self._update_no_model_notice()
        after = self.model_picker.current_path()
        if after is None:
            return
        if before is None or after != before:
            if before is None:
                self.model_picker.select(self.settings["model"])
            self._load_model()
        elif changed and Path(changed).resolve() == after.resolve():
            self._load_model()

    def _on_model_chosen(self, path: str) -> None:
        p = Path(path)
        # Remember a name for models in the model folders, so moving the folder is harmless.
        self.settings.set("model", p.stem if available_models().get(p.stem) == p else str(p))
        self._load_model()

    def _on_device_chosen(self, device: str) -> None:
        self.settings.set("device", device)
        self._load_model()

    def _load_model(self) -> None:
        path = self.model_picker.current_path()
        if path is None:
            return
        self._model_loading = True
        self.status_changed.emit("model", f"model: loading {path.stem}…")
        if not self._setup_done:
            return  # finish_setup loads it
        self._model_token += 1
        worker = Worker(_load_colorizer, path, self.device_picker.device(), self._model_token)
        worker.finished.connect(self._on_model_loaded)
        worker.failed.connect(self._on_model_failed)
        self._model_worker = worker
        self.runner.start(worker)

    @Slot(object)
    def _on_model_loaded(self, result: tuple[int, Colorizer]) -> None:
        token, colorizer = result
        if token != self._model_token:
            return
        self._model_loading = False
        self.colorizer = colorizer
        self.status_changed.emit("model", f"model: {colorizer.name}")
        self.status_changed.emit("device", f"device: {colorizer.device}")
        # A photo that is open (or being opened) is analyzed again by the new model.
        source = self._inflight or self.photo
        if source is not None:
            self._start_open(source)
        self.model_ready.emit(colorizer.name)

    @Slot(str, str)
    def _on_model_failed(self, message: str, _trace: str) -> None:
        if self.sender() is not self._model_worker:  # a model given up for the one loading now
            self._fail("Cannot load the model", message)
            return
        self._model_loading = False
        name = self.model_picker.currentText()
        self.status_changed.emit("model", f"model: {self.colorizer.name if self.colorizer else 'none'}")
        self._fail("Cannot load the model", f"{name}: {message}")

    # ------------------------------------------------------------------ photos
    def open_dialog(self) -> None:
        from divcolor_gui.core.photo import PHOTO_SUFFIXES

        start = self.settings["last_open_dir"] or str(Path.home())
        patterns = " ".join(f"*{s}" for s in PHOTO_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a photo", start, f"Photos ({patterns});;All files (*)"
        )
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Open a photo; a bad file is reported in a box and the current photo stays."""
        path = Path(path)
        self.settings.set("last_open_dir", str(path.parent))
        self.status_changed.emit("message", f"Opening {path.name}…")
        self._start_open(path)

    def _start_open(self, source: Photo | str | Path) -> None:
        if not self._setup_done:
            self._pending_open = source  # finish_setup opens the latest one asked for
            return
        from divcolor_gui.core import jobs

        self._photo_token += 1
        self._inflight = source
        colorizer = None if self._model_loading else self.colorizer
        worker = Worker(
            jobs.open_photo_job,
            colorizer,
            source,
            self.preview_side(),
            self.settings["thumb_side"],
            self._photo_token,
        )
        worker.finished.connect(self._on_photo_ready)
        worker.failed.connect(self._on_photo_failed)
        self._photo_worker = worker
        self.runner.start(worker)

    def preview_side(self) -> int:
        """Preview at screen resolution, capped (settings) so live decoding stays fluid."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        side = 1024
        if screen is not None:
            size = screen.size()
            side = int(max(size.width(), size.height()) * screen.devicePixelRatio())
        return max(256, min(int(self.settings["preview_max_side"]), side))

    @Slot(object)
    def _on_photo_ready(self, r: jobs.PhotoResult) -> None:
        if r.token != self._photo_token:
            return
        self._inflight = None
        new_photo = r.photo is not self.photo
        self.photo, self.result = r.photo, r
        self.sample_latents = None
        path = r.photo.path
        if new_photo and path is not None:
            self.settings.add_recent(path)
            self.photo_opened.emit(str(path))
            if self.window() is not self:
                self.window().setWindowTitle(f"{path.name} — divcolor")
        self.preview.view.set_compare_image(r.compare)
        self.preview.set_compare_label(r.photo.is_colour)
        self.preview.compare_button.setEnabled(True)
        if r.analysis is None:
            # No model: show the photo as it is, and nothing to explore.
            self.space = self.latents = self.latent_colorizer = self.solved = None
            self.z = self.field = self.preview_rgb = None
            self.decoder.set_target(None, None, self.preview_side())
            self.solver.set_target(None, None, self.settings["thumb_side"], self.preview_side())
            self.hint_tool.set_photo(None)
            self.strip.clear()
            self.explorer.set_space(None)
            self.preview.view.set_image(r.compare, photo_width=r.photo.size[0], fit=new_photo)
            name = path.name if path else "photo"
            self.status_changed.emit("message", f"{name}: shown as it is (no model to colorize it)")
            self.state_changed.emit()
            if not self._model_loading:
                self._update_no_model_notice()
            return
        a = r.analysis
        self.component = 0
        self._use_modes(None)
        self.z, self.field, self.preview_rgb = self.space.mean(0), r.field, r.preview
        self.preview.view.set_image(r.preview, photo_width=r.photo.size[0], fit=new_photo)
        self.solver.set_target(r.colorizer, a, self.settings["thumb_side"], self.preview_side())
        note = ""
        # A new photo brings the hints saved beside it; the same photo, analysed again (another
        # model), keeps its hints, unless it was first shown with no model to hint with (a photo
        # opened while the model loads, as `divcolor gui PHOTO` does at start).
        if new_photo or not self.hint_tool.has_photo:
            hints, note = self._sidecar_hints(r.photo)
            with QSignalBlocker(self.hint_tool):
                self.hint_tool.set_photo(r.photo.size, hints)
        if self.hint_tool.hints:
            self._on_hints_changed(self.hint_tool.hints)
        else:
            self.status_changed.emit("hints", "")
            if self.hint_tool.is_active():
                self.solver.warm_up()
        w, h = r.photo.size
        self.status_changed.emit("analysis", f"analysis {r.seconds * 1000:.0f} ms ({w}×{h})")
        self.status_changed.emit(
            "message", f"{path.name if path else 'photo'}: {a.weights.size} colorizations{note}"
        )
        self.state_changed.emit()
        self.analysis_ready.emit()

    @Slot(str, str)
    def _on_photo_failed(self, message: str, _trace: str) -> None:
        if self.sender() is self._photo_worker:  # not an earlier photo's, given up for this one
            self._inflight = None
        self._fail("Cannot open the photo", message)

    # ------------------------------------------------------------------ exploring
    def select_component(self, i: int) -> None:
        if self.space is None or not 0 <= i < self.space.k:
            return
        self.component = i
        self.strip.select_component(i)
        self.explorer.reset(i)
        self._request_latent(self.space.mean(i))

    def select_sample(self, j: int) -> None:
        if self.sample_latents is None or not 0 <= j < len(self.sample_latents):
            return
        self.strip.select_sample(j)
        z = self.sample_latents[j]
        self.explorer.show_latent(z)
        self._request_latent(z)

    def more_like_this(self) -> None:
        if self.space is None or self.colorizer is None or self.result is None:
            return
        from divcolor_gui.core import jobs

        self._samples_token += 1
        worker = Worker(
            jobs.samples_job, self.latent_colorizer, self.latents, self.component,
            int(self.settings["samples"]), float(self.settings["sample_scale"]),
            self.settings["thumb_side"], None, (self._photo_token, self._samples_token),
        )  # fmt: skip
        worker.finished.connect(self._on_samples)
        worker.failed.connect(self._on_samples_failed)
        self.runner.start(worker)

    @Slot(object)
    def _on_samples(self, r: jobs.SamplesResult) -> None:
        if r.token != (self._photo_token, self._samples_token):
            return
        self.sample_latents = r.latents
        self.strip.set_samples(r.thumbs, r.component)
        self.strip.select_component(self.component)

    @Slot(str, str)
    def _on_samples_failed(self, message: str, _trace: str) -> None:
        self._fail("Cannot sample", message)

    def reset_exploration(self) -> None:
        """Back to the components: samples gone, sliders at rest, the selected component shown."""
        if self.space is None:
            return
        self.sample_latents = None
        self.strip.clear_samples()
        self.select_component(self.component)

    def _request_latent(self, z: np.ndarray) -> None:
        self.decoder.request(z)

    # ------------------------------------------------------------------ hints
    def _use_modes(self, solved: SolveResult | None) -> None:
        """The one place the latent tools learn which modes they work from: the analysis's
        component means, or while hints exist the hinted modes, ranked as solved. Their
        latents take the means' place (A<->B, blend, coordinates, "More like this", export
        of the top modes), and everything decoded from them gets the hints' local correction
        (hint_queue.py), so what they show meets the hints as the thumbnails do."""
        a, colorizer = self.result.analysis, self.result.colorizer
        self.solved = solved
        if solved is None:
            self.latents, self.latent_colorizer, thumbs, starts = a, colorizer, self.result.thumbs, None
        else:
            self.latents = hinted_analysis(a, solved.modes)
            self.latent_colorizer = HintedColorizer(colorizer, solved.correct)
            thumbs, starts = solved.thumbs, [m.component for m in solved.modes]
        m = self.latents
        self.space = LatentSpace(m.means.numpy(), m.weights, colorizer.mdn.cfg.variance**0.5)
        self.decoder.set_target(self.latent_colorizer, m, self.preview_side())
        self.component = max(0, min(self.component, self.space.k - 1))
        self.sample_latents = None
        self.strip.set_components(thumbs, m.weights, starts)
        self.strip.select_component(self.component)
        self.explorer.set_space(self.space)
        self.explorer.reset(self.component)

    def _on_hints_changed(self, hints: list[Hint]) -> None:
        """Every edit of the hints: solve again (off the GUI thread; the latest edit wins)."""
        if self.result is None or self.result.analysis is None:
            return
        self.status_changed.emit("hints", f"hints: {len(hints)}" if hints else "")
        if hints:
            self.solver.request(hints, self.component)
            return
        self.solver.invalidate()  # a solve still on its way is for hints that are gone
        if self.solved is not None:
            self._use_modes(None)
            self._request_latent(self.space.mean(self.component))
            self.hints_solved.emit()

    @Slot(object)
    def _on_solved(self, r: SolveResult | SolverReady) -> None:
        if isinstance(r, SolverReady):
            if r.seconds:
                self.status_changed.emit("hints", f"hints: ready ({r.seconds:.1f} s to prepare)")
            return
        self._use_modes(r)
        k = self.component
        if r.selected == k:
            mode = r.modes[k]
            self.z, self.field, self.preview_rgb = mode.z.numpy(), mode.field, r.preview
            self.preview.view.set_image(r.preview)
            self.preview_updated.emit()
        else:  # another mode was chosen meanwhile
            self._request_latent(self.space.mean(k))
        prepared = f", {r.setup_s:.1f} s to prepare" if r.setup_s else ""
        self.status_changed.emit(
            "hints", f"hints: {len(r.hints)}, solved in {r.seconds * 1000:.0f} ms{prepared}"
        )
        self.state_changed.emit()
        self.hints_solved.emit()

    def mode_colours_at(self, x: float, y: float) -> list[tuple[str, str]]:
        """The colours the current modes give at photo pixel (x, y), as their thumbnails show
        them, after the colour the large view shows there: the hint colour chooser's swatches."""
        if self.photo is None:
            return []
        W, H = self.photo.size
        out = []

        def at(rgb: np.ndarray) -> str:
            h, w = rgb.shape[:2]
            r, g, b = rgb[min(h - 1, int((y + 0.5) * h / H)), min(w - 1, int((x + 0.5) * w / W))]
            return f"#{int(r):02x}{int(g):02x}{int(b):02x}"

        if self.preview_rgb is not None:
            out.append(("shown", at(self.preview_rgb)))
        out += [(f"#{i + 1}", at(b.rgb)) for i, b in enumerate(self.strip.components)]
        return out

    def _sidecar_hints(self, photo: Photo) -> tuple[list[Hint], str]:
        """The hints saved beside the photo, if any, and a note for the status line (a bad
        file is one line there, never a box)."""
        from divcolor_gui.core.hints import HintError, check_hints, load_hints, sidecar_path

        path = sidecar_path(photo.path) if photo.path is not None else None
        if path is None or not path.is_file():
            return [], ""
        try:
            hints = load_hints(path)
            check_hints(hints, *photo.size)
        except HintError as e:
            return [], f"; hints not loaded: {e}"
        return hints, f", {len(hints)} hints from {path.name}" if hints else ""

    @Slot(object)
    def _on_preview(self, r: jobs.PreviewResult) -> None:
        self.z, self.field, self.preview_rgb = r.z, r.field, r.rgb
        self.last_decode_s = r.seconds
        self.preview.view.set_image(r.rgb)
        self.status_changed.emit("decode", f"decode {r.seconds * 1000:.0f} ms")
        self.preview_updated.emit()

    # ------------------------------------------------------------------ export
    def can_export(self) -> bool:
        return self.field is not None and self.photo is not None and self.colorizer is not None

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_path(files[0])

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Stop and wait for every worker (called when the window closes)."""
        self.decoder.set_target(None, None, self.preview_side())
        self.solver.set_target(None, None, self.settings["thumb_side"], self.preview_side())
        self.runner.shutdown()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)


def _load_colorizer(path: Path, device: str, token: int) -> tuple[int, Colorizer]:
    from divcolor_gui.core.colorizer import Colorizer

    return token, Colorizer.load(path, device)
