"""What a training run decides before it starts, when it continues a model or reuses one.

Plain functions, no Qt and no training, shared by the Trainer tab (through
`trainer.app_jobs.train_job`) and `divcolor train`, so both follow the same rules:

- Resuming (`settings_for_resume`): a model continues as it was started. Its preset, method,
  L_hist weighting, loss weights, photos folder and feature network come from the file; the
  batch size, device and learning rate from the caller (a smaller batch after running out of
  GPU memory is a reason to resume), and the epochs too, or where the caller gives none, the
  epochs the file's last run was started with: a run cut short goes on to where it was headed.
- Reusing a base model's feature network (`base_model_info`, `preset_for_base`,
  `check_feature_reuse`): the MDN reads the base model's features, so the run takes the base
  model's preset, and a base whose features do not fit the chosen preset's MDN is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from divcolor_gui.core.checkpoint import ModelFileError, read_model_dict
from divcolor_gui.core.losses import LossWeights
from divcolor_gui.core.nets.colornet import COLORNET_PRESETS, ColorNetConfig
from divcolor_gui.core.nets.mdn import MDN_PRESETS
from divcolor_gui.core.vocabulary import STAGE_ORDER

from .config import NOT_GIVEN, TrainConfig, TrainingError
from .data import trained_on

# Settings a resumed model keeps from its file, by the name they have in TrainConfig and meta.
KEPT_ON_RESUME = ("preset", "weighting", "method", "vae_linear_path")


@dataclass(frozen=True)
class FeatureNetInfo:
    """What a feature network needs and gives."""

    preset: str | None  # the preset its model was trained with, if recorded
    input_size: int  # side of its grey input
    channels: int  # channels of its features G
    feature_size: int  # side of G


def feature_net_info(config: ColorNetConfig | Mapping, preset: str | None = None) -> FeatureNetInfo:
    """From a feature network's config: the ColorNetConfig of a loaded network, or the
    dict stored in a model file."""
    if isinstance(config, Mapping):
        keep = {f.name for f in dataclasses.fields(ColorNetConfig)}
        config = ColorNetConfig(**{k: v for k, v in config.items() if k in keep})
    return FeatureNetInfo(
        preset, int(config.input_size), int(config.feature_channels), int(config.feature_size)
    )


def base_model_info(path: Path) -> FeatureNetInfo:
    """What a model file's feature network needs and gives; ModelFileError if it has none."""
    obj = read_model_dict(path)
    entry = obj["nets"].get("features")
    if not entry:
        raise ModelFileError(f"{Path(path).name} has no feature network to reuse")
    meta = obj.get("meta") or {}
    return feature_net_info(entry["config"], meta.get("preset"))


def preset_for_base(info: FeatureNetInfo) -> str | None:
    """The preset a run reusing this feature network trains with (its model's), or None
    when the file does not say and the user chooses."""
    return info.preset if info.preset in COLORNET_PRESETS else None


def check_feature_reuse(info: FeatureNetInfo, preset: str, source: str = "the base model") -> None:
    """Raise TrainingError, saying what to do, when a reused feature network's features
    do not fit the MDN of `preset`; `source` names the model it comes from."""
    mdn = MDN_PRESETS[preset]
    if (info.channels, info.feature_size) != (mdn.in_channels, mdn.in_size):
        fix = f"choose the {info.preset} preset" if info.preset else "choose another base model"
        raise TrainingError(
            f"{source}'s feature network ({info.channels} channels at {info.feature_size}x"
            f"{info.feature_size}) does not fit the {preset} preset's MDN: {fix}, or train the feature network too"
        )


