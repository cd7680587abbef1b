"""The Qt-free core shared by the app and the trainer: Lab handling, networks,
losses, the model file format and inference. Nothing here imports PySide6."""

from __future__ import annotations

from .checkpoint import ModelBundle, ModelFileError, load_model, save_model
from .colorizer import Analysis, Colorizer
from .photo import Photo, PhotoError, load_photo

__all__ = [
    "Analysis", "Colorizer", "ModelBundle", "ModelFileError", "Photo", "PhotoError",
    "load_model", "load_photo", "save_model",
]  # fmt: skip
