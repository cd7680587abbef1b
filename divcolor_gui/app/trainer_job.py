"""The Trainer tab's slow work, as plain generators for the one Worker pattern.

Qt-free on purpose (like the core): `survey_folder` is the look at a folder before
training, `train_job` wraps `trainer.run.run_training` with what the app adds
around it (checks with messages that name the app's controls rather than CLI flags,
settings carried over on resume, and the model card written at the end).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from divcolor_gui.core.checkpoint import ModelFileError, read_model_dict
from divcolor_gui.core.losses import LossWeights
from divcolor_gui.core.model_card import write_model_card
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS
from divcolor_gui.core.nets.mdn import MDN_PRESETS
from trainer.data import list_photo_files, scan_folder
from trainer.run import TrainConfig, TrainingError, run_training

QUICK_LOOK = 300  # photos classified for a quick look: a few seconds on two cores
N_THUMBS = 8


@dataclass
class FolderSurvey:
    root: Path
    sampled: bool  # True: only the first `looked_at` photo files were classified
    looked_at: int  # photo files classified
    candidates: int  # photo files in the folder (by suffix), all of them
    usable: int  # usable colour photos among those looked at
    skipped: dict[str, list[str]]  # reason -> relative paths
    thumbnails: list[np.ndarray] = field(default_factory=list)  # (S, S, 3) uint8 each

    @property
    def n_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    @property
    def estimated_usable(self) -> int:
        """Usable photos in the whole folder, extrapolated from the sample."""
        if not self.sampled or self.looked_at == 0:
            return self.usable
        return round(self.usable * self.candidates / self.looked_at)


@dataclass
class JobNote:
    """A line for the log, yielded by `train_job` among the training records. On resume
    the first one also carries the config actually run (settings come from the file)
    and the model's earlier epochs, so the tab can show them."""

    text: str
    history: dict | None = None
    config: TrainConfig | None = None


@dataclass
class BaseModelInfo:
    preset: str | None  # the preset it was trained with, if recorded
    input_size: int  # side of the feature network's grey input
    channels: int  # channels of its features G
    feature_size: int  # side of G


def base_model_info(path: Path) -> BaseModelInfo:
    """What a model's feature network needs and gives; ModelFileError if it has none."""
    obj = read_model_dict(path)
    entry = obj["nets"].get("features")
    if not entry:
        raise ModelFileError(f"{Path(path).name} has no feature network to reuse")
    c = entry["config"]
    size = int(c["input_size"])
    for s in c["strides"]:
        size //= int(s)
    meta = obj.get("meta") or {}
    return BaseModelInfo(meta.get("preset"), int(c["input_size"]), int(c["widths"][-1]), size)


def scan_size(preset: str, base: Path | None) -> int:
    """The side the training run caches photos at (as trainer.run does), so a full
    scan here leaves a cache the run reuses instead of reading every photo again."""
    grey = base_model_info(base).input_size if base else COLORNET_PRESETS[preset].input_size
    return max(64, grey)


def survey_folder(root: Path, sample_only: int | None, preset: str = "compact", base: Path | None = None):
    """Generator of ScanProgress; returns a FolderSurvey. A quick look (`sample_only`)
    classifies the first photos only; a full scan also builds the training cache."""
    root = Path(root)
    size = scan_size(preset, base) if sample_only is None else 64
    data = yield from scan_folder(root, size=size, sample_only=sample_only)
    candidates = len(list_photo_files(root)[0]) if sample_only is not None else None
    looked_at = len(data.files) + sum(len(v) for k, v in data.skipped.items() if k != "not a photo")
    n = min(N_THUMBS, len(data.files))
    # Evenly spread over the folder rather than the first few, which often share a subfolder.
    picks = np.linspace(0, len(data.files) - 1, n).round().astype(int) if n else []
    thumbs = [np.array(data.images[i]) for i in picks]
    return FolderSurvey(
        root=root,
        sampled=sample_only is not None and looked_at < (candidates or 0),
        looked_at=looked_at,
        candidates=candidates if candidates is not None else looked_at,
        usable=len(data.files),
        skipped=data.skipped,
        thumbnails=thumbs,
    )