def settings_for_resume(cfg: TrainConfig, meta: dict) -> tuple[TrainConfig, list[str]]:
    """`cfg` as the model whose file `meta` describes was started, with `resume=True`;
    and one line for each setting taken from the file instead of `cfg`."""
    notes: list[str] = []
    changes: dict = {}
    if cfg.vae_linear_path and (meta.get("progress") or {}).get("vae") and not meta.get("vae_linear_path"):
        raise TrainingError("--vae-linear-path makes a new VAE: this model's VAE has trained without it")
    names = {f.name for f in dataclasses.fields(cfg)}
    for key in KEPT_ON_RESUME:
        if key in meta and key in names and meta[key] != getattr(cfg, key):
            changes[key] = meta[key]
            notes.append(f"{key.replace('_', ' ')}: {meta[key]} (as the model was started)")
    recorded = Path(str(meta.get("trained_on") or ""))
    if meta.get("trained_on") and not trained_on(meta, cfg.data):
        if recorded.is_absolute() and recorded.is_dir():  # a file from before names alone were stored
            changes["data"] = recorded
            notes.append(f"photos: {recorded} (as the model was started)")
        else:
            notes.append(
                f"photos: {cfg.data}, though the model was started on a folder named {recorded.name!r}"
            )
    if isinstance(meta.get("loss_weights"), dict):
        lw = LossWeights(**meta["loss_weights"])
        if lw != cfg.loss_weights:
            changes["loss_weights"] = lw
            notes.append("loss weights: as the model was started")
    if meta.get("features_from"):
        # The reused network is inside the file now; the run needs to know it is not to be
        # trained, whatever the original file has become since.
        changes["features_from"] = Path(meta["features_from"].get("model") or cfg.out)
        changes["stages"] = tuple(s for s in cfg.stages if s != "features")
    elif "features" in (meta.get("progress") or {}):
        # It trains its own feature network: keep training that one, not a base model's.
        changes["features_from"] = None
        if "features" not in cfg.stages:
            changes["stages"] = ("features", *cfg.stages)
    if cfg.epochs is None and isinstance(meta.get("planned_epochs"), dict):
        changes["epochs"] = {s: int(n) for s, n in meta["planned_epochs"].items()}
        said = ",".join(str(changes["epochs"].get(s, 0)) for s in STAGE_ORDER)
        notes.append(f"epochs: {said} (as the model's last run was started)")
    # The losses go on as they were unless the caller names one (switching is allowed: a
    # model may go on from the paper's loss to a decoded one).
    for key, default in NOT_GIVEN.items():
        if getattr(cfg, key) is None and key in meta:
            changes[key] = meta[key]
            if key == "cast_weight" and changes.get("mdn_loss", cfg.mdn_loss) != "shared-cast":
                continue  # kept, but it weighs nothing in the loss this run trains with
            if meta[key] != default:  # said only where it is not what a new run would do
                notes.append(f"{key.replace('_', ' ')}: {meta[key]} (as the model was trained)")
    if meta.get("vae_from"):  # likewise a reused VAE: in the file, not trained
        changes["vae_from"] = Path(cfg.out)
        changes["stages"] = tuple(s for s in changes.get("stages", cfg.stages) if s != "vae")
    return dataclasses.replace(cfg, resume=True, **changes), notes


def plan_run(cfg: TrainConfig) -> tuple[TrainConfig, list[str]]:
    """The config a run really trains with, and a line per setting the model file decided:
    a resumed model continues as it was started (settings_for_resume); a reused feature
    network must fit the preset (check_feature_reuse). `divcolor train` and the Trainer
    tab both start here; TrainingError says why a run cannot start."""
    notes: list[str] = []
    if cfg.resume:
        if Path(cfg.out).is_dir():
            raise TrainingError(f"{cfg.out} is a folder, not a model file")
        if not Path(cfg.out).is_file():
            raise TrainingError(f"{cfg.out} does not exist yet: start it without resuming")
        try:
            meta = read_model_dict(cfg.out).get("meta") or {}
        except ModelFileError as e:
            raise TrainingError(str(e)) from None
        cfg, notes = settings_for_resume(cfg, meta)
        from .run import resume_file_problem  # here: trainer.run imports this module

        if problem := resume_file_problem(Path(cfg.out)):
            notes.append(problem)
    elif cfg.features_from:
        try:
            info = base_model_info(cfg.features_from)
        except ModelFileError as e:
            raise TrainingError(str(e)) from None
        check_feature_reuse(info, cfg.preset, Path(cfg.features_from).name)
    return cfg, notes


__all__ = [
    "plan_run",
    "FeatureNetInfo",
    "base_model_info",
    "check_feature_reuse",
    "feature_net_info",
    "preset_for_base",
    "settings_for_resume",
]
