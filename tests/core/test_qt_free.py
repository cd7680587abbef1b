"""The core, the trainer and the Qt-free commands run where Qt cannot even be imported
(a GPU server): proven in a fresh interpreter whose import system refuses Qt."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Installed first thing in the child: any attempt to import a Qt package fails loudly,
# and the finder records it, so a module that swallows the ImportError is caught too.
BLOCKER = textwrap.dedent(
    """
    import sys
    BLOCKED = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "PySide2")
    ATTEMPTS = []

    class NoQt:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                ATTEMPTS.append(name)
                raise ImportError(f"Qt import blocked in the Qt-free test: {name}")
            return None

    sys.meta_path.insert(0, NoQt())

    def assert_no_qt():
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not ATTEMPTS and not loaded, f"Qt was imported: attempts {ATTEMPTS}, loaded {loaded}"
    """
)


def run_blocked(body: str, home: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen", DIVCOLOR_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(body)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_the_blocker_itself_blocks(tmp_path):
    """Guard against a blocker that blocks nothing: importing PySide6 must fail in it."""
    r = run_blocked(
        """
        try:
            import PySide6  # noqa: F401
        except ImportError as e:
            print("BLOCKED", e)
        """,
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "BLOCKED Qt import blocked" in r.stdout


def test_core_trainer_and_cli_import_no_qt(tmp_path):
    r = run_blocked(
        """
        import contextlib, io
        import divcolor_gui.core
        from divcolor_gui.core.checkpoint import ModelFileError, save_model  # noqa: F401
        from divcolor_gui.core.colorizer import Colorizer  # noqa: F401
        from divcolor_gui.core.photo import load_photo  # noqa: F401
        from divcolor_gui.core import lab, losses, metrics, stats, sheet, resources, device  # noqa: F401
        from divcolor_gui.core import jobs, latent_space, model_files, settings  # noqa: F401
        from divcolor_gui.core.nets import NETWORKS  # noqa: F401
        import trainer.run, trainer.evaluate, trainer.stages, trainer.data, trainer.console  # noqa: F401
        import trainer.policy, trainer.app_jobs  # noqa: F401
        from divcolor_gui import cli

        for argv in (["train", "--help"], ["colorize", "--help"], ["eval", "--help"], ["--help"]):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    cli.main(argv)
                except SystemExit as e:
                    assert e.code == 0, (argv, e.code)
            assert "usage: divcolor" in out.getvalue(), argv
        assert cli.main(["models", "--json"]) == 0
        assert_no_qt()
        print("QT-FREE OK")
        """,
        tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "QT-FREE OK" in r.stdout
