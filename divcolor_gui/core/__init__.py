"""The Qt-free core shared by the app and the trainer: Lab handling, networks, losses, the
model file format and inference. Nothing here imports PySide6, and importing the package
itself imports nothing (torch included), so `divcolor --help` and the window start fast:
import the module you need, e.g. `from divcolor_gui.core.colorizer import Colorizer`."""
