"""The layers' import rules, read statically from every .py file in divcolor_gui/ and trainer/
(every import statement, at the top or inside a function, relative ones resolved):

- divcolor_gui/core imports neither Qt nor the trainer nor the app;
- trainer/ imports no Qt and not the app;
- divcolor_gui/app/widgets imports neither tab (divcolor_gui.app.colorize, .trainer);
- divcolor_gui/app holds only Qt code: each module imports PySide6 or pyqtgraph itself;

and one rule of the running app: its window paints before torch is imported.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QT = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "PySide2")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file; `from x import y` gives
    both x and x.y, since y may be a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names if a.name != "*"]
    return found


def files(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def is_under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offences(folder: str, *forbidden: str) -> list[str]:
    """`file:line imports module`, once per offending import statement."""
    found: dict[str, str] = {}
    for p in files(folder):
        for line, name in imports(p):
            if is_under(name, *forbidden):
                found.setdefault(f"{p.relative_to(REPO)}:{line}", name)
    return [f"{where} imports {name}" for where, name in found.items()]


def test_the_rules_see_every_package():
    """Guard against rules that check nothing: each folder has modules, and relative imports
    resolve to the absolute names the rules test."""
    for folder in ("divcolor_gui/core", "trainer", "divcolor_gui/app", "divcolor_gui/app/widgets"):
        assert files(folder), folder
    names = {name for _, name in imports(REPO / "divcolor_gui/app/main_window.py")}
    assert "divcolor_gui.app.colorize" in names and "PySide6.QtWidgets" in names


def test_core_imports_no_qt_no_trainer_and_no_app():
    bad = offences("divcolor_gui/core", *QT, "trainer", "divcolor_gui.app")
    assert not bad, "divcolor_gui/core must stay Qt-free and below the trainer and the app:\n" + "\n".join(
        bad
    )


def test_trainer_imports_no_qt_and_not_the_app():
    bad = offences("trainer", *QT, "divcolor_gui.app")
    assert not bad, "trainer/ must stay Qt-free and below the app:\n" + "\n".join(bad)


def test_widgets_import_no_tab():
    bad = offences("divcolor_gui/app/widgets", "divcolor_gui.app.colorize", "divcolor_gui.app.trainer")
    assert not bad, "divcolor_gui/app/widgets must not import the tabs that use them:\n" + "\n".join(bad)


def test_app_holds_only_qt_code():
    bad = []
    for p in files("divcolor_gui/app"):
        if p.name == "__init__.py":
            continue
        names = [name for _, name in imports(p)]
        if not any(is_under(n, "PySide6", "pyqtgraph") for n in names):
            bad.append(f"{p.relative_to(REPO)} imports neither PySide6 nor pyqtgraph ({', '.join(names)})")
    assert not bad, "Qt-free code belongs in divcolor_gui/core or trainer/, not the app:\n" + "\n".join(bad)


# The window as `divcolor gui` builds it, shown and painted; then which torch modules are loaded.
WINDOW_BEFORE_TORCH = """
import sys
from PySide6.QtCore import QEvent, QObject
from divcolor_gui.app.application import make_app
app = make_app()
from divcolor_gui.app.main_window import MainWindow
from divcolor_gui.core.settings import Settings

class Paints(QObject):
    n = 0

    def eventFilter(self, obj, event):
        self.n += event.type() == QEvent.Type.Paint
        return False

w = MainWindow(Settings(persist=False), remember_geometry=False)
paints = Paints()
w.installEventFilter(paints)
w.show()
app.processEvents()
assert paints.n, "the window was not painted"
assert [w.tabs.tabText(i) for i in range(w.tabs.count())] == ["Colorize", "Trainer"]
assert type(w.trainer).__name__ == "TrainerTab", w.trainer
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
w.close()
"""


def test_the_window_paints_before_torch_is_imported(tmp_path):
    """torch takes a second or more to import: the main window is built and painted without
    it, and torch (with the model) loads after that (app/main_window.py). Any module of the
    app importing a torch-using module at its top breaks this."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", DIVCOLOR_HOME=str(tmp_path))
    r = subprocess.run(
        [sys.executable, "-c", WINDOW_BEFORE_TORCH],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]", "torch was imported before the window showed"
