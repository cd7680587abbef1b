"""Reusable widgets, one per file, used by both tabs or by neither in particular. They know
nothing of the tabs (tests/test_import_rules.py checks that)."""

from .collapsible import Collapsible
from .confirm import confirm
from .device_picker import DevicePicker
from .image_view import ImageView
from .labeled_slider import LabeledSlider
from .model_picker import ModelPicker

__all__ = ["Collapsible", "confirm", "DevicePicker", "ImageView", "LabeledSlider", "ModelPicker"]
