"""The packaged app's window on a real X server: `divcolor gui PHOTO` under Xvfb with Qt's xcb
platform (what a Linux desktop uses, unlike the offscreen platform of the other smoke checks),
then a screenshot of the X server's screen, checked to show the window with colorizations.

    python packaging/xcb_smoke.py APP PHOTO OUT.png

Where allowed (root, `unshare -m`), the system's copies of the X11 libraries the packaged app
carries are hidden from the app (bind-mounted over in a private mount namespace, so nothing on
the machine changes): the app must start on what it carries, as on a desktop without them.
Exit 0 when the window showed, 1 when not (with the app's output), 77 when the check cannot run
here (no Xvfb, not Linux), with the reason: packaging/build_app.sh counts that as skipped.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageChops, ImageGrab, features

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: the app's modules
from divcolor_gui.qt_platform import bundled_libraries  # noqa: E402 (after sys.path)

SKIP = 77  # the automake convention for "skipped"
SCREEN = "1600x1000x24"
READY_TIMEOUT_S = 300  # the model's load and the photo's analysis, on a slow machine
MIN_WINDOW = (640, 400)  # the main window is about 1280x820
MIN_COLOURS = 256  # a real window has thousands of distinct colours; a blank or flat one a few
# Share of the window's pixels with visible colour, i.e. the colorizations: the window with no
# photo has 0.0 %, with the smoke test's photo about 35 %, with a small photo a few %.
MIN_COLOURFUL = 0.02
COLOURFUL_SPREAD = 32  # max(R, G, B) - min(R, G, B) above which a pixel counts as colourful


class Skip(Exception):
    """The check cannot run on this machine; the message says why."""


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """A fresh Xvfb on a free display number (Xvfb picks it: -displayfd), with a black root
    window (-br) so that the app's window stands out. Returns (process, ":N")."""
    if not sys.platform.startswith("linux"):
        raise Skip("not Linux")
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise Skip("no Xvfb on this machine (Debian/Ubuntu: apt-get install xvfb)")
    if not features.check("xcb"):
        raise Skip("this Pillow cannot grab an X screen (built without XCB)")
    r, w = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(w), "-screen", "0", SCREEN, "-br", "-nolisten", "tcp"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    number = _read_line(r, timeout_s=30)
    # Closed only after the whole line: Xvfb writes the number and the newline separately, and
    # a write to a pipe closed in between kills it (SIGPIPE).
    os.close(r)
    if not number.isdigit():
        proc.kill()
        raise RuntimeError("Xvfb did not start (no display number within 30 s)")
    return proc, f":{number}"


def _read_line(fd: int, timeout_s: float) -> str:
    """Bytes from fd up to a newline, end of file or the timeout, decoded and stripped."""
    deadline = time.monotonic() + timeout_s
    data = b""
    while not data.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 64) if ready else b""
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def system_copies(libraries: list[str]) -> list[str]:
    """The files the system's library cache resolves the given sonames to (every architecture)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    found = set()
    for line in out.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split(" ")[0] in libraries and path:
            found.add(os.path.realpath(path))
    return sorted(found)


def hiding_blocked() -> str | None:
    """Why the system's libraries cannot be hidden from the app here, or None when they can."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("unshare") is None:
        return "no unshare (util-linux)"
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        return "unshare -m is not permitted here"
    return None


def app_command(app: str, photo: str) -> tuple[list[str], str]:
    """(the command, what it hides): the app, wrapped to run without the system's copies of the
    libraries it carries where that is possible."""
    command = [app, "gui", photo]
    hidden = system_copies(bundled_libraries())
    blocked = hiding_blocked() if hidden else "none of them is installed"
    if blocked:
        return command, f"the system's X11 libraries not hidden ({blocked})"
    # Each system copy becomes an empty file for this process only: a private mount namespace.
    script = 'app=$1; photo=$2; shift 2; for f; do mount --bind /dev/null "$f" || exit 1; done; exec "$app" gui "$photo"'
    return ["unshare", "-m", "sh", "-c", script, "sh", app, photo, *hidden], (
        f"{len(hidden)} system copies of the X11 libraries it carries hidden"
    )


