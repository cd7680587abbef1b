#!/usr/bin/env bash
# Install divcolor into ./.venv (or the active virtual environment).
#   ./install.sh          the app
#   ./install.sh --test   the app and what the tests need
# Where no torch is installed, the CPU build of torch 2.13.0 goes in first, so pip
# never pulls a multi-GB CUDA build; a torch you already have (CUDA or not) is kept.
# On Linux it names the system packages the app's window needs that are missing (it installs
# no system package itself).
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${VIRTUAL_ENV:-}" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    PY=.venv/bin/python
else
    PY="$VIRTUAL_ENV/bin/python"
fi
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu --retries 1 --timeout 15 \
        || "$PY" -m pip install -q "torch==2.13.0"
fi
if [ "${1:-}" = "--test" ]; then
    "$PY" -m pip install -q -e ".[test]"
else
    "$PY" -m pip install -q -e .
fi
echo "divcolor installed in $("$PY" -c 'import sys; print(sys.prefix)')"
# Qt's X11 platform needs libraries many fresh desktops lack (libxcb-cursor0, ...); without them
# the window cannot open (the command line still works). Name them now rather than at first start.
missing=$("$PY" -m divcolor_gui.qt_platform --missing-packages)
if [ -n "$missing" ]; then
    echo "install.sh: to open the app's window on X11, install (Debian/Ubuntu): sudo apt-get install $missing"
fi
