"""Will Qt's X11 platform plugin (xcb) load here? Asked before Qt is started, because Qt's own
answer to a missing library is "Could not load the Qt platform plugin "xcb"" and an abort,
which names neither the library nor the package that holds it.

Qt-free and light (ctypes only): the app calls `check_xcb()` just before it makes its
QApplication; install.sh and packaging/build_app.sh ask `python -m divcolor_gui.qt_platform
--missing-packages`; divcolor.spec reads XCB_LIBRARIES to check that the packaged app carries
them.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

# What Qt 6's xcb plugin (libqxcb.so and libQt6XcbQpa.so.6) links against beyond what QtGui
# itself needs (QtGui's own libraries are already loaded when `import PySide6.QtGui` succeeds),
# with the Debian/Ubuntu package that holds each. Fresh desktop installs often lack the first
# three: Qt 6.5+ needs xcb-cursor, and nothing else on a desktop pulls in icccm or keysyms.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
}
# PyInstaller never bundles libxcb itself (it tracks the X server's ABI, and every system with
# an X server has it), so the packaged app carries all of the above but this one.
NOT_BUNDLED = frozenset({"libxcb.so.1"})


def bundled_libraries() -> list[str]:
    """The sonames the packaged app must carry for its window to open on a bare X server."""
    return [name for name in XCB_LIBRARIES if name not in NOT_BUNDLED]


def uses_xcb(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Will Qt start on its xcb platform? Linux with an X display, and QT_QPA_PLATFORM unset or
    naming xcb first. Unset in a Wayland session, Qt tries Wayland first: not asked then, since
    a missing X11 library would not stop the app."""
    if not platform.startswith("linux") or not environ.get("DISPLAY"):
        return False
    requested = environ.get("QT_QPA_PLATFORM", "").strip()
    if requested:  # "xcb", "xcb:option=value", or a fallback list "wayland;xcb"
        return requested.split(";")[0].split(":")[0].strip() == "xcb"
    wayland = environ.get("WAYLAND_DISPLAY") or environ.get("XDG_SESSION_TYPE") == "wayland"
    return not wayland


def _load(name: str) -> None:
    """dlopen by soname: the same search the dynamic linker makes for Qt's plugin (LD_LIBRARY_PATH,
    which the packaged app points at its own folder, then the system's library cache)."""
    ctypes.CDLL(name)


def missing_libraries(load: Callable[[str], object] | None = None) -> list[str]:
    """The sonames of XCB_LIBRARIES that do not load here (by `load`, default a real dlopen),
    in the table's order."""
    load = load or _load  # looked up now, so a test can stand in for the loader
    missing = []
    for name in XCB_LIBRARIES:
        try:
            load(name)
        except OSError:  # absent, or present but unloadable (its own dependency missing)
            missing.append(name)
    return missing


def packages_for(libraries: list[str]) -> list[str]:
    """The Debian/Ubuntu packages that hold the given sonames, each once."""
    return list(dict.fromkeys(XCB_LIBRARIES[name] for name in libraries))


def missing_message(libraries: list[str]) -> str:
    """One line for the user: what is missing and the exact command that installs it."""
    return (
        f"divcolor: cannot open the window: Qt's X11 platform (xcb) needs {', '.join(libraries)}, "
        f"not installed here. Install (Debian/Ubuntu): sudo apt-get install {' '.join(packages_for(libraries))}"
    )


def check_xcb(environ: Mapping[str, str] = os.environ, load: Callable[[str], object] | None = None) -> None:
    """Exit with one line naming the packages to install when Qt is about to start on xcb and
    a library its plugin needs does not load; otherwise do nothing."""
    if not uses_xcb(environ):
        return
    missing = missing_libraries(load)
    if missing:
        raise SystemExit(missing_message(missing))


def main(argv: list[str] | None = None) -> int:
    """`python -m divcolor_gui.qt_platform --missing-packages`: the Debian packages to install
    for the window to open on X11, space-separated (empty when none or not Linux)."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["--missing-packages"]:
        print("usage: python -m divcolor_gui.qt_platform --missing-packages", file=sys.stderr)
        return 2
    if sys.platform.startswith("linux"):
        print(" ".join(packages_for(missing_libraries())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
