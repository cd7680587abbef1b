"""Before Qt starts on X11 (xcb), the app names the Debian/Ubuntu packages of the libraries Qt's
xcb plugin needs that do not load, instead of Qt's "Could not load the Qt platform plugin"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from divcolor_gui import qt_platform
from divcolor_gui.qt_platform import XCB_LIBRARIES, check_xcb, missing_message, packages_for, uses_xcb

REPO = Path(__file__).resolve().parents[1]
X11 = {"DISPLAY": ":0"}  # an X11 session that asks Qt for nothing in particular
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb platform is Linux's")


def loader_without(*absent: str):
    """A stand-in for dlopen that fails, as the real one does, for the given sonames."""
    tried = []

    def load(name: str) -> None:
        tried.append(name)
        if name in absent:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")

    load.tried = tried
    return load


@linux_only
def test_a_missing_xcb_cursor_is_named_with_the_package_to_install():
    with pytest.raises(SystemExit) as exit_:
        check_xcb(X11, loader_without("libxcb-cursor.so.0"))
    message = str(exit_.value.code)
    assert len(message.splitlines()) == 1
    assert "libxcb-cursor.so.0" in message and message.endswith("sudo apt-get install libxcb-cursor0")


@linux_only
def test_the_libraries_the_pyinstaller_build_warned_about_map_to_their_packages():
    missing = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"]
    assert packages_for(missing) == ["libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0"]
    with pytest.raises(SystemExit) as exit_:
        check_xcb(X11, loader_without(*missing))
    assert exit_.value.code == missing_message(missing)
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in exit_.value.code


@linux_only
def test_nothing_missing_lets_qt_start():
    load = loader_without()
    check_xcb(X11, load)  # no SystemExit
    assert load.tried == list(XCB_LIBRARIES)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"DISPLAY": ":0"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, True),
        ({"DISPLAY": ":1", "QT_QPA_PLATFORM": "xcb:nograb"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),  # tests, CI, the self-test
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, False),
        ({"QT_QPA_PLATFORM": "xcb"}, False),  # no X display: Qt's own message says so
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, False),  # Qt tries Wayland first
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, False),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": ""}, True),
    ],
)
def test_only_asked_when_qt_starts_on_xcb(env, expected):
    assert uses_xcb(env, platform="linux") is expected
    if not expected:  # nothing is loaded, nothing stops the app
        load = loader_without(*XCB_LIBRARIES)
        check_xcb(env, load)
        assert load.tried == []


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_never_asked_off_linux(platform):
    assert not uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, platform=platform)


def _python(code_or_args: list[str], env: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *code_or_args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120, **kw
    )


@linux_only
def test_the_app_says_which_package_to_install_before_qt_gives_up(tmp_path):
    """make_app() on an X display with libxcb-cursor missing: one line naming libxcb-cursor0 and
    exit 1, not Qt's "Could not load the Qt platform plugin" and an abort."""
    code = (
        "from divcolor_gui import qt_platform\n"
        "real = qt_platform._load\n"
        "def load(name):\n"
        "    if name == 'libxcb-cursor.so.0':\n"
        "        raise OSError(name + ': cannot open shared object file')\n"
        "    real(name)\n"
        "qt_platform._load = load\n"
        "from divcolor_gui.app.application import make_app\n"
        "make_app()\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")
    }
    # A display nobody serves: had Qt been started, it would abort on it.
    env.update(DISPLAY=":31999", DIVCOLOR_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    r = _python(["-c", code], env)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "qt.qpa" not in r.stderr, r.stderr
    assert "libxcb-cursor.so.0" in lines[0] and "sudo apt-get install libxcb-cursor0" in lines[0]


def _system_copy(soname: str) -> str | None:
    """Where the system's library cache finds soname, or None."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split(" ")[0] == soname and path:
            return os.path.realpath(path)
    return None


@linux_only
def test_the_real_loader_reports_a_library_that_does_not_load():
    """`python -m divcolor_gui.qt_platform --missing-packages` (install.sh, build_app.sh) with a
    real dlopen: libxcb-cursor hidden (bind-mounted over in a private mount namespace, so the
    system does not change) or really absent."""
    command = [sys.executable, "-m", "divcolor_gui.qt_platform", "--missing-packages"]
    copy = _system_copy("libxcb-cursor.so.0")
    if copy is not None:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            pytest.skip("libxcb-cursor0 is installed and hiding it needs root and unshare")
        if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
            pytest.skip("libxcb-cursor0 is installed and unshare -m is not permitted here")
        script = 'mount --bind /dev/null "$1" && shift && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", script, "sh", copy, *command]
    r = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "libxcb-cursor0" in r.stdout.split()


def test_the_missing_packages_command_rejects_other_arguments():
    assert qt_platform.main(["--what"]) == 2
