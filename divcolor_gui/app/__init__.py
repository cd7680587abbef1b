"""The PySide6 app. Everything Qt lives under this package; the core stays Qt-free."""
