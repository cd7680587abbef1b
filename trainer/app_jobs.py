"""The Trainer tab's slow work, as plain generators for the app's one Worker pattern.

Qt-free on purpose (like the core): `survey_folder` is the look at a folder before
training, `train_job` wraps `run_training` with what the app adds around it (checks with
messages that name the app's controls rather than CLI flags, the resume and reuse rules of
`trainer.policy`, and the model card written at the end).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from divcolor_gui.core.checkpoint import read_model_dict
from divcolor_gui.core.model_card import write_model_card
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS
from divcolor_gui.core.resources import card_path

from .config import TrainConfig, TrainingError
from .data import list_photo_files, scan_folder
from .output_lock import OutputBusyError
from .policy import base_model_info, plan_run
from .run import run_training

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


def train_job(cfg: TrainConfig):
    """Generator of JobNote, ScanProgress and Progress; returns the model's path.

    The model card is written whenever a model file exists at the end: after a
    finished run, and also after a cancel or an error, saying how far it got.
    """
    # The app words these two for its buttons; plan_run has the same rules for the CLI.
    if cfg.resume and not cfg.out.is_file():
        raise TrainingError(f"{cfg.out.name} does not exist yet: press Start instead of Resume")
    if not cfg.resume and cfg.out.exists():
        raise TrainingError(f"a model named {cfg.out.stem!r} exists: choose another name, or press Resume")
    cfg, notes = plan_run(cfg)
    if cfg.resume:
        history = read_model_dict(cfg.out).get("meta", {}).get("history") or {}
        yield JobNote(f"Resuming {cfg.out.name} from its last finished epoch", history=history, config=cfg)
        for line in notes:
            yield JobNote("  " + line)
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
    except OutputBusyError:  # the model and its card belong to the run that holds it
        raise
    except Exception:
        try:
            card()
        except Exception:
            pass  # the training error is the one to show, not a failure to describe it
        raise
    card()
    yield JobNote(f"Model card written: {card_path(cfg.out).name}")
    return result