def resume_config(cfg: TrainConfig) -> tuple[TrainConfig, list[str], dict]:
    """A resumed run must continue the model as it was started: its preset, data,
    loss settings and feature network come from the file; the epochs, batch size,
    device and learning rate from the tab (a smaller batch after running out of GPU
    memory is a reason to resume). Returns the config, lines saying what was taken from the file, and the
    model's training history."""
    meta = read_model_dict(cfg.out)["meta"] or {}
    notes: list[str] = []
    changes: dict = {}
    names = {f.name for f in dataclasses.fields(cfg)}
    for key in ("preset", "weighting", "method"):
        if key in meta and key in names and meta[key] != getattr(cfg, key):
            changes[key] = meta[key]
            notes.append(f"{key.replace('_', ' ')}: {meta[key]} (as the model was started)")
    if meta.get("trained_on") and Path(meta["trained_on"]) != Path(cfg.data).resolve():
        changes["data"] = Path(meta["trained_on"])
        notes.append(f"photos: {meta['trained_on']} (as the model was started)")
    if isinstance(meta.get("loss_weights"), dict):
        lw = LossWeights(**meta["loss_weights"])
        if lw != cfg.loss_weights:
            changes["loss_weights"] = lw
            notes.append("loss weights: as the model was started")
    if meta.get("features_from"):
        # The reused network is inside the file now; run_training needs to know it is
        # not to be trained, whatever the original file has become since.
        changes["features_from"] = Path(meta["features_from"].get("model") or cfg.out)
        changes["stages"] = tuple(s for s in cfg.stages if s != "features")
    elif "features" in (meta.get("progress") or {}):
        # It trains its own feature network: keep training that one, not a base model's.
        changes["features_from"] = None
        if "features" not in cfg.stages:
            changes["stages"] = ("features", *cfg.stages)
    return dataclasses.replace(cfg, resume=True, **changes), notes, meta.get("history") or {}


def _check_base(cfg: TrainConfig) -> None:
    if not cfg.features_from or cfg.resume:
        return
    try:
        info = base_model_info(cfg.features_from)
    except ModelFileError as e:
        raise TrainingError(str(e)) from None
    mdn = MDN_PRESETS[cfg.preset]
    if (info.channels, info.feature_size) != (mdn.in_channels, mdn.in_size):
        fix = f"choose the {info.preset} preset" if info.preset else "choose another base model"
        raise TrainingError(
            f"{cfg.features_from.name}'s feature network ({info.channels} channels at {info.feature_size}x"
            f"{info.feature_size}) does not fit the {cfg.preset} preset's MDN: {fix}, or train the feature network too"
        )


def train_job(cfg: TrainConfig):
    """Generator of JobNote, ScanProgress and Progress; returns the model's path.

    The model card is written whenever a model file exists at the end: after a
    finished run, and also after a cancel or an error, saying how far it got.
    """
    if cfg.resume:
        if not cfg.out.is_file():
            raise TrainingError(f"{cfg.out.name} does not exist yet: press Start instead of Resume")
        try:
            cfg, notes, history = resume_config(cfg)
        except ModelFileError as e:
            raise TrainingError(str(e)) from None
        yield JobNote(f"Resuming {cfg.out.name} from its last finished epoch", history=history, config=cfg)
        for line in notes:
            yield JobNote("  " + line)
    elif cfg.out.exists():
        raise TrainingError(f"a model named {cfg.out.stem!r} exists: choose another name, or press Resume")
    _check_base(cfg)
    # The epochs the card reports against: those of the stages this model trains.
    requested = {s: int(n) for s, n in cfg.epochs.items() if s in cfg.stages}
    if cfg.features_from:
        requested.pop("features", None)

    def card() -> None:
        if cfg.out.is_file():
            write_model_card(cfg.out, requested)

    try:
        result = yield from run_training(cfg)
    except GeneratorExit:  # cancelled: the last finished epoch is in the file
        card()
        raise
    except Exception:
        try:
            card()
        except Exception:
            pass  # the training error is the one to show, not a failure to describe it
        raise
    card()
    yield JobNote(f"Model card written: {cfg.out.with_suffix('.md').name}")
    return result
