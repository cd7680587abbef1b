"""What a training run is asked to do (`TrainConfig`), and the one error it refuses with.

`divcolor train`'s flags and the Trainer tab's settings both become a TrainConfig;
trainer.policy adjusts it for a resumed or reused model, trainer.run carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from divcolor_gui.core.losses import LossWeights
from divcolor_gui.core.vocabulary import CAST_WEIGHT, CHROMA_FLOOR, DEFAULT_PRESET, STAGE_ORDER

from .data import VAL_FRACTION

# What a TrainConfig's None means for each of these, when no model file decides it: a new run
# trains this way; a resumed one goes on as its file was trained (policy.settings_for_resume).
NOT_GIVEN = {
    "features_loss": "bins",
    "shift": 0,
    "mdn_loss": "latent",
    "cast_weight": CAST_WEIGHT,
    "end_to_end": False,
    "ranking": "latent",
    "chroma_floor": CHROMA_FLOOR,
}


@dataclass
class TrainConfig:
    data: Path  # the folder of colour photos, searched recursively
    out: Path  # the model file to write
    stages: tuple[str, ...] = STAGE_ORDER  # of "ours"/"ours-skip"; a baseline trains its own roles
    preset: str = DEFAULT_PRESET  # vocabulary.PRESETS
    method: str = "ours"  # a trainable name in trainer.methods.METHODS
    features_from: Path | None = None  # reuse this model's feature network (frozen unless end_to_end)
    features_preset: str | None = None  # vocabulary.FEATURE_PRESETS: a new feature network's, if not `preset`
    vae_from: Path | None = None  # reuse this model's VAE (frozen) and its colour statistics
    mdn_from: Path | None = None  # start the MDN from this model's (after its VAE was fine-tuned)
    vae_linear_path: bool = False  # a new VAE gets the linear path, started as a PCA (vae.init_linear_path)
    epochs: dict[str, int] | None = None  # per stage; None: a resumed model's plan, else DEFAULT_EPOCHS
    batch_size: int = 64
    device: str = "auto"
    resume: bool = False
    lr: float | dict[str, float] = 1e-3  # one rate, or per stage (e.g. a lower one to fine-tune the VAE)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    weighting: str = "smoothed"  # L_hist's bin weights: smoothed | raw
    # None: as the resumed model was trained, else NOT_GIVEN's value.
    features_loss: str | None = None  # vocabulary.FEATURE_LOSSES
    shift: int | None = None  # photos moved up to this many field pixels where the feature network learns
    mdn_loss: str | None = None  # vocabulary.MDN_LOSSES
    cast_weight: float | None = None  # the shared-cast loss's pull on each mode's cast
    end_to_end: bool | None = None  # the MDN stage also trains the feature network (stages.train_mdn)
    ranking: str | None = None  # vocabulary.RANKINGS: "decoded" refits pi after the MDN (trainer.ranking)
    chroma_floor: float | None = None  # the heaviest mode's chroma share the ranking must reach
    val_fraction: float = VAL_FRACTION
    name: str | None = None
    max_images: int | None = None
    seed: int = 0
    cache_dir: Path | None = None
    stream: bool = False  # decode the photos as they are read, instead of caching them first
    precision: str = "fp32"  # vocabulary.PRECISIONS: "bf16" trains under bfloat16 autocast

    def lr_for(self, role: str) -> float:
        if isinstance(self.lr, dict):
            # The baselines' roles follow V, as their epochs do.
            return float(self.lr.get(role, self.lr.get("vae", 1e-3)))
        return float(self.lr)


class TrainingError(Exception):
    """A problem with the training setup, stated in one line."""
