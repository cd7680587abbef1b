"""The Trainer tab's settings: name, base model, preset, epochs, batch, device, and
an Advanced section with the loss weights, the MDN's loss, the random shifts and the
learning rate.

What needs the trainer's modules (they import torch, which loads after the window shows)
waits for `finish_setup`: the defaults of a training, the loss weights' rows, CUDA in the
device list and what a base model's feature network needs. Until then the panel is disabled."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from divcolor_gui.core.model_files import name_problem
from divcolor_gui.core.resources import DEFAULT_MODEL, available_models, bundled_models_dir
from divcolor_gui.core.vocabulary import (
    DEFAULT_EPOCHS,
    DEFAULT_PRESET,
    MAX_SHIFT,
    MDN_LOSSES,
    PRESETS,
    STAGE_ORDER,
    STAGE_TITLES,
)

from ..widgets import Collapsible, DevicePicker

if TYPE_CHECKING:
    from trainer.run import TrainConfig

PRESET_HINTS = {
    "tiny": "tiny: seconds per epoch, for trying things out; poor colours",
    "compact": "compact: the bundled models' size; a good default on a laptop",
    "paper": "paper: the paper's networks; wants a GPU and many photos",
}
WEIGHT_LABELS = {  # label, tooltip
    "hist": ("L_hist weight", "The colourfulness-weighted L2 of the decoder (paper eq. 2)"),
    "mah": ("λ_mah", "Weight of the Mahalanobis loss on the top principal components"),
    "grad": ("λ_grad", "Weight of the gradient loss, which keeps edges of colour sharp"),
    "kl": ("KL weight", "Weight of the encoder's KL divergence to N(0, I)"),
    "l2": ("Plain L2", "Unweighted L2 of the decoder (the paper's ablation baseline); 0 = off"),
}
# The MDN loss combo's short items (the model card spells them out: MDN_LOSS_TEXT).
MDN_LOSS_ITEMS = {
    "latent": "latent (the paper's)",
    "decoded": "latent + decoded colours",
    "winner": "latent + decoded colours, fast",
    "shared-cast": "latent + decoded colours, one shared cast",
}
_OTHER_FILE = "__other__"


class TrainerSettingsPanel(QWidget):
    changed = Signal()  # any setting changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base_cache: dict[tuple[str, float], object] = {}  # (path, mtime) -> FeatureNetInfo | error text
        self._name_edited = False
        self._has_models = False
        self._ready = False  # finish_setup has run

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("my-photos")
        self.name_edit.textEdited.connect(self._on_name_edited)
        self.name_edit.textChanged.connect(self._update_name_hint)
        self.name_hint = QLabel()
        self.name_hint.setStyleSheet("color: #b00020;")
        self.name_hint.setWordWrap(True)
        self.name_hint.hide()

        self.base_combo = QComboBox()
        self.base_combo.setToolTip(
            "The model whose grey-level feature network is reused, frozen. Reusing a good one\n"
            "saves most of the training time; the VAE and MDN are trained on your photos."
        )
        self.base_combo.activated.connect(self._on_base_activated)
        self.base_combo.currentIndexChanged.connect(self._on_base_changed)
        self.train_features_check = QCheckBox("Train the feature network too (slower)")
        self.train_features_check.setToolTip(
            "Learn the grey-level features from your photos as well, instead of reusing a base\n"
            "model's. Worth it for photos unlike the base model's (e.g. X-rays, illustrations)."
        )
        self.train_features_check.toggled.connect(self._on_train_features)
        self.base_hint = QLabel()
        self.base_hint.setWordWrap(True)
        self.base_hint.setStyleSheet("color: palette(mid);")

        self.preset_combo = QComboBox()
        for p in PRESETS:
            self.preset_combo.addItem(p, p)
            self.preset_combo.setItemData(
                self.preset_combo.count() - 1, PRESET_HINTS[p], Qt.ItemDataRole.ToolTipRole
            )
        self.preset_combo.setCurrentIndex(PRESETS.index(DEFAULT_PRESET))
        self.preset_combo.currentIndexChanged.connect(self._emit_changed)

        # The values of the epochs, the batch and the learning rate are the defaults of a
        # TrainConfig, set by finish_setup.
        self.epoch_spins: dict[str, QSpinBox] = {}
        epochs_row = QHBoxLayout()
        epochs_row.setContentsMargins(0, 0, 0, 0)
        for stage in STAGE_ORDER:
            spin = QSpinBox()
            spin.setRange(1, 1000)
            spin.setPrefix({"features": "features ", "vae": "VAE ", "mdn": "MDN "}[stage])
            spin.setToolTip(f"Epochs (passes over your photos) of the {STAGE_TITLES[stage]} stage")
            spin.valueChanged.connect(self._emit_changed)
            self.epoch_spins[stage] = spin
            epochs_row.addWidget(spin)
        self.epoch_spins["features"].setEnabled(False)  # until the feature network is to be trained

        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(2, 1024)
        self.batch_spin.setToolTip("Photos per step; lower it if a GPU runs out of memory")
        self.batch_spin.valueChanged.connect(self._emit_changed)

        self.device_combo = DevicePicker()  # CUDA is listed by finish_setup, where it works
        self.device_combo.currentIndexChanged.connect(self._emit_changed)

        # Advanced: collapsed by default, the paper's values are the defaults.
        self.advanced_body = QWidget()
        adv = self._advanced_form = QFormLayout(self.advanced_body)
        adv.setContentsMargins(16, 0, 0, 0)
        self.weight_spins: dict[str, QDoubleSpinBox] = {}  # its first rows, made by finish_setup
        self.weighting_combo = QComboBox()
        self.weighting_combo.addItem("smoothed (the paper's)", "smoothed")
        self.weighting_combo.addItem("raw", "raw")
        self.weighting_combo.setToolTip("How L_hist weights rare colours: smoothed inverse frequency, or raw")
        adv.addRow("L_hist weighting", self.weighting_combo)
        self.mdn_loss_combo = QComboBox()
        for loss in MDN_LOSSES:
            self.mdn_loss_combo.addItem(MDN_LOSS_ITEMS[loss], loss)
        self.mdn_loss_combo.setToolTip(
            "How the MDN learns: the paper's loss in the VAE's latent space, or that plus the error\n"
            "of the best of its 8 decoded colorizations (lower error-of-best; epochs about 6x longer)"
        )
        self.mdn_loss_combo.currentIndexChanged.connect(self._emit_changed)
        adv.addRow("MDN loss", self.mdn_loss_combo)
        self.shift_spin = QSpinBox()  # trainer.stages.random_shifts; used only where features train
        self.shift_spin.setRange(0, MAX_SHIFT)
        self.shift_spin.setSpecialValueText("none")
        self.shift_spin.setSuffix(" px")
        self.shift_spin.setToolTip(
            "When the feature network is trained too: move each photo it learns from by a random\n"
            "offset of up to this many pixels of the 64x64 colour field (grey and colour together),\n"
            "so that it cannot learn colours by where they sit in the frame. On 17,000 general\n"
            "photos, 4 gave features that read colour 2 % better, without overfitting.\n"
            "On Resume, none keeps the model's own."
        )
        self.shift_spin.setEnabled(False)  # until the feature network is to be trained
        self.shift_spin.valueChanged.connect(self._emit_changed)
        adv.addRow("Random shifts", self.shift_spin)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 1.0)
        self.lr_spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        adv.addRow("Learning rate", self.lr_spin)
        reset = QPushButton("Reset to defaults")
        reset.clicked.connect(self.reset_advanced)
        adv.addRow("", reset)
        self.advanced = Collapsible("Advanced", self.advanced_body, expanded=False)
        self.advanced.toggle.setStyleSheet("QToolButton { border: none; }")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Model name", self.name_edit)
        form.addRow("", self.name_hint)
        form.addRow("Base model", self.base_combo)
        form.addRow("", self.train_features_check)
        form.addRow("", self.base_hint)
        form.addRow("Size preset", self.preset_combo)
        form.addRow("Epochs", epochs_row)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Device", self.device_combo)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.advanced)
        self.refresh_models()
        self.setEnabled(False)  # until finish_setup

    def finish_setup(self, cuda: bool) -> None:
        """The part that needs the trainer's modules, run once torch has loaded (after the
        window shows): the defaults of a training, the loss weights' rows, CUDA in the
        device list (`cuda`: whether it works here), the base model's preset and hint."""
        if self._ready:
            return
        # Imported here, not at the top: they import torch, which loads after the window shows.
        from divcolor_gui.core.losses import LossWeights
        from trainer.run import TrainConfig

        defaults = TrainConfig(data=Path(), out=Path())
        spins = [*self.epoch_spins.values(), self.batch_spin, self.lr_spin]
        for spin in spins:  # defaults, not changes
            spin.blockSignals(True)
        for stage, spin in self.epoch_spins.items():
            spin.setValue(DEFAULT_EPOCHS[stage])
        self.batch_spin.setValue(defaults.batch_size)
        self.lr_spin.setValue(defaults.lr)
        for spin in spins:
            spin.blockSignals(False)
        for row, f in enumerate(dataclasses.fields(LossWeights)):
            spin = QDoubleSpinBox()
            spin.setDecimals(5)
            spin.setRange(0.0, 1e4)
            spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
            spin.setValue(f.default)
            spin.valueChanged.connect(self._emit_changed)
            self.weight_spins[f.name] = spin
            label, tip = WEIGHT_LABELS.get(f.name, (f.name, ""))
            spin.setToolTip(tip)
            self._advanced_form.insertRow(row, label, spin)
        self.device_combo.set_cuda(cuda)
        self._ready = True
        self.setEnabled(True)
        self._on_base_changed()  # the base model's preset and hint; emits `changed`

    def is_ready(self) -> bool:
        """finish_setup has run: the settings hold their defaults and can build a config."""
        return self._ready

    # ------------------------------------------------------------------ models

    def refresh_models(self) -> None:
        """Re-list the models whose feature network can be reused (after training one)."""
        keep = self.base_model()
        self.base_combo.blockSignals(True)
        self.base_combo.clear()
        bundled = bundled_models_dir()
        for name, path in available_models().items():
            where = "bundled" if path.parent == bundled else "yours"
            self.base_combo.addItem(f"{name} ({where})", str(path))
        if self.base_combo.count():
            self.base_combo.addItem("Another model file…", _OTHER_FILE)
        self.base_combo.blockSignals(False)
        has_models = self._has_models = self.base_combo.count() > 0
        if not has_models:
            self.base_combo.addItem("(no model to reuse yet)", None)
        self.base_combo.setEnabled(has_models and not self.train_features_check.isChecked())
        if not has_models:
            # Nothing to reuse: the feature network must be trained; say so rather than fail.
            self.train_features_check.setChecked(True)
        self.train_features_check.setEnabled(has_models)
        target = keep or available_models().get(DEFAULT_MODEL)
        if target is not None:
            self.select_base_model(target)
        self._on_base_changed()

    def select_base_model(self, path: Path) -> None:
        i = self.base_combo.findData(str(path))
        if i < 0:
            i = self.base_combo.count() - 1  # before "Another model file…"
            self.base_combo.insertItem(i, f"{Path(path).stem} ({Path(path).parent.name})", str(path))
        self.base_combo.setCurrentIndex(i)

    def base_model(self) -> Path | None:
        data = self.base_combo.currentData()
        return Path(data) if data and data != _OTHER_FILE else None

    def _on_base_activated(self, index: int) -> None:
        if self.base_combo.itemData(index) != _OTHER_FILE:
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Model whose feature network to reuse", "", "Models (*.pt)"
        )
        if path:
            self.select_base_model(Path(path))
        else:
            self.base_combo.setCurrentIndex(0)

    def _base_info(self, path: Path):
        from divcolor_gui.core.checkpoint import ModelFileError
        from trainer.policy import base_model_info

        try:
            key = (str(path), path.stat().st_mtime)
        except OSError:
            return f"{path.name} no longer exists"
        if key not in self._base_cache:
            try:
                self._base_cache[key] = base_model_info(path)
            except ModelFileError as e:
                self._base_cache[key] = str(e)
        return self._base_cache[key]

    def _on_base_changed(self, *_: object) -> None:
        base = None if self.train_features_check.isChecked() else self.base_model()
        self.preset_combo.setEnabled(True)
        self.preset_combo.setToolTip("")
        hint = ""
        if not self.train_features_check.isEnabled():
            hint = "No model to reuse yet: the feature network is trained from your photos too."
        elif base is not None and self._ready:  # reading the base model needs torch
            from trainer.policy import preset_for_base

            info = self._base_info(base)
            preset = None if isinstance(info, str) else preset_for_base(info)
            if isinstance(info, str):
                hint = f"Cannot reuse it: {info}"
            elif preset is not None:
                # The MDN reads the base model's features, so its size is the base model's.
                self.preset_combo.setCurrentIndex(PRESETS.index(preset))
                self.preset_combo.setEnabled(False)
                self.preset_combo.setToolTip(
                    f"Follows the base model ({preset}), whose features the MDN reads"
                )
                hint = f"Reuses its feature network, frozen; trains the VAE and MDN at its size ({preset} preset)."
        self.base_hint.setText(hint)
        self.base_hint.setVisible(bool(hint))
        self._emit_changed()

    def _on_train_features(self, on: bool) -> None:
        self.base_combo.setEnabled(not on and self.train_features_check.isEnabled())
        self.epoch_spins["features"].setEnabled(on)
        self.shift_spin.setEnabled(on)
        self._on_base_changed()

    # ------------------------------------------------------------------ name

    def _on_name_edited(self, _text: str) -> None:
        self._name_edited = True

    def suggest_name(self, name: str, taken: set[str]) -> None:
        """Offer a name (from the folder) unless the user typed one; never a taken one."""
        if self._name_edited and self.name_edit.text().strip():
            return
        base = "".join(c if c.isalnum() or c in "-_ ." else "-" for c in name).strip(" .-") or "my-photos"
        cand, n = base, 2
        while cand.lower() in {t.lower() for t in taken}:
            cand, n = f"{base}-{n}", n + 1
        self.name_edit.setText(cand)

    def model_name(self) -> str:
        return self.name_edit.text().strip()

    def name_problem(self) -> str | None:
        return name_problem(self.name_edit.text())

    def _update_name_hint(self, *_: object) -> None:
        problem = self.name_problem() if self.name_edit.text() else None
        self.name_hint.setText(problem or "")
        self.name_hint.setVisible(bool(problem))
        self._emit_changed()

    # ------------------------------------------------------------------ the rest

    def reset_advanced(self) -> None:
        from divcolor_gui.core.losses import LossWeights
        from trainer.run import TrainConfig

        for f in dataclasses.fields(LossWeights):
            self.weight_spins[f.name].setValue(f.default)
        self.weighting_combo.setCurrentIndex(0)
        self.mdn_loss_combo.setCurrentIndex(0)
        self.shift_spin.setValue(0)
        self.lr_spin.setValue(TrainConfig(data=Path(), out=Path()).lr)

    def _emit_changed(self, *_: object) -> None:
        self.changed.emit()

    def set_running(self, running: bool) -> None:
        """Settings cannot change under a running training."""
        for w in (self.name_edit, self.preset_combo, self.batch_spin, self.device_combo, self.advanced_body):
            w.setEnabled(not running)
        for stage, spin in self.epoch_spins.items():
            spin.setEnabled(not running and (stage != "features" or self.train_features_check.isChecked()))
        # advanced_body (above) greys it while running; this is whether it applies at all
        self.shift_spin.setEnabled(self.train_features_check.isChecked())
        has_models = self._has_models
        self.train_features_check.setEnabled(not running and has_models)
        self.base_combo.setEnabled(not running and has_models and not self.train_features_check.isChecked())
        if not running:
            self._on_base_changed()  # re-applies the preset lock of the base model

    def stages(self) -> tuple[str, ...]:
        return STAGE_ORDER if self.train_features_check.isChecked() else STAGE_ORDER[1:]

    def build_config(self, data: Path, out: Path, resume: bool = False) -> TrainConfig:
        from divcolor_gui.core.losses import LossWeights
        from trainer.run import TrainConfig

        base = None if self.train_features_check.isChecked() else self.base_model()
        # None ("none", or no feature network trains): a new model's default, a resumed one's own.
        shift = (self.train_features_check.isChecked() and self.shift_spin.value()) or None
        return TrainConfig(
            data=Path(data),
            out=Path(out),
            stages=self.stages(),
            preset=self.preset_combo.currentData(),
            features_from=base,
            epochs={s: spin.value() for s, spin in self.epoch_spins.items()},
            batch_size=self.batch_spin.value(),
            device=self.device_combo.currentData(),
            resume=resume,
            lr=self.lr_spin.value(),
            loss_weights=LossWeights(**{k: s.value() for k, s in self.weight_spins.items()}),
            weighting=self.weighting_combo.currentData(),
            mdn_loss=self.mdn_loss_combo.currentData(),
            shift=shift,
            name=self.model_name(),
        )
