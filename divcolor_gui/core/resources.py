"""The one place that finds resources, from the source tree and from a PyInstaller
build alike, and the user's own directories (appdirs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import appdirs

APP_NAME = "divcolor"
MODEL_SUFFIX = ".pt"
# Beside a model `<name>.pt`: its card, and while its run can still be resumed, the run's
# optimizer states (a `.pt` too, but not a model: never listed as one).
CARD_SUFFIX = ".md"
RESUME_SUFFIX = ".resume.pt"


def card_path(model: Path) -> Path:
    return Path(model).with_suffix(CARD_SUFFIX)


def resume_path(model: Path) -> Path:
    model = Path(model)
    return model.with_name(model.stem + RESUME_SUFFIX)


def model_files(folder: Path) -> list[Path]:
    """The model files in a folder, by name; resume files left beside them are not models."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*{MODEL_SUFFIX}") if not p.name.endswith(RESUME_SUFFIX))


def resources_root() -> Path:
    """`resources/` beside the packages, or inside the frozen bundle."""
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        return Path(sys._MEIPASS) / "resources"  # type: ignore[attr-defined]
    return Path(__file__).resolve().parents[2] / "resources"


def resource_path(*parts: str) -> Path:
    p = resources_root().joinpath(*parts)
    if not p.exists():
        where = p.parent
        have = sorted(x.name for x in where.iterdir()) if where.is_dir() else []
        raise FileNotFoundError(f"resource {'/'.join(parts)!r} not found in {where}; there is: {have}")
    return p


def user_data_dir() -> Path:
    """Overridable with DIVCOLOR_HOME (tests, portable installs)."""
    override = os.environ.get("DIVCOLOR_HOME")
    return Path(override) if override else Path(appdirs.user_data_dir(APP_NAME, appauthor=False))


def user_models_dir() -> Path:
    return user_data_dir() / "models"


def user_config_dir() -> Path:
    override = os.environ.get("DIVCOLOR_HOME")
    return Path(override) / "config" if override else Path(appdirs.user_config_dir(APP_NAME, appauthor=False))


def user_log_dir() -> Path:
    override = os.environ.get("DIVCOLOR_HOME")
    return Path(override) / "logs" if override else Path(appdirs.user_log_dir(APP_NAME, appauthor=False))


def bundled_models_dir() -> Path:
    return resources_root() / "models"


def available_models() -> dict[str, Path]:
    """name -> file, bundled first; a user's model of the same name overrides it."""
    found: dict[str, Path] = {}
    for d in (bundled_models_dir(), user_models_dir()):
        for f in model_files(d):
            found[f.stem] = f
    return found


DEFAULT_MODEL = "general"


def find_model(name_or_path: str | Path | None) -> Path:
    """A path to a model file, or the name of a bundled or user model."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    p = Path(name_or_path)
    if p.suffix == MODEL_SUFFIX or p.exists() or os.sep in str(name_or_path):
        if p.is_dir():
            raise FileNotFoundError(f"{p} is a folder, not a model file (.pt)")
        if not p.is_file():
            raise FileNotFoundError(f"model file {p} does not exist")
        return p
    models = available_models()
    if str(name_or_path) not in models:
        have = ", ".join(models) or "none (train one with `divcolor train`)"
        raise FileNotFoundError(f"no model named {str(name_or_path)!r}; available: {have}")
    return models[str(name_or_path)]
