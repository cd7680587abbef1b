#!/usr/bin/env bash
# Build the packaged app, dist/divcolor/ (one folder, from divcolor.spec), then smoke-test it
# the way a user would run it: no display, a fresh user home, no Python from the venv; and its
# window on a real X server (Xvfb, Qt's xcb platform), skipped with the reason where there is none.
#   packaging/build_app.sh              install PyInstaller if missing, build, smoke test
#                                       (on Linux it first installs, with apt-get, the X11
#                                       libraries the app must carry if this machine lacks them)
#   packaging/build_app.sh --no-build   smoke-test the dist/divcolor/ that is there
# Exits non-zero on any failure. CI (.ci/run) runs it after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${VIRTUAL_ENV:-}" ]; then PY="$VIRTUAL_ENV/bin/python"; else PY=.venv/bin/python; fi
[ -x "$PY" ] || { echo "build_app: no $PY; run ./install.sh first" >&2; exit 1; }
APP=dist/divcolor/divcolor
STEP_TIMEOUT=600  # seconds for any one run of the app: a hung app fails the build, not CI's clock

ensure_xcb_libraries() {
    # PyInstaller copies the libraries Qt's X11 plugin needs from this machine, and only warns
    # when one is missing; the app's window then cannot open on a desktop without it.
    local missing
    missing=$("$PY" -m divcolor_gui.qt_platform --missing-packages)
    [ -z "$missing" ] && return 0
    echo "build_app: this machine lacks X11 libraries the app must carry; installing: $missing"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if command -v apt-get >/dev/null && $sudo true 2>/dev/null &&
        $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; then
        return 0
    fi
    echo "build_app: cannot install them here (needs apt-get and root or sudo); run" >&2
    echo "    sudo apt-get install $missing" >&2
    echo "and build again: without them the app's window does not open on a desktop that lacks them" >&2
    exit 1
}

if [ "${1:-}" != "--no-build" ]; then
    ensure_xcb_libraries
    # The version pinned in pyproject's `package` extra: the spec's exclusions were checked with it.
    want=$(grep -o '"pyinstaller==[^"]*"' pyproject.toml | tr -d '"' | cut -d= -f3)
    have=$("$PY" -m PyInstaller --version 2>/dev/null || true)
    if [ "$have" != "$want" ]; then
        echo "build_app: installing PyInstaller $want (have: ${have:-none})"
        "$PY" -m pip install -q -e ".[package]"
    fi
    echo "build_app: PyInstaller $("$PY" -m PyInstaller --version), building $APP"
    start=$(date +%s)
    # nice: the build is CPU-heavy for minutes; it should not starve anything else on the machine.
    nice -n 10 "$PY" -m PyInstaller --noconfirm --log-level WARN divcolor.spec
    echo "build_app: built in $(($(date +%s) - start)) s"
fi
[ -x "$APP" ] || { echo "build_app: no $APP" >&2; exit 1; }

# ------------------------------------------------------------------ smoke test
WORK=$(mktemp -d "${TMPDIR:-/tmp}/divcolor-smoke-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# A fresh user home (models, settings, logs) and no display: what CI and a new user have.
export DIVCOLOR_HOME="$WORK/home" OMP_NUM_THREADS=2
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM
passed=0
failed=0
skipped=0
SKIP=77  # what a check returns when it cannot run here; its last line says why
check() {  # check NAME COMMAND...: run it, count it, show its output only when it fails
    local name=$1
    shift
    local t0=$(date +%s) rc=0
    "$@" >"$WORK/out.txt" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "build_app: ok    $name ($(($(date +%s) - t0)) s)"
    elif [ "$rc" -eq "$SKIP" ]; then
        skipped=$((skipped + 1))
        echo "build_app: skip  $name: $(tail -n 1 "$WORK/out.txt")"
    else
        failed=$((failed + 1))
        echo "build_app: FAIL  $name" >&2
        sed 's/^/    /' "$WORK/out.txt" >&2
    fi
}
run() { timeout "$STEP_TIMEOUT" "$APP" "$@"; }

# Test photos, made here (never copied from a data set): a black-and-white one to open, and
# a small folder of colour ones to train on.
"$PY" - "$WORK" <<'EOF'
import sys
from pathlib import Path

import numpy as np
from PIL import Image

work = Path(sys.argv[1])
rng = np.random.default_rng(0)
y, x = np.mgrid[0:120, 0:160].astype(np.float32) / 120
photos = work / "photos"
photos.mkdir()
for i in range(24):
    c0, c1 = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)
    t = (0.5 + 0.5 * np.sin(2 * np.pi * (rng.uniform(0.3, 1.2) * x + rng.uniform(0.2, 1.0) * y)))[..., None]
    img = c0 * t + c1 * (1 - t)  # (H, W, 3) a smooth two-colour background
    for _ in range(3):  # saturated discs
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 1.1), rng.uniform(0.08, 0.25)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.permutation([0.9, 0.15, rng.uniform(0, 1)])
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(photos / f"p{i:02d}.jpg", quality=92)
grey = np.asarray(Image.open(photos / "p00.jpg").convert("L").resize((400, 300)))
Image.fromarray(grey).save(work / "old_photo.jpg", quality=92)
EOF