def colourful_share(im: Image.Image) -> float:
    """Share of the pixels whose channels differ by more than COLOURFUL_SPREAD."""
    r, g, b = im.convert("RGB").split()
    brightest = ImageChops.lighter(ImageChops.lighter(r, g), b)
    darkest = ImageChops.darker(ImageChops.darker(r, g), b)
    counts = ImageChops.subtract(brightest, darkest).histogram()
    return sum(counts[COLOURFUL_SPREAD + 1 :]) / (im.width * im.height)


def window_area(screen: Image.Image) -> Image.Image | None:
    """The part of the black root window that something was drawn on, or None."""
    box = screen.convert("L").point(lambda v: 255 if v else 0).getbbox()
    return screen.crop(box) if box else None


def problems(screen: Image.Image) -> list[str]:
    """What makes the screenshot not show the app's window with colorizations; [] when it does."""
    win = window_area(screen)
    if win is None:
        return ["the screen is black: no window"]
    found = []
    if win.width < MIN_WINDOW[0] or win.height < MIN_WINDOW[1]:
        found.append(
            f"the window is {win.width}x{win.height}, expected at least {MIN_WINDOW[0]}x{MIN_WINDOW[1]}"
        )
    colours = win.getcolors(MIN_COLOURS)  # None when there are more than MIN_COLOURS
    if colours is not None:
        found.append(f"the window has only {len(colours)} distinct colours (blank or flat)")
    share = colourful_share(win)
    if share < MIN_COLOURFUL:
        found.append(
            f"{share:.1%} of the window is colourful, expected {MIN_COLOURFUL:.0%}: no colorizations"
        )
    return found


def wait_for_window(app: subprocess.Popen, display: str) -> Image.Image:
    """Screenshots every second until one shows the window with colorizations and the next is
    the same (drawing finished). Raises when the app exits or the time runs out."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise RuntimeError(f"the app exited (code {app.returncode}) before its window showed")
        screen = ImageGrab.grab(xdisplay=display)
        if (
            not problems(screen)
            and last is not None
            and ImageChops.difference(screen, last).getbbox() is None
        ):
            return screen
        last = screen
        time.sleep(1)
    reasons = "; ".join(problems(last)) if last is not None else "no screenshot"
    raise RuntimeError(f"no finished window after {READY_TIMEOUT_S} s: {reasons}")


def close(app: subprocess.Popen) -> None:
    """Ctrl+C, as in a terminal (the app closes its window and exits), then kill if it hangs."""
    if app.poll() is None:
        os.killpg(app.pid, signal.SIGINT)
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()


def run(app_path: str, photo: str, out: Path) -> str:
    xvfb, display = start_xvfb()
    log = out.with_suffix(".log")
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
        env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb")
        command, hidden = app_command(app_path, photo)
        print(f"xcb smoke: {app_path} gui on Xvfb {display}; {hidden}")
        with open(log, "w") as output:
            app = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                screen = wait_for_window(app, display)
            except (RuntimeError, OSError) as e:  # OSError: the X server went away
                close(app)
                raise RuntimeError(f"{e}; the app said:\n{log.read_text()[-3000:]}") from None
            close(app)
        screen.save(out)
        win = window_area(screen)
        return f"window {win.width}x{win.height}, {colourful_share(win):.0%} colourful, screenshot {out}"
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python packaging/xcb_smoke.py APP PHOTO OUT.png", file=sys.stderr)
        return 2
    try:
        print(f"xcb smoke: ok: {run(argv[0], argv[1], Path(argv[2]))}")
        return 0
    except Skip as e:
        print(f"xcb smoke: skipped: {e}")
        return SKIP
    except (RuntimeError, OSError) as e:  # OSError: the X server went away under a screenshot
        print(f"xcb smoke: FAIL: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
