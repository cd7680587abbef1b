"""Where the networks run: Auto, CPU, and CUDA only where a CUDA kernel really runs."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget

from divcolor_gui.core.device import cuda_works


class DevicePicker(QComboBox):
    device_chosen = Signal(str)  # auto | cpu | cuda

    def __init__(self, parent: QWidget | None = None, cuda: bool | None = None):
        super().__init__(parent)
        self.addItem("Auto", "auto")
        self.addItem("CPU", "cpu")
        # Listing CUDA where it cannot run would only produce an error when picked.
        if cuda_works() if cuda is None else cuda:
            self.addItem("CUDA", "cuda")
        self.setToolTip("Where the networks run (Auto: CUDA when it works, else CPU)")
        self.activated.connect(lambda i: self.device_chosen.emit(self.itemData(i)))

    def select(self, device: str) -> bool:
        i = self.findData(device)
        if i < 0:
            return False
        self.setCurrentIndex(i)
        return True

    def device(self) -> str:
        return self.currentData()
