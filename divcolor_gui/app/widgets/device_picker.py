"""Where the networks run: Auto, CPU, and CUDA only where a CUDA kernel really runs."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget


class DevicePicker(QComboBox):
    device_chosen = Signal(str)  # auto | cpu | cuda

    def __init__(self, parent: QWidget | None = None, cuda: bool | None = None):
        """`cuda`: whether a CUDA kernel runs here; None while that is not known yet (finding
        out needs torch, which loads after the window shows): `set_cuda` tells it later."""
        super().__init__(parent)
        self.addItem("Auto", "auto")
        self.addItem("CPU", "cpu")
        if cuda:
            self.set_cuda(True)
        self.setToolTip("Where the networks run (Auto: CUDA when it works, else CPU)")
        self.activated.connect(lambda i: self.device_chosen.emit(self.itemData(i)))

    def set_cuda(self, works: bool) -> bool:
        """List CUDA when it works (listing it where it cannot run would only produce an
        error when picked); True when it was added now."""
        if not works or self.findData("cuda") >= 0:
            return False
        self.addItem("CUDA", "cuda")
        return True

    def select(self, device: str) -> bool:
        i = self.findData(device)
        if i < 0:
            return False
        self.setCurrentIndex(i)
        return True

    def device(self) -> str:
        return self.currentData()