no_dangling_links() {  # a link left behind when the spec dropped what it points to
    [ -z "$(find dist/divcolor -xtype l | tee /dev/stderr)" ]
}
check "every symlink in the folder resolves" no_dangling_links

self_test() {
    run --self-test "$WORK/self-test.png" && grep -q "passed.*(bundled" "$WORK/out.txt" && [ -s "$WORK/self-test.png" ]
}
check "--self-test: the bundled general model colorizes a generated photo" self_test

screenshot() {
    QT_QPA_PLATFORM=offscreen run gui "$WORK/old_photo.jpg" --screenshot "$WORK/shot.png" &&
        "$PY" -c "from PIL import Image; im = Image.open('$WORK/shot.png'); assert im.width >= 800 and im.height >= 500, im.size" &&
        cp "$WORK/shot.png" dist/divcolor-screenshot.png  # kept for a look
}
check "gui PHOTO --screenshot: the window with its colorizations" screenshot

carries_xcb_libraries() {  # on Linux: each resolves inside the folder, not from the system
    [ "$(uname -s)" = Linux ] || { echo "not Linux"; return $SKIP; }
    local internal plugin resolved lib
    internal="$PWD/dist/divcolor/_internal"
    plugin=$(find "$internal" -path '*/platforms/libqxcb.so' | head -n 1)
    [ -n "$plugin" ] || { echo "no platforms/libqxcb.so in dist/divcolor"; return 1; }
    # The search path the app's launcher sets (PyInstaller's bootloader: LD_LIBRARY_PATH).
    resolved=$(LD_LIBRARY_PATH="$internal" ldd "$plugin")
    for lib in $("$PY" -c 'from divcolor_gui.qt_platform import bundled_libraries; print(*bundled_libraries())'); do
        if ! grep -q "$lib => $internal/" <<<"$resolved"; then
            echo "$lib is not resolved inside dist/divcolor:"
            grep "$lib" <<<"$resolved" || echo "    (not linked at all)"
            return 1
        fi
    done
}
check "the X11 libraries of Qt's xcb plugin are carried in the folder (ldd)" carries_xcb_libraries

window_on_x_server() {  # the window under Xvfb, Qt's xcb platform, a screenshot of the X screen
    "$PY" packaging/xcb_smoke.py "$APP" "$WORK/old_photo.jpg" "$WORK/xcb-shot.png" || return $?
    cp "$WORK/xcb-shot.png" dist/divcolor-xcb-screenshot.png  # kept for a look
}
check "gui PHOTO on an X server (Xvfb, xcb): a screenshot shows the window" window_on_x_server

train_and_colorize() {
    run train --data "$WORK/photos" --out "$WORK/tiny.pt" --preset tiny --epochs 1 --device cpu &&
        run colorize "$WORK/old_photo.jpg" -k 2 -o "$WORK/out" --model "$WORK/tiny.pt" &&
        [ -s "$WORK/out/old_photo_mode2.png" ]
}
check "train (tiny preset, 1 epoch) and colorize with the result" train_and_colorize

no_console() {  # a windowed app has no stdout/stderr: it must still run, and say so in its log
    run --self-test "$WORK/self-test-2.png" >&- 2>&- && [ -s "$WORK/self-test-2.png" ] &&
        grep -q "self-test passed" "$DIVCOLOR_HOME/logs/divcolor.log"
}
check "no console (stdout/stderr closed): runs, and writes its log" no_console

echo "build_app: dist/divcolor is $(du -sh dist/divcolor | cut -f1); the biggest parts:"
du -ah dist/divcolor | sort -rh | sed -n '2,13p' | sed 's/^/    /'
# The plain closing line CI reads, as pytest's would be.
echo "smoke: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
